-- Bad: SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock.
-- migrate:up
ALTER TABLE customers ALTER COLUMN email SET NOT NULL;
ALTER TABLE interactions
    ALTER COLUMN user_id SET NOT NULL,
    ALTER COLUMN notes SET NOT NULL;

-- migrate:down
ALTER TABLE interactions ALTER COLUMN notes DROP NOT NULL, ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE customers ALTER COLUMN email DROP NOT NULL;
