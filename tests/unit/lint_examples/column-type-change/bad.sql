-- Bad: changing a column's type rewrites the table under an ACCESS EXCLUSIVE lock.
-- migrate:up
ALTER TABLE customers ALTER COLUMN relationship_score TYPE bigint;
ALTER TABLE users
    ALTER COLUMN role TYPE text,
    ALTER COLUMN full_name TYPE varchar(500);

-- migrate:down
ALTER TABLE users ALTER COLUMN full_name TYPE varchar(255), ALTER COLUMN role TYPE varchar(50);
ALTER TABLE customers ALTER COLUMN relationship_score TYPE integer;
