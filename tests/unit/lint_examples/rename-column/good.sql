-- Good: expand. Add the new column; the app writes both, a batched backfill copies the
-- old values, and the old column is dropped in a later release.
-- migrate:up
ALTER TABLE customers ADD COLUMN stage varchar(50);

-- migrate:down
ALTER TABLE customers DROP COLUMN stage;
