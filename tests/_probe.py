import pytest
from conftest import versions, tables, sql

CASES = {
 "selec": "-- migrate:up\nCREATE TABLE a (id int);\nSELEC 1;\n-- migrate:down\nDROP TABLE a;\n",
 "unterminated": "-- migrate:up\nCREATE TABLE a (id int);\nINSERT INTO a VALUES ('x);\n-- migrate:down\nDROP TABLE a;\n",
 "nested_comment": "-- migrate:up\n/* a /* b */ c */ CREATE TABLE a (id int);\n-- migrate:down\nDROP TABLE a;\n",
 "multi_pair": "-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\nDROP TABLE a;\n-- migrate:up\nCREATE TABLE b (id int);\n-- migrate:down\nDROP TABLE b;\n",
}

@pytest.mark.parametrize("name", list(CASES))
def test_probe(project, name):
    project.write("0001_x.sql", CASES[name])
    d = project.dbmate("--no-dump-schema", "up")
    dv = versions(project.url) if "schema_migrations" in tables(project.url) else None
    dt = tables(project.url)
    sql(project.url, "drop schema public cascade; create schema public")
    o = project.run("--no-dump-schema", "up")
    ov = versions(project.url) if "schema_migrations" in tables(project.url) else None
    print(f"\n### {name}\n dbmate rc={d.code} v={dv} t={dt} {d.text.strip()!r}\n orch rc={o.code} v={ov} t={tables(project.url)} {o.text.strip()[-600:]!r}")
