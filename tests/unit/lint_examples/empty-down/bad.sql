-- Bad: nothing to roll back with.
-- migrate:up
ALTER TABLE customers ADD COLUMN notes text;

-- migrate:down
