-- Good: both sections are transaction:false.
-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY idx_customers_email ON customers (email);
CREATE INDEX CONCURRENTLY idx_customers_company ON customers (company);

-- migrate:down transaction:false
DROP INDEX CONCURRENTLY IF EXISTS idx_customers_company;
DROP INDEX CONCURRENTLY IF EXISTS idx_customers_email;
