-- Bad: each foreign key checks every row while writes to both tables wait.
-- migrate:up
ALTER TABLE interactions ADD CONSTRAINT interactions_customer_fk
    FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE customers ADD COLUMN referrer_id uuid REFERENCES customers (id);

-- NOT VALID, but validated in the same transaction: the lock is held while it checks.
ALTER TABLE interactions ADD CONSTRAINT interactions_user_fk
    FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
ALTER TABLE interactions VALIDATE CONSTRAINT interactions_user_fk;

-- migrate:down
ALTER TABLE interactions DROP CONSTRAINT interactions_user_fk;
ALTER TABLE customers DROP COLUMN referrer_id;
ALTER TABLE interactions DROP CONSTRAINT interactions_customer_fk;
