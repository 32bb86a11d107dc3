-- Good: a known rule id and a reason, above the statement or at the end of its first line
-- (squawk has its own comment, which must be directly above the statement).
-- migrate:up
-- orchestrator:ignore drop-column the app stopped using company in v2.3 (#456)
-- squawk-ignore ban-drop-column
ALTER TABLE customers DROP COLUMN company;
-- squawk-ignore ban-drop-column
ALTER TABLE users DROP COLUMN role;  -- orchestrator:ignore drop-column role moved to memberships

-- migrate:down
ALTER TABLE users ADD COLUMN role varchar(50);
ALTER TABLE customers ADD COLUMN company varchar(255);
