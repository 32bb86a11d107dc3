-- Bad: VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock.
-- migrate:up transaction:false
VACUUM FULL customers;
VACUUM (FULL, ANALYZE) interactions;

-- migrate:down
SELECT 1;
