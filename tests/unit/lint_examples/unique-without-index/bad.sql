-- Bad: the constraint builds its index under an ACCESS EXCLUSIVE lock.
-- migrate:up
ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email);
ALTER TABLE audit_events ADD PRIMARY KEY (id);

-- migrate:down
ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey;
ALTER TABLE customers DROP CONSTRAINT customers_email_key;
