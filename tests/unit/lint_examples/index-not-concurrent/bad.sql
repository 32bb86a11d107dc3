-- Bad: plain CREATE INDEX on existing tables blocks writes while the index builds.
-- migrate:up
CREATE INDEX idx_customers_email ON customers (email);
CREATE UNIQUE INDEX idx_users_email_lower
    ON users (lower(email));

-- Fine: a table created in this migration is empty and invisible until commit.
CREATE TABLE customer_notes (id uuid PRIMARY KEY, customer_id uuid NOT NULL, body text);
CREATE INDEX idx_customer_notes_customer_id ON customer_notes (customer_id);

-- migrate:down
DROP TABLE customer_notes;
DROP INDEX idx_users_email_lower;
DROP INDEX idx_customers_email;
