"""Killed outright (SIGKILL): orchestrator as a real process dies in the middle of a
migration or of the backup upload, on real PostgreSQL and S3 over HTTP.  Each case checks
the exit code of the next run, the database (versions and a checksum of every table) and
the store.  (The other faults, which need no process to die, are in
``integration/test_faults.py``.)"""

from __future__ import annotations

import signal

from support.postgres import advisory_locks, fingerprint, in_pg_sleep, sql, tables, versions
from support.processes import wait_for

# -- 1, 2: the process is killed in the middle of a migration ---------------------------------


def test_killed_in_a_transactional_migration(project, background):
    project.add("001", "create table a (id int);", "drop table a;")
    project.add("002", "create table b (id int);\nselect pg_sleep(30);", "drop table b;", name="slow")
    proc = background.start(project, "up", "--skip-backup")
    wait_for(lambda: in_pg_sleep(project.url), what="the migration to start")
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    # the server notices the dead client within client_connection_check_interval (1 s)
    wait_for(lambda: advisory_locks(project.url) == 0, timeout=10, what="the advisory lock to be freed")
    assert versions(project.url) == ["001"]
    assert "b" not in tables(project.url)
    project.write("002_slow.sql", "-- migrate:up\ncreate table b (id int);\n-- migrate:down\ndrop table b;\n")
    r = project.run("up", "--skip-backup")
    assert r.code == 0, r.text
    assert versions(project.url) == ["001", "002"]


def test_killed_in_a_transaction_false_migration(project, background):
    project.add("001", "create table a (id int);", "drop table a;")
    assert project.run("up", "--skip-backup").code == 0
    project.write("002_idx.sql", "-- migrate:up transaction:false\ncreate index concurrently a_id on a (id);\n"
                                 "select pg_sleep(30);\ncreate index concurrently a_id2 on a (id);\n"
                                 "-- migrate:down transaction:false\ndrop index concurrently a_id;\n")
    proc = background.start(project, "up", "--skip-backup")
    wait_for(lambda: in_pg_sleep(project.url), what="the migration to start")
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    wait_for(lambda: advisory_locks(project.url) == 0, timeout=10, what="the advisory lock to be freed")
    r = project.run("up", "--skip-backup")
    assert r.code == 2
    assert "002" in r.err and "interrupted while applying" in r.err and "orchestrator resolve 002" in r.err
    assert "(INTERRUPTED while applying" in project.run("status").out
    assert versions(project.url) == ["001"]
    assert sql(project.url, "select indexname from pg_indexes where tablename = 'a'") == [("a_id",)]  # half-done


# -- 3: killed during the backup upload ---------------------------------------------------------


def test_killed_during_backup_upload_leaves_no_usable_backup(project, s3_bucket, background):
    project.configure({"staging": {"backup": f"s3://{s3_bucket.name}/app"}})
    project.add("001", "create table big (id int, a text, b text);", "drop table big;", name="big")
    assert project.run("up", "-e", "staging").code == 0
    # a dump of ~35 MB: five parts of 8 MiB, a second or more of upload to kill it in
    sql(project.url, "insert into big select g, md5(g::text) || md5((g * 7)::text), md5((g * 13)::text) "
                     "from generate_series(1, 600000) g")
    before = fingerprint(project.url)
    backups_before = s3_bucket.keys()
    project.add("002", "create table after_backup (id int);", "drop table after_backup;", name="next")
    proc = background.start(project, "up", "-e", "staging")
    wait_for(lambda: s3_bucket.uploads(), timeout=60, what="the multipart upload to start")
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert fingerprint(project.url) == before and versions(project.url) == ["001"]
    listing = project.run("backups", "list", "-e", "staging")
    assert listing.code == 0 and listing.out.count("s3://") == 1  # only the first run's backup
    assert [k for k in s3_bucket.keys() if k not in backups_before] == []  # no partial object
    wait_for(lambda: advisory_locks(project.url) == 0, timeout=10, what="the lock to be freed")
    r = project.run("up", "-e", "staging")
    assert r.code == 0, r.text
    assert project.run("backups", "list", "-e", "staging").out.count("s3://") == 2
