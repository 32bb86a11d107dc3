-- Bad: CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock.
-- migrate:up
CLUSTER customers USING customers_pkey;

-- migrate:down
SELECT 1;
