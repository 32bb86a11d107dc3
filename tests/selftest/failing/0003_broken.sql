-- migrate:up
create table audit (id bigint);
select * from no_such_table;

-- migrate:down
drop table audit;
