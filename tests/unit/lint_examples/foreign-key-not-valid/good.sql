-- Good: NOT VALID first (brief lock, no scan), then VALIDATE in its own transaction.
-- migrate:up transaction:false
ALTER TABLE interactions ADD CONSTRAINT interactions_customer_fk
    FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;
ALTER TABLE interactions VALIDATE CONSTRAINT interactions_customer_fk;

-- migrate:down
ALTER TABLE interactions DROP CONSTRAINT interactions_customer_fk;
