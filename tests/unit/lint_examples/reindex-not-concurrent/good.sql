-- Good: CONCURRENTLY, outside a transaction.
-- migrate:up transaction:false
REINDEX INDEX CONCURRENTLY idx_customers_owner_id;
REINDEX TABLE CONCURRENTLY customers;

-- migrate:down
SELECT 1;
