-- Good: the statement takes the lock it needs; lock_timeout bounds the wait.
-- migrate:up
ALTER TABLE customers ADD COLUMN notes text;

-- migrate:down
ALTER TABLE customers DROP COLUMN notes;
