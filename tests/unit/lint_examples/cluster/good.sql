-- Good: mark the index; pg_repack reorders the table online, outside the migration.
-- migrate:up
ALTER TABLE customers CLUSTER ON customers_pkey;

-- migrate:down
ALTER TABLE customers SET WITHOUT CLUSTER;
