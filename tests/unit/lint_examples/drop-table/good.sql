-- Good: the table is unused since a release ago and the backup is verified; the drop is
-- acknowledged, with the reason, for orchestrator and for squawk.
-- migrate:up
-- orchestrator:ignore drop-table replaced by activities in v2.4; no reads since May
-- squawk-ignore ban-drop-table
DROP TABLE interactions;

-- migrate:down
CREATE TABLE interactions (id uuid PRIMARY KEY);
