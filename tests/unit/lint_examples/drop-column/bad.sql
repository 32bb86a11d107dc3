-- Bad (BREAKING CHANGE): data is lost and running app instances still use the columns.
-- migrate:up
ALTER TABLE customers DROP COLUMN company;
ALTER TABLE users DROP COLUMN IF EXISTS role, DROP COLUMN full_name;

-- migrate:down
ALTER TABLE users ADD COLUMN full_name varchar(255), ADD COLUMN role varchar(50);
ALTER TABLE customers ADD COLUMN company varchar(255);
