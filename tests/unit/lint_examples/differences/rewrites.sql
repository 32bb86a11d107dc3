-- Differences from squawk in what rewrites a table on ADD COLUMN: a serial column's
-- nextval() default is volatile (orchestrator reports it, squawk does not); a PostgreSQL 18
-- virtual generated column is computed on read (squawk reports it, orchestrator does not).
-- migrate:up
ALTER TABLE customers ADD COLUMN import_seq bigserial;
ALTER TABLE customers ADD COLUMN name_length integer GENERATED ALWAYS AS (length(name));

-- migrate:down
ALTER TABLE customers DROP COLUMN name_length;
ALTER TABLE customers DROP COLUMN import_seq;
