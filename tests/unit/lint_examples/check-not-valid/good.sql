-- Good: NOT VALID first, then VALIDATE in its own transaction.
-- migrate:up transaction:false
ALTER TABLE customers ADD CONSTRAINT customers_score_range
    CHECK (relationship_score BETWEEN 0 AND 100) NOT VALID;
ALTER TABLE customers VALIDATE CONSTRAINT customers_score_range;

-- migrate:down
ALTER TABLE customers DROP CONSTRAINT customers_score_range;
