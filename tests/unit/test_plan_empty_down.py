"""``rollback --allow-empty-down`` in the plan (``orchestrator.plan``): past an empty down
section by removing its row only, only when asked, and never for the automatic rollback."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.project import write_migration

from orchestrator.errors import MigrationFileError
from orchestrator.migrations import Migration, discover
from orchestrator.plan import State, down_plan, up_plan


@pytest.fixture
def migrations(tmp_path: Path) -> tuple[Migration, ...]:
    write_migration(tmp_path, "001", "a", "create table a (id int);", "drop table a;")
    write_migration(tmp_path, "002", "b", "create table b (id int);", "-- nothing to undo")
    return tuple(discover(tmp_path))


def test_an_empty_down_section_is_refused_by_default_and_names_the_flag(migrations):
    with pytest.raises(MigrationFileError, match="--allow-empty-down"):
        down_plan(State(migrations, applied=("001", "002")), 1)


def test_allowed_it_removes_the_row_only_and_says_so(migrations):
    plan = down_plan(State(migrations, applied=("001", "002")), 2, allow_empty_down=True)
    assert [s.version for s in plan.scripts] == ["002", "001"]
    assert plan.scripts[0].statements == ()
    assert plan.scripts[1].render() == "drop table a;\n\n"
    assert [m.version for m in plan.rows_only] == ["002"]
    assert "WARNING: empty down section" in plan.render()
    assert plan.render().count("WARNING") == 1
    assert plan.target_version is None


def test_the_hash_covers_the_rows_removed_without_their_schema(migrations):
    state = State(migrations, applied=("001", "002"))
    flagged = down_plan(state, 1, allow_empty_down=True)
    assert flagged.hash != down_plan(State(migrations[:1], applied=("001",)), 1).hash
    only_a = State(migrations, applied=("001",))
    assert down_plan(only_a, 1).hash == down_plan(only_a, 1, allow_empty_down=True).hash  # nothing empty: same plan


def test_the_automatic_rollback_of_an_up_never_uses_it(migrations):
    plan = up_plan(State(migrations, applied=()))
    assert "002" in plan.irreversible and "001" not in plan.irreversible
