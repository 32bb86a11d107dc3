-- Bad: the comment suppresses nothing (the statement below it is fine).
-- migrate:up
-- orchestrator:ignore drop-table the table has been empty since 2024
ALTER TABLE customers ADD COLUMN notes text;

-- migrate:down
ALTER TABLE customers DROP COLUMN notes;
