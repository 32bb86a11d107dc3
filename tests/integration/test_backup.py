"""Backups on real parts: the embedded PostgreSQL, the real pg_dump/pg_restore, and S3
spoken over HTTP to a moto server (fixtures in s3_server.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import stat
import time
from pathlib import Path

import psycopg
import pytest
from support.net import free_port
from support.postgres import fill_sample as fill
from support.postgres import fingerprint_all as fingerprint
from support.postgres import sql
from support.s3 import FAKE_SECRET_KEY, Bucket

from orchestrator import backup, pgtools
from orchestrator.backup import BackupInfo, create_backup, find_backup, list_backups, open_store, restore
from orchestrator.compression import parse
from orchestrator.dburl import DatabaseURL
from orchestrator.errors import EXIT_FAILED, EXIT_USAGE, BackupError, BackupNotFound

ENV = "production"


def damage(url: DatabaseURL) -> None:
    """What a bad migration might do: change rows, drop a table."""
    sql(url, "update items set price = 0 where id % 3 = 0")
    sql(url, "delete from items where id > 400 and id not in (select item_id from events)")
    sql(url, "drop table events")
    sql(url, "insert into schema_migrations values ('20240301000000')")


class Spy:
    """Records the argv of every pg_dump started, and calls through to the real pgtools."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[list[str]] = []
        real = pgtools.stream

        def stream(args, *, env):
            self.calls.append(list(args))
            return real(args, env=env)

        monkeypatch.setattr(pgtools, "stream", stream)


def s3_store(bucket: Bucket, tmp_path: Path, prefix: str = "backups", **kw) -> backup.Store:
    return open_store(f"{bucket.url}/{prefix}", root=tmp_path, **kw)


def object_bytes(bucket: Bucket, key: str) -> bytes:
    return bucket.client.get_object(Bucket=bucket.name, Key=key)["Body"].read()


# ----------------------------------------------------------------------------------------


def test_s3_backup_then_restore_brings_back_the_exact_data(db_url, s3_bucket, tmp_path):
    fill(db_url)
    before = fingerprint(db_url)
    store = s3_store(s3_bucket, tmp_path)
    seen: list[tuple[int, float]] = []

    info = create_backup(db_url, store, environment=ENV, run_id="r1", schema_version="20240201000000",
                         progress=lambda n, s: seen.append((n, s)))

    assert re.fullmatch(rf"{ENV}/\d{{8}}T\d{{6}}Z-r1\.dump", info.key)
    assert info.url == f"s3://{s3_bucket.name}/backups/{info.key}"
    assert s3_bucket.keys() == [f"backups/{info.key}", f"backups/{info.key}.json"]
    assert seen and seen[-1] == (info.size, info.seconds)
    assert info.schema_version == "20240201000000" and info.server_version.startswith("18")
    assert info.pg_dump_version.startswith("18.")

    # encrypted, described in its metadata, and the manifest matches the object
    head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key=f"backups/{info.key}")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["Metadata"]["environment"] == ENV and head["Metadata"]["run-id"] == "r1"
    assert head["Metadata"]["schema-version"] == "20240201000000"
    data = object_bytes(s3_bucket, f"backups/{info.key}")
    manifest = json.loads(object_bytes(s3_bucket, f"backups/{info.key}.json"))
    assert manifest["size"] == len(data) == head["ContentLength"] == info.size
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest() == info.sha256
    assert data[:4] == b"\x28\xb5\x2f\xfd" and manifest["compression"] == "zstd:3"  # zstd, the default
    manifest_head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key=f"backups/{info.key}.json")
    assert manifest_head["ServerSideEncryption"] == "AES256"

    damage(db_url)
    assert fingerprint(db_url) != before
    restore(db_url, store, find_backup(store, info.key))
    assert fingerprint(db_url) == before


def test_local_backup_then_restore(db_url, tmp_path, monkeypatch):
    fill(db_url)
    before = fingerprint(db_url)
    store = open_store(backup.DEFAULT_LOCAL, root=tmp_path)

    info = create_backup(db_url, store, environment="dev", run_id="r1", schema_version=None)

    path = tmp_path / ".orchestrator" / "backups" / info.key
    assert info.url == str(path)
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(path.parent.glob("*.partial"))
    manifest = json.loads(path.with_name(path.name + ".json").read_text())
    assert manifest["size"] == path.stat().st_size
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["schema_version"] is None

    damage(db_url)
    monkeypatch.chdir(tmp_path)
    for name in (str(path), f".orchestrator/backups/{info.key}", info.key):  # path, relative path, key
        assert find_backup(store, name) == info
    restore(db_url, store, find_backup(store, str(path)))
    assert fingerprint(db_url) == before


def test_list_backups_newest_first_complete_only(db_url, s3_bucket, tmp_path):
    sql(db_url, "create table t (x int)")
    store = s3_store(s3_bucket, tmp_path)
    first = create_backup(db_url, store, environment=ENV, run_id="a", schema_version="1")
    second = create_backup(db_url, store, environment=ENV, run_id="b", schema_version="2")
    create_backup(db_url, store, environment="staging", run_id="c", schema_version="2")
    # a dump whose manifest was never written is incomplete: never listed
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=f"backups/{ENV}/20990101T000000Z-x.dump", Body=b"x")

    found = list_backups(store, ENV)

    assert [i.run_id for i in found] == ["b", "a"]
    assert found == [second, first]
    assert [i.schema_version for i in found] == ["2", "1"]
    assert all(i.size > 0 and i.created.endswith("Z") for i in found)
    assert list_backups(store, "nowhere") == []
    with pytest.raises(BackupNotFound, match="incomplete"):
        find_backup(store, f"{ENV}/20990101T000000Z-x.dump")


def test_a_backup_of_several_parts_is_verified_and_restores(db_url, s3_bucket, tmp_path):
    # ~30 MB of random bytes as hex: a dump of more than two 5 MiB parts, even compressed
    sql(db_url, "create unlogged table blobs (id int primary key, data bytea)")
    sql(db_url, "insert into blobs select g, decode(md5(g::text) || md5((g * 7)::text) || md5(random()::text) "
                "|| md5(clock_timestamp()::text), 'hex') from generate_series(1, 170000) g")
    before = fingerprint(db_url)
    store = s3_store(s3_bucket, tmp_path, part_size=5 * backup.MiB)
    seen: list[int] = []

    info = create_backup(db_url, store, environment=ENV, run_id="big", schema_version=None,
                         progress=lambda n, s: seen.append(n), progress_interval=0)

    manifest = json.loads(object_bytes(s3_bucket, f"backups/{info.key}.json"))
    parts = manifest["parts"]
    assert info.size > 2 * 5 * backup.MiB and parts == -(-info.size // (5 * backup.MiB)) >= 3
    assert seen == sorted(seen) and len(seen) >= parts
    # the composite checksum S3 reports is the one computed from what was streamed
    data = object_bytes(s3_bucket, f"backups/{info.key}")
    step = 5 * backup.MiB
    digests = b"".join(hashlib.sha256(data[i:i + step]).digest() for i in range(0, len(data), step))
    assert manifest["checksum_sha256"] == f"{base64.b64encode(hashlib.sha256(digests).digest()).decode()}-{parts}"
    assert hashlib.sha256(data).hexdigest() == info.sha256
    assert s3_bucket.uploads() == []

    sql(db_url, "delete from blobs where id % 2 = 0")
    restore(db_url, store, info)
    assert fingerprint(db_url) == before


def test_missing_bucket_fails_before_pg_dump(db_url, s3_bucket, tmp_path, monkeypatch):
    spy = Spy(monkeypatch)
    store = open_store("s3://no-such-bucket-here/backups", root=tmp_path)

    with pytest.raises(BackupError, match="bucket 'no-such-bucket-here' does not exist") as caught:
        create_backup(db_url, store, environment=ENV, run_id="r1", schema_version=None)

    assert caught.value.exit_code == EXIT_FAILED
    assert spy.calls == []
    names = [b["Name"] for b in s3_bucket.client.list_buckets()["Buckets"]]
    assert "no-such-bucket-here" not in names
    assert FAKE_SECRET_KEY not in str(caught.value)


def test_unreachable_endpoint_fails_quickly_before_pg_dump(db_url, s3_bucket, tmp_path, monkeypatch):
    spy = Spy(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens
    store = s3_store(s3_bucket, tmp_path, max_attempts=2, connect_timeout=2)

    started = time.monotonic()
    with pytest.raises(BackupError, match="cannot be reached") as caught:
        create_backup(db_url, store, environment=ENV, run_id="r1", schema_version=None)

    assert time.monotonic() - started < 10
    assert spy.calls == []
    assert FAKE_SECRET_KEY not in str(caught.value) and "AKIA" not in str(caught.value)


def test_tampered_backup_is_refused_and_nothing_is_restored(db_url, s3_bucket, tmp_path):
    fill(db_url)
    store = s3_store(s3_bucket, tmp_path)
    info = create_backup(db_url, store, environment=ENV, run_id="r1", schema_version=None)
    key = f"backups/{info.key}"
    data = bytearray(object_bytes(s3_bucket, key))
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=key, Body=bytes(data))
    damage(db_url)
    damaged = fingerprint(db_url)

    with pytest.raises(BackupError, match="failed its checksum.*Nothing was restored"):
        restore(db_url, store, find_backup(store, info.url))
    with pytest.raises(BackupError, match="failed its checksum"):
        restore(db_url, store, info, dry_run=True)

    assert fingerprint(db_url) == damaged


def test_tampered_local_backup_is_refused(db_url, tmp_path):
    fill(db_url)
    store = open_store("backups", root=tmp_path)
    info = create_backup(db_url, store, environment="dev", run_id="r1", schema_version=None)
    Path(info.url).write_bytes(Path(info.url).read_bytes() + b"extra")
    damage(db_url)
    damaged = fingerprint(db_url)

    with pytest.raises(BackupError, match="failed its checksum"):
        restore(db_url, store, find_backup(store, info.key))

    assert fingerprint(db_url) == damaged


def test_a_backup_that_does_not_exist_is_a_usage_error(s3_bucket, tmp_path):
    store = s3_store(s3_bucket, tmp_path)
    for name in (f"{ENV}/20990101T000000Z-nope.dump", f"s3://{s3_bucket.name}/backups/{ENV}/x.dump", "nope"):
        with pytest.raises(BackupNotFound, match="no backup") as caught:
            find_backup(store, name)
        assert caught.value.exit_code == EXIT_USAGE
    with pytest.raises(BackupNotFound, match="not in the backup location"):
        find_backup(store, "s3://another-bucket/backups/production/x.dump")
    with pytest.raises(BackupNotFound):
        find_backup(store, "../../etc/passwd")

    local = open_store("backups", root=tmp_path)
    with pytest.raises(BackupNotFound, match="no backup"):
        find_backup(local, "dev/20990101T000000Z-nope.dump")
    with pytest.raises(BackupNotFound, match="not inside the backup directory"):
        find_backup(local, "/etc/hostname")


def test_find_backup_by_key_object_key_or_url(db_url, s3_bucket, tmp_path):
    sql(db_url, "create table t (x int)")
    store = s3_store(s3_bucket, tmp_path, prefix="team/db")
    info = create_backup(db_url, store, environment=ENV, run_id="r1", schema_version=None)

    for name in (info.key, f"team/db/{info.key}", info.url, info.url + ".json", info.key.removesuffix(".dump")):
        assert find_backup(store, name) == info


def test_restore_dry_run_lists_the_archive_and_changes_nothing(db_url, s3_bucket, tmp_path):
    fill(db_url)
    store = s3_store(s3_bucket, tmp_path)
    info = create_backup(db_url, store, environment=ENV, run_id="r1", schema_version=None)
    damage(db_url)
    damaged = fingerprint(db_url)

    toc = restore(db_url, store, info, dry_run=True)

    assert "; Archive created at" in toc
    assert re.search(r"TABLE DATA public items ", toc) and re.search(r"TABLE DATA public events ", toc)
    assert fingerprint(db_url) == damaged


def test_failed_pg_dump_leaves_no_upload_and_no_backup(db_url, s3_bucket, tmp_path):
    sql(db_url, "create unlogged table blobs (id int primary key, data bytea)")
    sql(db_url, "insert into blobs select g, decode(md5(g::text) || md5(random()::text) || md5(random()::text), "
                "'hex') from generate_series(1, 260000) g")
    store = s3_store(s3_bucket, tmp_path, part_size=5 * backup.MiB)
    killed: list[int] = []

    def kill_pg_dump(size: int, seconds: float) -> None:
        # pg_dump is killed from the server side once its first part is being uploaded
        # (~5 of ~16 MB: the reader, the queue and the pipe hold at most ~11 MB)
        if size and not killed:
            killed.extend(r[0] for r in sql(db_url, "select pg_terminate_backend(pid) from pg_stat_activity "
                                                    "where application_name = 'pg_dump' and datname = %s",
                                            [db_url.database]))

    with pytest.raises(BackupError, match="pg_dump") as caught:  # uncompressed: parts leave while pg_dump runs
        create_backup(db_url, store, environment=ENV, run_id="r1", schema_version=None,
                      progress=kill_pg_dump, progress_interval=0, compression=parse("none"))

    assert killed == [True]
    assert caught.value.exit_code == EXIT_FAILED
    assert s3_bucket.uploads() == []
    assert s3_bucket.keys() == []
    assert list_backups(store, ENV) == []

    # a database that does not exist: refused before anything is uploaded
    with pytest.raises(BackupError, match="does not exist"):
        create_backup(db_url.with_database("no_such_db"), store, environment=ENV, run_id="r2",
                      schema_version=None)
    assert s3_bucket.uploads() == [] and s3_bucket.keys() == []


def test_failed_local_backup_leaves_no_file(db_url, tmp_path):
    sql(db_url, "create table t (x int)")
    sql(db_url, "create role backup_test_nobody login")
    try:
        store = open_store("backups", root=tmp_path)
        nobody = DatabaseURL("backup_test_nobody", None, db_url.host, db_url.port, db_url.database, db_url.query)
        with pytest.raises(BackupError, match="permission denied"):
            create_backup(nobody, store, environment="dev", run_id="r1", schema_version=None)
        assert [p for p in (tmp_path / "backups").rglob("*") if p.is_file()] == []
        assert list_backups(store, "dev") == []
    finally:
        sql(db_url, "drop role backup_test_nobody")


def test_a_caller_failure_aborts_the_upload(db_url, s3_bucket, tmp_path):
    fill(db_url)
    store = s3_store(s3_bucket, tmp_path)

    def interrupted(size: int, seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        create_backup(db_url, store, environment=ENV, run_id="r1", schema_version=None,
                      progress=interrupted, progress_interval=0)
    assert s3_bucket.uploads() == [] and s3_bucket.keys() == []


def test_no_secret_in_errors_or_argv(pg_server, s3_bucket, tmp_path, monkeypatch):
    spy = Spy(monkeypatch)
    password = "pg-S3cret-pw-4417"
    url = DatabaseURL.parse(f"postgres://postgres:{password}@/no_such_db?socket={pg_server.param('host')}")
    store = s3_store(s3_bucket, tmp_path)

    with pytest.raises(BackupError) as caught:
        create_backup(url, store, environment=ENV, run_id="r1", schema_version=None)

    text = str(caught.value)
    assert password not in text and FAKE_SECRET_KEY not in text
    assert all(password not in arg for call in spy.calls for arg in call)


def test_password_goes_to_pg_dump_through_the_environment(db_url, tmp_path, monkeypatch):
    sql(db_url, "create table t (x int)")
    seen: list[tuple[list[str], dict[str, str]]] = []
    real = pgtools.stream

    def stream(args, *, env):
        seen.append((list(args), env))
        return real(args, env=env)

    monkeypatch.setattr(pgtools, "stream", stream)
    url = DatabaseURL(db_url.user, "trusted-anyway-pw", db_url.host, db_url.port, db_url.database, db_url.query)
    create_backup(url, open_store("b", root=tmp_path), environment="dev", run_id="r1", schema_version=None)

    (args, env), = seen
    assert env == {"PGPASSWORD": "trusted-anyway-pw"}
    assert not any("trusted-anyway-pw" in a for a in args)
    assert "--format=custom" in args


def test_kms_encryption(db_url, s3_bucket, tmp_path):
    sql(db_url, "create table t (x int)")
    store = s3_store(s3_bucket, tmp_path, sse="aws:kms", kms_key_id="alias/orchestrator-backups")

    info = create_backup(db_url, store, environment=ENV, run_id="r1", schema_version=None)

    head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key=f"backups/{info.key}")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith("alias/orchestrator-backups")
    assert "aws:kms" in store.describe()


def test_text_objects_for_run_logs(s3_bucket, tmp_path):
    for store in (s3_store(s3_bucket, tmp_path), open_store("logs", root=tmp_path)):
        first = f"{ENV}/20250101T000000Z-a.run.json"
        second = f"{ENV}/20250102T000000Z-b.run.json"
        store.put_text(first, '{"run": "a"}')
        url = store.put_text(second, '{"run": "b"}')
        store.put_text("staging/20250103T000000Z-c.run.json", "{}")
        store.put_text(f"{ENV}/20250102T000000Z-b.dump.json", "{}")

        assert url == store.url_for(second)
        assert store.get_text(first) == '{"run": "a"}'
        assert store.list_texts(".run.json", ENV) == [second, first]
        assert store.list_texts(".run.json")[0] == "staging/20250103T000000Z-c.run.json"
        with pytest.raises(BackupNotFound):
            store.get_text(f"{ENV}/missing.run.json")
    assert backup.sibling(f"{ENV}/20250102T000000Z-b.dump", ".run.json") == second


def test_bad_settings_are_config_errors(tmp_path):
    from orchestrator.errors import ConfigError

    with pytest.raises(ConfigError):
        open_store("s3://", root=tmp_path)
    with pytest.raises(ConfigError):
        open_store("s3://b/p", root=tmp_path, sse="rot13")
    with pytest.raises(ConfigError):
        open_store("s3://b/p", root=tmp_path, part_size=1024)
    with pytest.raises(ConfigError):
        open_store("gs://b/p", root=tmp_path)
    with pytest.raises(ConfigError):
        create_backup(DatabaseURL("u", None, "h", None, "d", ()), open_store("x", root=tmp_path),
                      environment="../etc", run_id="r", schema_version=None)


def test_backup_info_is_what_the_manifest_says(db_url, tmp_path):
    sql(db_url, "create table t (x int)")
    store = open_store("b", root=tmp_path)
    info = create_backup(db_url, store, environment="dev", run_id="r-1.x", schema_version="7")
    assert isinstance(info, BackupInfo)
    assert list_backups(store, "dev") == [info]
    with psycopg.connect(db_url.conninfo()) as conn:
        assert info.server_version == conn.info.parameter_status("server_version")
