-- Bad (BREAKING CHANGE): running app instances still use the old names.
-- migrate:up
ALTER TABLE interactions RENAME TO activities;
ALTER TABLE IF EXISTS customer_tags RENAME TO tags;

-- migrate:down
ALTER TABLE IF EXISTS tags RENAME TO customer_tags;
ALTER TABLE activities RENAME TO interactions;
