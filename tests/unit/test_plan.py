"""What a run would do, from the files and the recorded versions (``orchestrator.plan``), with
plain values: which migrations, in which order, what each executes and what undoes it, and
the hash a reviewer approves."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.project import write_migration

from orchestrator.errors import MigrationFileError, UsageError
from orchestrator.migrations import Migration, discover
from orchestrator.plan import Plan, State, down_plan, up_plan


def files(directory: Path, **sections: tuple[str, str]) -> tuple[Migration, ...]:
    """Migrations ``<version>_m.sql`` (up, down), read back as the pipeline reads them."""
    for version, (up, down) in sections.items():
        write_migration(directory, version.removeprefix("v"), "m", up, down)
    return tuple(discover(directory))


@pytest.fixture
def three(tmp_path: Path) -> tuple[Migration, ...]:
    return files(tmp_path, v001=("create table a (id int);", "drop table a;"),
                 v002=("create table b (id int);\ninsert into b values (1);", "drop table b;"),
                 v003=("create table c (id int);", "drop table c;"))


def versions(plan: Plan) -> list[str]:
    return [m.version for m in plan.migrations]


def test_up_runs_every_pending_migration_oldest_first(three):
    plan = up_plan(State(three, applied=("001",)))
    assert (plan.direction, versions(plan)) == ("up", ["002", "003"])
    assert (plan.from_version, plan.target_version) == ("001", "003")
    assert plan.scripts[0].render() == "create table b (id int);\n\ninsert into b values (1);\n\n"  # as sent
    nothing = up_plan(State(three, applied=("001", "002", "003")))
    assert versions(nothing) == [] and nothing.render() == "-- nothing to run\n"


def test_down_takes_the_newest_applied_first(three):
    plan = down_plan(State(three, applied=("001", "002", "003")), 2)
    assert (plan.direction, versions(plan)) == ("down", ["003", "002"])
    assert plan.scripts[0].render() == "drop table c;\n\n"
    rendered = plan.render()
    assert rendered.index("003_m.sql (down)") < rendered.index("002_m.sql (down)")


@pytest.mark.parametrize(("applied", "steps", "words"), [
    (("001", "002", "003"), 0, "--steps must be 1 or more, got 0"),
    (("001", "002", "003"), -1, "--steps must be 1 or more, got -1"),
    (("001", "002", "003"), 4, "can't roll back 4 migrations: only 3 applied"),
    ((), 1, "no migrations have been applied"),
    (("001", "002", "003", "004"), 1, "version 004 is recorded as applied but its file is missing"),
])
def test_down_is_refused_when_it_cannot_be_what_was_asked(three, applied, steps, words):
    with pytest.raises(UsageError, match=words):
        down_plan(State(three, applied=applied), steps)


def test_an_empty_down_section_makes_the_migration_irreversible(tmp_path):
    (kept,) = files(tmp_path, v001=("create table a (id int);", "-- kept forever"))
    up = up_plan(State((kept,), applied=()))
    assert up.irreversible == {"001": "001_m.sql has no down section"}
    assert "-- cannot be undone automatically (001_m.sql has no down section)" in up.render()
    with pytest.raises(MigrationFileError, match="the down section is empty"):
        down_plan(State((kept,), applied=("001",)), 1)


def test_the_hash_covers_what_the_reviewer_saw(tmp_path, three):
    state = State(three, applied=())
    assert up_plan(state).hash == up_plan(State(three, applied=())).hash  # the same plan, the same hash
    changed = files(tmp_path / "other", v001=("create table a (id int);", "drop table a;"),
                    v002=("create table b (id int);\ninsert into b values (2);", "drop table b;"),
                    v003=("create table c (id int);", "drop table c;"))
    other_down = files(tmp_path / "down", v001=("create table a (id int);", "drop table a;"),
                       v002=("create table b (id int);\ninsert into b values (1);", "drop table b cascade;"),
                       v003=("create table c (id int);", "drop table c;"))
    hashes = {
        up_plan(state).hash,
        up_plan(State(changed, applied=())).hash,  # one statement differs
        up_plan(State(other_down, applied=())).hash,  # only what would undo it differs
        up_plan(State(three, applied=("001",))).hash,  # one migration fewer
        down_plan(State(three, applied=("001", "002", "003")), 3).hash,  # the other direction
    }
    assert len(hashes) == 5 and all(len(h) == 64 for h in hashes)
