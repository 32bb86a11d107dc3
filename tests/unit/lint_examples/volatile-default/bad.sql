-- Bad: each of these ADD COLUMNs rewrites the whole table under an ACCESS EXCLUSIVE lock.
-- migrate:up
ALTER TABLE customers ADD COLUMN external_id uuid DEFAULT gen_random_uuid();
ALTER TABLE customers ADD COLUMN synced_at timestamptz DEFAULT clock_timestamp();
ALTER TABLE customers ADD COLUMN shard bigint DEFAULT pick_shard();
ALTER TABLE customers
    ADD COLUMN name_lower text GENERATED ALWAYS AS (lower(name)) STORED;

-- Fine: a non-volatile default is stored once (PostgreSQL 11+), no rewrite.
ALTER TABLE customers ADD COLUMN imported_at timestamptz DEFAULT now();
ALTER TABLE customers ADD COLUMN source text NOT NULL DEFAULT 'web';

-- migrate:down
ALTER TABLE customers DROP COLUMN source;
ALTER TABLE customers DROP COLUMN imported_at;
ALTER TABLE customers DROP COLUMN name_lower;
ALTER TABLE customers DROP COLUMN shard;
ALTER TABLE customers DROP COLUMN synced_at;
ALTER TABLE customers DROP COLUMN external_id;
