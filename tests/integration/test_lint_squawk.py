"""orchestrator's lint against squawk, the linter users know (``squawk-cli`` from PyPI).

Both run on the same example files (``tests/unit/lint_examples/<rule>/{bad,good}.sql``).  For
every pair of an orchestrator rule and the squawk rules that cover the same hazard
(``Rule.squawk``, listed in the README), both fire on the same statements of the bad
example, neither fires on the good one, and across all the examples squawk fires
wherever orchestrator does.  Where squawk fires and orchestrator does not, the
difference is one of the documented ones in ``SQUAWK_ONLY``.

squawk does not read dbmate's markers: a file whose up section runs in a transaction is
given ``--assume-in-transaction``.  Only up sections are compared (orchestrator checks a
down section for what would stop a rollback, squawk treats the file as one script),
except for syntax errors, which both report in either section.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from pglast.parser import ParseError, scan

from orchestrator import lint
from orchestrator.migrations import Migration, Section

EXAMPLES = Path(__file__).resolve().parent.parent / "unit" / "lint_examples"
FILES = sorted(EXAMPLES.glob("*/*.sql"))
PAIRS = {rule.id: rule.squawk for rule in lint.RULES.values() if rule.squawk}

# Where the two differ by design, shown by tests/unit/lint_examples/differences/*.sql:
# (example, orchestrator rule) -> (who fires, why).  The README lists the same.
DIFFERENCES = {
    ("differences/new-table.sql", "set-not-null"): ("squawk", "the table was created in this migration"),
    ("differences/new-table.sql", "column-type-change"): (
        "squawk",
        "the table was created in this migration",
    ),
    ("differences/new-table.sql", "volatile-default"): ("squawk", "the table was created in this migration"),
    ("differences/new-table.sql", "rename-column"): ("squawk", "the table was created in this migration"),
    ("differences/new-table.sql", "drop-column"): ("squawk", "the table was created in this migration"),
    ("differences/rewrites.sql", "volatile-default"): (
        "both",
        "serial: orchestrator; virtual generated: squawk",
    ),
    ("differences/concurrently.sql", "concurrently-in-transaction"): (
        "orchestrator",
        "DROP INDEX / REINDEX CONCURRENTLY and VACUUM; squawk checks CREATE INDEX only",
    ),
}


def squawk_exe() -> str:
    exe = shutil.which("squawk", path=str(Path(sys.executable).parent)) or shutil.which("squawk")
    assert exe, "squawk-cli is not installed (pip install -e '.[test]')"
    return exe


@pytest.fixture(scope="module")
def squawk(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, list[dict]]:
    """squawk's violations per example file (two runs: transactional files or not)."""
    cwd = tmp_path_factory.mktemp("squawk")  # no .squawk.toml to pick up
    migrations = {p: lint.load(p) for p in FILES}
    out: dict[Path, list[dict]] = {p: [] for p in FILES}
    for in_tx in (True, False):
        paths = [p for p in FILES if migrations[p].up.transaction == in_tx]
        args = [squawk_exe(), "--reporter", "json", *(["--assume-in-transaction"] if in_tx else [])]
        result = subprocess.run(
            args + [str(p) for p in paths], capture_output=True, text=True, cwd=cwd, timeout=60, check=False
        )
        assert result.stdout.strip(), result.stderr
        for violation in json.loads(result.stdout):
            out[Path(violation["file"]).resolve()].append(violation)
    return out


def spans(section: Section) -> list[tuple[int, int]]:
    """The file lines (first, last) of each statement of a section, from the lexer, so that a
    section that does not parse is split too."""
    try:
        tokens = [t for t in scan(section.sql) if t.name not in ("SQL_COMMENT", "C_COMMENT")]
    except ParseError:
        return []
    out, first = [], None
    for token in tokens:
        if first is None:
            first = token.start
        if token.name == "ASCII_59":  # ;
            out.append((section.line_of(first), section.line_of(token.start)))
            first = None
    if first is not None:
        out.append((section.line_of(first), section.line_of(tokens[-1].start)))
    return out


def statements(m: Migration, lines: Iterable[int], both_sections: bool) -> set[tuple[str, int]]:
    """The statements (section, index) that contain the given file lines."""
    sections = ("up", "down") if both_sections else ("up",)
    found = set()
    for line in lines:
        for name in sections:
            for index, (first, last) in enumerate(spans(m.section(name))):
                if first <= line <= last:
                    found.add((name, index))
    return found


def compare(path: Path, rule: str, violations: list[dict]) -> tuple[set, set]:
    """(orchestrator's statements, squawk's statements) for one pair on one file."""
    m = lint.load(path)
    both = rule == "syntax-error"
    ours = statements(m, [f.line for f in lint.lint([m]) if f.rule == rule and not f.suppressed], both)
    theirs = statements(m, [v["line"] + 1 for v in violations if v["rule_name"] in PAIRS[rule]], both)
    return ours, theirs


def test_every_pair_has_examples_and_squawk_knows_its_rules(squawk: dict[Path, list[dict]]) -> None:
    assert len(PAIRS) >= 12
    fired = {v["rule_name"] for vs in squawk.values() for v in vs}
    for rule, theirs in PAIRS.items():
        assert (EXAMPLES / rule / "bad.sql").is_file() and (EXAMPLES / rule / "good.sql").is_file()
        assert set(theirs) & fired, f"none of squawk's {theirs} fired on any example: renamed?"


@pytest.mark.parametrize("rule", sorted(PAIRS))
def test_both_fire_on_the_same_statements_of_the_bad_example(
    rule: str, squawk: dict[Path, list[dict]]
) -> None:
    path = EXAMPLES / rule / "bad.sql"
    ours, theirs = compare(path, rule, squawk[path])
    assert ours, f"{rule} does not fire on its bad example"
    assert ours == theirs, f"{rule} fires on {sorted(ours)}, squawk {PAIRS[rule]} on {sorted(theirs)}"


@pytest.mark.parametrize("rule", sorted(PAIRS))
def test_neither_fires_on_the_good_example(rule: str, squawk: dict[Path, list[dict]]) -> None:
    path = EXAMPLES / rule / "good.sql"
    ours, theirs = compare(path, rule, squawk[path])
    assert not ours and not theirs, f"on {path.name}: orchestrator {sorted(ours)}, squawk {sorted(theirs)}"


def test_across_all_examples_the_differences_are_the_documented_ones(squawk: dict[Path, list[dict]]) -> None:
    """On every example, each pair fires on the same statements, except the documented
    differences.  A statement squawk reports under a rule it shares between pairs
    (constraint-missing-not-valid covers foreign keys, CHECK and UNIQUE) counts as matched
    when the orchestrator rule of another of those pairs fires on it."""
    found = {}
    for path in FILES:
        m = lint.load(path)
        ours_all = {rule: compare(path, rule, squawk[path]) for rule in PAIRS}
        for rule, (ours, theirs) in ours_all.items():
            sharing = [other for other in PAIRS if other != rule and set(PAIRS[other]) & set(PAIRS[rule])]
            matched_elsewhere = set().union(*(ours_all[other][0] for other in sharing)) if sharing else set()
            only_squawk = theirs - ours - matched_elsewhere
            only_ours = ours - theirs
            if only_squawk or only_ours:
                who = "both" if only_squawk and only_ours else "squawk" if only_squawk else "orchestrator"
                found[(f"{path.parent.name}/{path.name}", rule)] = who
        assert m  # every example is a valid dbmate file
    assert found == {key: who for key, (who, _) in DIFFERENCES.items()}
