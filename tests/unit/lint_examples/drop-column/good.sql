-- Good: the app stopped using the column a release ago; the drop is acknowledged, with the
-- reason, for orchestrator and for squawk.
-- migrate:up
-- orchestrator:ignore drop-column the app stopped using company in v2.3 (#456)
-- squawk-ignore ban-drop-column
ALTER TABLE customers DROP COLUMN company;

-- migrate:down
ALTER TABLE customers ADD COLUMN company varchar(255);
