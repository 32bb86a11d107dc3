-- Bad (BREAKING CHANGE): running app instances still use the old names.
-- migrate:up
ALTER TABLE customers RENAME COLUMN pipeline_stage TO stage;
ALTER TABLE IF EXISTS users RENAME full_name TO display_name;

-- migrate:down
ALTER TABLE IF EXISTS users RENAME display_name TO full_name;
ALTER TABLE customers RENAME COLUMN stage TO pipeline_stage;
