-- Bad: a missing parenthesis in the up section and a stray comma in the down section.
-- migrate:up
CREATE TABLE notes (
    id bigint PRIMARY KEY,
    body text
;

-- migrate:down
DROP TABLE notes,;
