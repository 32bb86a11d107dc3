-- Differences from squawk: squawk's ban-concurrent-index-creation-in-transaction covers
-- CREATE INDEX only; orchestrator's concurrently-in-transaction covers every statement that
-- PostgreSQL refuses inside a transaction block.
-- migrate:up
DROP INDEX CONCURRENTLY IF EXISTS idx_customers_pipeline_stage;
REINDEX INDEX CONCURRENTLY idx_customers_owner_id;
VACUUM (ANALYZE) customers;

-- migrate:down
CREATE INDEX idx_customers_pipeline_stage ON customers (pipeline_stage);
