-- Good: both sections parse.
-- migrate:up
CREATE TABLE notes (
    id bigint PRIMARY KEY,
    body text
);

-- migrate:down
DROP TABLE notes;
