-- Good: CONCURRENTLY, in sections that run outside a transaction.
-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_customers_email ON customers (email);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email_lower
    ON users (lower(email));

-- migrate:down transaction:false
DROP INDEX CONCURRENTLY IF EXISTS idx_users_email_lower;
DROP INDEX CONCURRENTLY IF EXISTS idx_customers_email;
