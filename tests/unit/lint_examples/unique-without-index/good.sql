-- Good: build the index concurrently, then attach it to the constraint (a brief lock).
-- migrate:up transaction:false
CREATE UNIQUE INDEX CONCURRENTLY customers_email_key ON customers (email);
ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE USING INDEX customers_email_key;
CREATE UNIQUE INDEX CONCURRENTLY audit_events_pkey ON audit_events (id);
ALTER TABLE audit_events ADD CONSTRAINT audit_events_pkey PRIMARY KEY USING INDEX audit_events_pkey;

-- migrate:down
ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey;
ALTER TABLE customers DROP CONSTRAINT customers_email_key;
