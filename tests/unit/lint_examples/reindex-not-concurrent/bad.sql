-- Bad: REINDEX without CONCURRENTLY blocks writes while it rebuilds.
-- migrate:up
REINDEX INDEX idx_customers_owner_id;
REINDEX TABLE customers;

-- migrate:down
SELECT 1;
