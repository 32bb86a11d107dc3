-- Bad: credentials in SQL end up in git, CI logs and the run log.
-- migrate:up
CREATE ROLE reporting LOGIN PASSWORD 'Report-2024-secret';
ALTER ROLE flowstate_app WITH ENCRYPTED PASSWORD 'app-pass-9931';
INSERT INTO integrations (name, api_key)
VALUES ('mailer', 'mk_9f8e7d6c5b4a3F2E1D0C9B8A');
INSERT INTO settings (name, value) VALUES
    ('aws_access_key_id', 'AKIAIOSFODNN7EXAMPLE'),
    ('aws_secret_access_key', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');

-- migrate:down
DELETE FROM settings WHERE name LIKE 'aws_%';
DELETE FROM integrations WHERE name = 'mailer';
DROP ROLE reporting;
