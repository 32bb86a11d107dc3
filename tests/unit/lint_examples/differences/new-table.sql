-- Differences from squawk: on a table created in the same migration (empty, invisible to
-- other sessions until commit) orchestrator reports nothing; squawk (even with
-- --assume-in-transaction) still reports the rewrite, scan and breaking-change rules.
-- Both agree for CREATE INDEX, foreign keys, CHECK and UNIQUE constraints and UPDATE.
-- migrate:up
CREATE TABLE customer_notes (id uuid PRIMARY KEY, customer_id uuid, body text, score integer);
CREATE INDEX idx_customer_notes_customer_id ON customer_notes (customer_id);
ALTER TABLE customer_notes ADD CONSTRAINT customer_notes_customer_fk
    FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE customer_notes ADD CONSTRAINT customer_notes_body_length CHECK (length(body) < 10000);
ALTER TABLE customer_notes ADD CONSTRAINT customer_notes_body_key UNIQUE (body);
UPDATE customer_notes SET body = '';
ALTER TABLE customer_notes ALTER COLUMN body SET NOT NULL;
ALTER TABLE customer_notes ALTER COLUMN score TYPE bigint;
ALTER TABLE customer_notes ADD COLUMN external_id uuid DEFAULT gen_random_uuid();
ALTER TABLE customer_notes RENAME COLUMN body TO note;
ALTER TABLE customer_notes DROP COLUMN score;

-- migrate:down
DROP TABLE customer_notes;
