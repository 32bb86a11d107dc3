-- Good: add the column without the volatile default, then set the default for new rows;
-- existing rows are backfilled in batches by a later data migration.
-- migrate:up
ALTER TABLE customers ADD COLUMN external_id uuid;
ALTER TABLE customers ALTER COLUMN external_id SET DEFAULT gen_random_uuid();
ALTER TABLE customers ADD COLUMN imported_at timestamptz DEFAULT now();

-- migrate:down
ALTER TABLE customers DROP COLUMN imported_at;
ALTER TABLE customers DROP COLUMN external_id;
