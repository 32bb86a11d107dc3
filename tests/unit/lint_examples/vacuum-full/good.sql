-- Good: plain VACUUM takes no lock that blocks reads or writes.
-- migrate:up transaction:false
VACUUM (ANALYZE) customers;

-- migrate:down
SELECT 1;
