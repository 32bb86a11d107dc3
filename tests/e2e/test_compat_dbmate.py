"""Switching between dbmate and orchestrator as a team does: both as real processes on the
same database, each reading what the other recorded and rolling back what the other applied,
with the same status output line for line.  (Everything else about dbmate compatibility,
with orchestrator in-process: ``integration/test_compat_dbmate.py``.)"""

from __future__ import annotations

import json

from support.postgres import tables, versions
from support.project import ok
from support.project import status_marks as marks

SHIPPED = ["0001_init.sql", "0002_add_user_preferences.sql", "0003_add_customer_tags.sql"]


def test_dbmate_applies_orchestrator_reads_and_rolls_back(shipped):
    shipped.configure({"dev": {"lint": {"*": "off"}}})  # file handling compared with dbmate's, not lint
    ok(shipped.dbmate("--no-dump-schema", "up"))

    status = ok(shipped.run("status"))
    assert marks(status.out) == [f"[X] {f}" for f in SHIPPED]
    assert "Applied: 3\nPending: 0" in status.out
    assert status.out == ok(shipped.dbmate("status")).out  # the same layout, line for line
    doc = json.loads(ok(shipped.run("status", "--json")).out)
    assert [(m["file"], m["applied"]) for m in doc["migrations"]] == [(f, True) for f in SHIPPED]
    assert (doc["applied"], doc["pending"], doc["current_version"]) == (3, 0, "0003")
    assert doc["missing_files"] == []

    rollback = ok(shipped.run("--no-dump-schema", "rollback"))
    assert "Rolled back: 0003_add_customer_tags.sql" in rollback.out
    assert versions(shipped.url) == ["0001", "0002"]
    assert "customer_tags" not in tables(shipped.url)
    assert "user_preferences" in tables(shipped.url)

    theirs = ok(shipped.dbmate("status"))
    assert marks(theirs.out) == [f"[X] {SHIPPED[0]}", f"[X] {SHIPPED[1]}", f"[ ] {SHIPPED[2]}"]
    assert "Applied: 2\nPending: 1" in theirs.out
