-- Good: no stale ignore comments.
-- migrate:up
ALTER TABLE customers ADD COLUMN notes text;

-- migrate:down
ALTER TABLE customers DROP COLUMN notes;
