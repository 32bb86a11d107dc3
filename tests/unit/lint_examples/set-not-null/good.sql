-- Good: a NOT VALID check, validated in its own transaction, lets SET NOT NULL skip the scan.
-- migrate:up transaction:false
ALTER TABLE customers ADD CONSTRAINT customers_email_not_null
    CHECK (email IS NOT NULL) NOT VALID;
ALTER TABLE customers VALIDATE CONSTRAINT customers_email_not_null;
ALTER TABLE customers ALTER COLUMN email SET NOT NULL;

-- migrate:down
ALTER TABLE customers ALTER COLUMN email DROP NOT NULL;
ALTER TABLE customers DROP CONSTRAINT IF EXISTS customers_email_not_null;
