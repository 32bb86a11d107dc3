-- Bad: the explicit lock is held until commit and queues every query behind it.
-- migrate:up
LOCK TABLE customers IN ACCESS EXCLUSIVE MODE;
ALTER TABLE customers ADD COLUMN notes text;

-- migrate:down
ALTER TABLE customers DROP COLUMN notes;
