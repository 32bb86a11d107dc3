-- Good: roles without passwords; the secrets manager sets them and the app reads its
-- keys from the environment.
-- migrate:up
CREATE ROLE reporting LOGIN;
INSERT INTO integrations (name) VALUES ('mailer');

-- migrate:down
DELETE FROM integrations WHERE name = 'mailer';
DROP ROLE reporting;
