-- Good: only what the role needs (the guide's "Review permissions").
-- migrate:up
GRANT SELECT, INSERT, UPDATE ON customers TO flowstate_app;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO reporting;

-- migrate:down
REVOKE SELECT ON ALL TABLES IN SCHEMA public FROM reporting;
REVOKE SELECT, INSERT, UPDATE ON customers FROM flowstate_app;
