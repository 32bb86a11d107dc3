-- Good: the new name as a view while the app moves over; rename in a later release.
-- migrate:up
CREATE VIEW activities AS SELECT * FROM interactions;

-- migrate:down
DROP VIEW activities;
