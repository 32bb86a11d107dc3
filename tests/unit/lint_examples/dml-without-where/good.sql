-- Good: one bounded batch; repeat it (or use the guide's DO-loop batching) until done.
-- migrate:up
UPDATE customers SET pipeline_stage = 'lead'
WHERE id IN (SELECT id FROM customers WHERE pipeline_stage = 'new' LIMIT 1000);
DELETE FROM interactions WHERE occurred_at < now() - interval '5 years';

-- migrate:down
UPDATE customers SET pipeline_stage = 'new' WHERE pipeline_stage = 'lead';
