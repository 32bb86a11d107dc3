-- Bad: CONCURRENTLY in a section that runs in a transaction fails at once.
-- migrate:up
CREATE INDEX CONCURRENTLY idx_customers_email ON customers (email);
CREATE INDEX CONCURRENTLY idx_customers_company ON customers (company);

-- migrate:down
DROP INDEX IF EXISTS idx_customers_company;
DROP INDEX IF EXISTS idx_customers_email;
