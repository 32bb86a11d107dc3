-- Good: expand and contract. Add a column of the new type; backfill it in batches and
-- move the app over before dropping the old column in a later release.
-- migrate:up
ALTER TABLE customers ADD COLUMN relationship_score_big bigint;

-- migrate:down
ALTER TABLE customers DROP COLUMN relationship_score_big;
