-- Bad: a CHECK constraint scans every row under an ACCESS EXCLUSIVE lock.
-- migrate:up
ALTER TABLE customers ADD CONSTRAINT customers_score_range
    CHECK (relationship_score BETWEEN 0 AND 100);

-- NOT VALID, but validated in the same transaction: the lock is held while it scans.
ALTER TABLE users ADD CONSTRAINT users_role_known
    CHECK (role IN ('member', 'admin', 'owner')) NOT VALID;
ALTER TABLE users VALIDATE CONSTRAINT users_role_known;

-- migrate:down
ALTER TABLE users DROP CONSTRAINT users_role_known;
ALTER TABLE customers DROP CONSTRAINT customers_score_range;
