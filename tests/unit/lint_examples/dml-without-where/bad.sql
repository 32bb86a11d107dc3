-- Bad: every row of an existing table in one transaction.
-- migrate:up
UPDATE customers SET pipeline_stage = 'lead';
DELETE FROM interactions;

-- Fine: the table is new (and empty but for what this migration puts in).
CREATE TABLE stage_names (stage text PRIMARY KEY, label text);
INSERT INTO stage_names VALUES ('lead', 'Lead');
UPDATE stage_names SET label = upper(label);

-- migrate:down
DROP TABLE stage_names;
UPDATE customers SET pipeline_stage = 'new' WHERE pipeline_stage = 'lead';
