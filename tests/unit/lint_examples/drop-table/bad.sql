-- Bad (BREAKING CHANGE): data is lost and running app instances still use the tables.
-- migrate:up
DROP TABLE interactions;
DROP TABLE IF EXISTS customer_tags, user_preferences;

-- migrate:down
CREATE TABLE user_preferences (user_id uuid PRIMARY KEY);
CREATE TABLE customer_tags (id uuid PRIMARY KEY);
CREATE TABLE interactions (id uuid PRIMARY KEY);
