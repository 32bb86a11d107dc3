"""Every ``compression`` setting, backed up and restored on real parts: the embedded
PostgreSQL and its pg_dump/pg_restore/psql, a local directory and S3 over HTTP (moto)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from support.postgres import fill_sample as fill
from support.postgres import fingerprint_all as fingerprint
from support.postgres import schema_text, sql

from orchestrator import pgtools
from orchestrator.backup import create_backup, find_backup, open_store, restore
from orchestrator.compression import parse
from orchestrator.errors import BackupError

SETTINGS = ["zstd", "zstd:19", "lz4", "gzip", "gzip:1", "none"]
# what the stored object starts with: a zstd or lz4 frame orchestrator wrote, or pg_dump's own archive
MAGIC = {"zstd": b"\x28\xb5\x2f\xfd", "lz4": b"\x04\x22\x4d\x18", "gzip": b"PGDMP", "none": b"PGDMP"}
COMPRESSED_BY = {"zstd": "orchestrator", "lz4": "orchestrator", "gzip": "pg_dump", "none": "pg_dump"}


def change(url) -> None:
    """What a failed deploy might leave: rows changed, a table gone, a new one."""
    sql(url, "update items set price = 0 where id % 3 = 0")
    sql(url, "drop table events")
    sql(url, "create table orders (id int primary key, item_id int references items(id))")


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return open_store("backups", root=tmp_path)
    bucket = request.getfixturevalue("s3_bucket")
    return open_store(f"{bucket.url}/backups", root=tmp_path)


@pytest.mark.parametrize("setting", SETTINGS)
def test_every_setting_restores_exactly(db_url, store, setting):
    fill(db_url)
    before, schema = fingerprint(db_url), schema_text(db_url)
    compression = parse(setting)

    info = create_backup(db_url, store, environment="production", run_id="r1", schema_version=None,
                         compression=compression)

    manifest = json.loads(store.get_text(info.key + ".json"))
    assert manifest["compression"] == str(compression) and manifest["dump_format"] == "custom"
    assert manifest["compressed_by"] == COMPRESSED_BY[compression.method]
    with store.fetch(info) as path:
        assert path.read_bytes()[:5].startswith(MAGIC[compression.method])
        if not compression.wraps:  # pg_dump's own archive: plain pg_restore reads it, compressed as asked
            listing = pgtools.run([str(pgtools.find_program("pg_restore", 18)), "--list", str(path)], env={})
            assert f"Compression: {'gzip' if compression.method == 'gzip' else 'none'}" in listing.decode()
    assert "TABLE DATA public events" in restore(db_url, store, info, dry_run=True)
    change(db_url)
    restore(db_url, store, find_backup(store, info.key))
    assert fingerprint(db_url) == before and schema_text(db_url) == schema


def test_a_backup_from_before_the_setting_still_restores(db_url, tmp_path):
    # written by pg_dump's own compression, with a manifest that has no compression field
    fill(db_url)
    before = fingerprint(db_url)
    store = open_store("backups", root=tmp_path)
    info = create_backup(db_url, store, environment="production", run_id="old", schema_version=None)
    pg_dump = pgtools.find_program("pg_dump", 18)
    data = subprocess.run([str(pg_dump), "--format=custom", "--dbname", db_url.conninfo()],
                          capture_output=True, check=True).stdout
    Path(info.url).write_bytes(data)
    manifest_path = Path(info.url + ".json")
    doc = json.loads(manifest_path.read_text())
    for key in ("compression", "compressed_by", "dump_format"):
        del doc[key]
    doc.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    manifest_path.write_text(json.dumps(doc))

    old = find_backup(store, info.key)
    assert old.compression == "" and old.compressed_by == "pg_dump" and old.frame is None
    change(db_url)
    restore(db_url, store, old)
    assert fingerprint(db_url) == before


@pytest.mark.parametrize("setting", ["zstd", "lz4"])
def test_a_frame_cut_short_restores_nothing(db_url, tmp_path, setting):
    # the checksum was made to match: the frame itself says it is incomplete, while pg_restore
    # lists the archive or, at the latest, before COMMIT
    fill(db_url)
    store = open_store("backups", root=tmp_path)
    info = create_backup(db_url, store, environment="production", run_id="r1", schema_version=None,
                         compression=parse(setting))
    change(db_url)
    changed = fingerprint(db_url)
    dump = Path(info.url)
    data = dump.read_bytes()[:-20]
    dump.write_bytes(data)
    manifest_path = Path(info.url + ".json")
    doc = json.loads(manifest_path.read_text())
    doc.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    manifest_path.write_text(json.dumps(doc))

    with pytest.raises(BackupError, match=f"pg_restore: its input is unreadable: the {setting} frame ends early"):
        restore(db_url, store, find_backup(store, info.key))
    assert fingerprint(db_url) == changed


@pytest.mark.parametrize(
    ("written", "changed", "refused"),
    [
        ('"zstd:3"', '"brotli:5"', "brotli:5"),  # a method this orchestrator does not know
        ('"compression": "zstd:3"', '"compression": "gzip:6"', "'orchestrator' with compression 'gzip:6'"),
        ('"compressed_by": "orchestrator"', '"compressed_by": "gzip"', "compressed_by 'gzip'"),
    ],
)
def test_a_manifest_this_orchestrator_did_not_write_is_refused(db_url, tmp_path, written, changed, refused):
    # orchestrator wraps only zstd and lz4: gzip in an orchestrator frame is no backup it wrote
    fill(db_url)
    store = open_store("backups", root=tmp_path)
    info = create_backup(db_url, store, environment="production", run_id="r1", schema_version=None)
    manifest_path = Path(info.url + ".json")
    text = manifest_path.read_text()
    assert written in text
    manifest_path.write_text(text.replace(written, changed))
    with pytest.raises(BackupError, match=f"manifest .* is unreadable .*{refused}"):
        find_backup(store, info.key)


def test_a_bad_setting_is_a_usage_error_and_changes_nothing(project):
    project.add("001", "create table a (id int);")
    project.config_file.write_text("environments:\n  dev:\n    compression: zstd:40\n")
    r = project.run("up")
    assert r.code == 2, r.text
    assert r.err.strip().count("\n") == 0
    assert "db/orchestrator.yml: environments.dev.compression: zstd takes a level from 1 to 22" in r.err
    assert sql(project.url, "select count(*) from pg_tables where schemaname = 'public'") == [(0,)]
