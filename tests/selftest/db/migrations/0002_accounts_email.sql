-- migrate:up
alter table accounts add column email text;

-- migrate:down
alter table accounts drop column email;
