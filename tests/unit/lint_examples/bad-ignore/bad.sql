-- Bad: no reason, and an unknown rule id: neither suppresses anything.
-- migrate:up
-- orchestrator:ignore drop-column
ALTER TABLE customers DROP COLUMN company;
ALTER TABLE users DROP COLUMN role;  -- orchestrator:ignore drop-colum role moved to memberships

-- migrate:down
ALTER TABLE users ADD COLUMN role varchar(50);
ALTER TABLE customers ADD COLUMN company varchar(255);
