-- Bad: ALL includes TRUNCATE, TRIGGER and REFERENCES.
-- migrate:up
GRANT ALL ON customers TO flowstate_app;
GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA public TO reporting;

-- migrate:down
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM reporting;
REVOKE ALL ON customers FROM flowstate_app;
