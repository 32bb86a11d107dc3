"""Lint of migrations: every statement parsed by the real PostgreSQL parser, then checked
for the hazards that take a production database down or lose data.

Pure: :func:`lint` takes parsed :class:`~orchestrator.migrations.Migration` objects and
returns :class:`Finding` objects; only :func:`lint_paths` reads files.  The parser is
``pglast`` (libpg_query, PostgreSQL 18's own grammar), so a syntax error is found with
its exact line and column before anything runs, and the rules walk the syntax tree
instead of matching text.

Rules know what the migration itself created: an index, a foreign key, ``SET NOT NULL``
or an ``UPDATE`` on a table created earlier in the same section is harmless (the table is
empty and nobody else can see it until the migration commits).

A finding is suppressed by a comment naming the rule and giving a reason::

    -- orchestrator:ignore drop-column the app stopped reading it in v2.3 (#456)
    ALTER TABLE customers DROP COLUMN company;

The comment goes in the block of comment lines directly above the statement, or at the
end of the statement's first line.  Without a reason it suppresses nothing and is itself
a finding (``bad-ignore``); one that matches nothing is ``unused-ignore``.  The reason is
kept in the finding (and so in the run log).

Severities: each rule has a default (``error`` or ``warning``); :func:`effective` applies
per-environment overrides (``error``, ``warning`` or ``off``) and :func:`blocking` returns
what must stop a deploy.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType, TransactionStmtKind
from pglast.parser import ParseError, parse_sql, scan

from .errors import ConfigError
from .migrations import Migration, Section, migration_files, read_migration
from .redaction import MASK, redact

ERROR, WARNING, OFF = "error", "warning", "off"
SEVERITIES = (ERROR, WARNING)
LEVELS = (ERROR, WARNING, OFF)
ALL_RULES = "*"  # an override key that applies to every rule without its own entry
IGNORE_DIRECTIVE = "orchestrator:ignore"


# -- rules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One lint rule: its id, default severity, what it catches, the fix and two examples.

    ``bad`` and ``good`` are complete dbmate files; the bad one triggers this rule (plus
    the rules in ``also``) and the good one triggers nothing.  ``squawk`` names the
    squawk rules that cover the same hazard (empty where squawk has none), ``squawk_note``
    says where the two differ.
    """

    id: str
    severity: str
    title: str
    fix: str
    bad: str
    good: str
    squawk: tuple[str, ...] = ()
    squawk_note: str = ""
    also: tuple[str, ...] = ()
    suppressible: bool = True


def _file(up: str, down: str, up_opts: str = "", down_opts: str = "") -> str:
    up_marker = f"-- migrate:up {up_opts}".rstrip()
    down_marker = f"-- migrate:down {down_opts}".rstrip()
    down_part = f"{down_marker}\n{down.strip()}\n" if down.strip() else f"{down_marker}\n"
    return f"{up_marker}\n{up.strip()}\n\n{down_part}"


_RULES: tuple[Rule, ...] = (
    Rule(
        "syntax-error",
        ERROR,
        "A statement of an up section, or of a down section a rollback would run, does not parse.",
        "correct the SQL; nothing is applied while a migration or a down section does not parse",
        _file("CREATE TABLE notes (id bigint PRIMARY KEY, body text;", "DROP TABLE notes;"),
        _file("CREATE TABLE notes (id bigint PRIMARY KEY, body text);", "DROP TABLE notes;"),
        squawk=("syntax-error",),
        squawk_note="squawk has its own parser; orchestrator's is PostgreSQL's, so its messages "
        "are the server's",
    ),
    Rule(
        "index-not-concurrent",
        ERROR,
        "CREATE INDEX on an existing table without CONCURRENTLY blocks every write to the table "
        "while the index builds.",
        "use CREATE INDEX CONCURRENTLY in a `-- migrate:up transaction:false` section",
        _file("CREATE INDEX idx_customers_email ON customers (email);", "DROP INDEX idx_customers_email;"),
        _file(
            "CREATE INDEX CONCURRENTLY idx_customers_email ON customers (email);",
            "DROP INDEX CONCURRENTLY idx_customers_email;",
            "transaction:false",
            "transaction:false",
        ),
        squawk=("require-concurrent-index-creation",),
        squawk_note="squawk knows a table is new only with `--assume-in-transaction`",
    ),
    Rule(
        "concurrently-in-transaction",
        ERROR,
        "CONCURRENTLY (or VACUUM, CREATE DATABASE, ALTER SYSTEM…) in a section that runs in a "
        "transaction: PostgreSQL refuses it, so the migration cannot run.",
        "mark the section `transaction:false` (after `-- migrate:up` or `-- migrate:down`)",
        _file(
            "CREATE INDEX CONCURRENTLY idx_customers_email ON customers (email);",
            "DROP INDEX idx_customers_email;",
        ),
        _file(
            "CREATE INDEX CONCURRENTLY idx_customers_email ON customers (email);",
            "DROP INDEX CONCURRENTLY idx_customers_email;",
            "transaction:false",
            "transaction:false",
        ),
        squawk=("ban-concurrent-index-creation-in-transaction",),
        squawk_note="squawk needs `--assume-in-transaction`, as it cannot read dbmate's markers, and "
        "checks CREATE INDEX only; orchestrator also checks DROP INDEX, REINDEX and DETACH PARTITION "
        "CONCURRENTLY, VACUUM, CREATE/DROP DATABASE and ALTER SYSTEM, in down sections too",
    ),
    Rule(
        "volatile-default",
        ERROR,
        "ADD COLUMN with a volatile default (gen_random_uuid(), random(), clock_timestamp(), an "
        "unknown function), a serial or identity column or a STORED generated column rewrites "
        "the whole table under an ACCESS EXCLUSIVE lock.",
        "add the column without the default, then SET DEFAULT, and backfill existing rows in "
        "batches in a later migration",
        _file(
            "ALTER TABLE customers ADD COLUMN external_id uuid DEFAULT gen_random_uuid();",
            "ALTER TABLE customers DROP COLUMN external_id;",
        ),
        _file(
            "ALTER TABLE customers ADD COLUMN external_id uuid;\n"
            "ALTER TABLE customers ALTER COLUMN external_id SET DEFAULT gen_random_uuid();",
            "ALTER TABLE customers DROP COLUMN external_id;",
        ),
        squawk=("adding-field-with-default",),
        squawk_note="squawk also reports PostgreSQL 18's virtual generated columns, which do not "
        "rewrite, and does not report serial columns, which do",
    ),
    Rule(
        "column-type-change",
        ERROR,
        "ALTER COLUMN … TYPE rewrites the table and its indexes under an ACCESS EXCLUSIVE lock "
        "(unless the change is binary-coercible, such as varchar(n) to text) and breaks readers "
        "of the old type.",
        "add a new column, backfill it in batches, move the app over, then drop the old column",
        _file(
            "ALTER TABLE customers ALTER COLUMN relationship_score TYPE bigint;",
            "ALTER TABLE customers ALTER COLUMN relationship_score TYPE integer;",
        ),
        _file(
            "ALTER TABLE customers ADD COLUMN relationship_score_big bigint;",
            "ALTER TABLE customers DROP COLUMN relationship_score_big;",
        ),
        squawk=("changing-column-type",),
    ),
    Rule(
        "set-not-null",
        ERROR,
        "SET NOT NULL (or ADD CONSTRAINT … NOT NULL) on an existing table scans the whole table "
        "under an ACCESS EXCLUSIVE lock.",
        "first ADD CONSTRAINT … CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a separate "
        "transaction (transaction:false or a later migration), then SET NOT NULL (no scan)",
        _file(
            "ALTER TABLE customers ALTER COLUMN email SET NOT NULL;",
            "ALTER TABLE customers ALTER COLUMN email DROP NOT NULL;",
        ),
        _file(
            "ALTER TABLE customers ADD CONSTRAINT customers_email_not_null\n"
            "    CHECK (email IS NOT NULL) NOT VALID;\n"
            "ALTER TABLE customers VALIDATE CONSTRAINT customers_email_not_null;\n"
            "ALTER TABLE customers ALTER COLUMN email SET NOT NULL;",
            "ALTER TABLE customers ALTER COLUMN email DROP NOT NULL;\n"
            "ALTER TABLE customers DROP CONSTRAINT IF EXISTS customers_email_not_null;",
            "transaction:false",
        ),
        squawk=("adding-not-nullable-field",),
    ),
    Rule(
        "foreign-key-not-valid",
        ERROR,
        "A foreign key added to an existing table without NOT VALID (or validated in the same "
        "transaction that added it) checks every row while holding a lock that blocks writes "
        "to both tables.",
        "ADD CONSTRAINT … FOREIGN KEY … NOT VALID, then VALIDATE CONSTRAINT in a separate "
        "transaction (transaction:false or a later migration)",
        _file(
            "ALTER TABLE interactions ADD CONSTRAINT interactions_customer_fk\n"
            "    FOREIGN KEY (customer_id) REFERENCES customers (id);",
            "ALTER TABLE interactions DROP CONSTRAINT interactions_customer_fk;",
        ),
        _file(
            "ALTER TABLE interactions ADD CONSTRAINT interactions_customer_fk\n"
            "    FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\n"
            "ALTER TABLE interactions VALIDATE CONSTRAINT interactions_customer_fk;",
            "ALTER TABLE interactions DROP CONSTRAINT interactions_customer_fk;",
            "transaction:false",
        ),
        squawk=("adding-foreign-key-constraint", "constraint-missing-not-valid"),
        squawk_note="squawk reports VALIDATE in the same transaction only with `--assume-in-transaction`",
    ),
    Rule(
        "check-not-valid",
        ERROR,
        "A CHECK constraint added to an existing table without NOT VALID (or validated in the "
        "same transaction that added it) scans every row under an ACCESS EXCLUSIVE lock.",
        "ADD CONSTRAINT … CHECK (…) NOT VALID, then VALIDATE CONSTRAINT in a separate "
        "transaction (transaction:false or a later migration)",
        _file(
            "ALTER TABLE customers ADD CONSTRAINT customers_score_range\n"
            "    CHECK (relationship_score BETWEEN 0 AND 100);",
            "ALTER TABLE customers DROP CONSTRAINT customers_score_range;",
        ),
        _file(
            "ALTER TABLE customers ADD CONSTRAINT customers_score_range\n"
            "    CHECK (relationship_score BETWEEN 0 AND 100) NOT VALID;\n"
            "ALTER TABLE customers VALIDATE CONSTRAINT customers_score_range;",
            "ALTER TABLE customers DROP CONSTRAINT customers_score_range;",
            "transaction:false",
        ),
        squawk=("constraint-missing-not-valid",),
    ),
    Rule(
        "unique-without-index",
        ERROR,
        "ADD PRIMARY KEY / UNIQUE / EXCLUDE on an existing table builds its index under an "
        "ACCESS EXCLUSIVE lock, blocking reads and writes.",
        "CREATE UNIQUE INDEX CONCURRENTLY first (transaction:false), then ADD CONSTRAINT … USING INDEX",
        _file(
            "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email);",
            "ALTER TABLE customers DROP CONSTRAINT customers_email_key;",
        ),
        _file(
            "CREATE UNIQUE INDEX CONCURRENTLY customers_email_key ON customers (email);\n"
            "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE USING INDEX customers_email_key;",
            "ALTER TABLE customers DROP CONSTRAINT customers_email_key;",
            "transaction:false",
        ),
        squawk=(
            "disallowed-unique-constraint",
            "adding-serial-primary-key-field",
            "constraint-missing-not-valid",
        ),
    ),
    Rule(
        "rename-column",
        ERROR,
        "BREAKING CHANGE: renaming a column breaks every running instance of the app that "
        "still uses the old name.",
        "expand and contract: add the new column, write both, backfill, move the app, drop the "
        "old column in a later release",
        _file(
            "ALTER TABLE customers RENAME COLUMN pipeline_stage TO stage;",
            "ALTER TABLE customers RENAME COLUMN stage TO pipeline_stage;",
        ),
        _file(
            "ALTER TABLE customers ADD COLUMN stage varchar(50);", "ALTER TABLE customers DROP COLUMN stage;"
        ),
        squawk=("renaming-column",),
    ),
    Rule(
        "rename-table",
        ERROR,
        "BREAKING CHANGE: renaming a table breaks every running instance of the app that still "
        "uses the old name.",
        "create the new name as a view (or the table under the new name with a view of the old "
        "one), move the app, then rename in a later release",
        _file(
            "ALTER TABLE interactions RENAME TO activities;", "ALTER TABLE activities RENAME TO interactions;"
        ),
        _file("CREATE VIEW activities AS SELECT * FROM interactions;", "DROP VIEW activities;"),
        squawk=("renaming-table",),
    ),
    Rule(
        "drop-column",
        ERROR,
        "BREAKING CHANGE: dropping a column loses its data and breaks running app instances that "
        "still read or write it.",
        "stop using the column in the app first, deploy, then drop it with "
        "`-- orchestrator:ignore drop-column <reason>`",
        _file(
            "ALTER TABLE customers DROP COLUMN company;",
            "ALTER TABLE customers ADD COLUMN company varchar(255);",
        ),
        _file(
            "-- orchestrator:ignore drop-column the app stopped using company in v2.3 (#456)\n"
            "-- squawk-ignore ban-drop-column\n"
            "ALTER TABLE customers DROP COLUMN company;",
            "ALTER TABLE customers ADD COLUMN company varchar(255);",
        ),
        squawk=("ban-drop-column",),
    ),
    Rule(
        "drop-table",
        ERROR,
        "BREAKING CHANGE: dropping a table loses its data and breaks running app instances that "
        "still use it.",
        "stop using the table first, check the backup, then drop it with "
        "`-- orchestrator:ignore drop-table <reason>`",
        _file("DROP TABLE interactions;", "CREATE TABLE interactions (id uuid PRIMARY KEY);"),
        _file(
            "-- orchestrator:ignore drop-table replaced by activities in v2.4; no reads since May\n"
            "-- squawk-ignore ban-drop-table\n"
            "DROP TABLE interactions;",
            "CREATE TABLE interactions (id uuid PRIMARY KEY);",
        ),
        squawk=("ban-drop-table",),
        squawk_note="squawk also reports DROP TABLE in down sections, where it is the normal "
        "inverse of CREATE TABLE",
    ),
    Rule(
        "empty-down",
        ERROR,
        "The down section is empty: the migration cannot be rolled back (dbmate would delete "
        "the version row and leave the schema; automatic rollback stops and asks for a restore).",
        "write the inverse SQL under `-- migrate:down`, or say why it cannot exist with "
        "`-- orchestrator:ignore empty-down <reason>` in the down section",
        _file("ALTER TABLE customers ADD COLUMN notes text;", ""),
        _file("ALTER TABLE customers ADD COLUMN notes text;", "ALTER TABLE customers DROP COLUMN notes;"),
    ),
    Rule(
        "vacuum-full",
        ERROR,
        "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock for as long as it takes.",
        "run plain VACUUM, or pg_repack / pg_squeeze outside the migration",
        _file("VACUUM FULL customers;", "SELECT 1;", "transaction:false"),
        _file("VACUUM (ANALYZE) customers;", "SELECT 1;", "transaction:false"),
    ),
    Rule(
        "cluster",
        ERROR,
        "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock for as long as it takes.",
        "mark the index with ALTER TABLE … CLUSTER ON and reorder online with pg_repack outside "
        "the migration",
        _file("CLUSTER customers USING customers_pkey;", "SELECT 1;"),
        _file(
            "ALTER TABLE customers CLUSTER ON customers_pkey;", "ALTER TABLE customers SET WITHOUT CLUSTER;"
        ),
    ),
    Rule(
        "reindex-not-concurrent",
        ERROR,
        "REINDEX without CONCURRENTLY blocks writes to the table (and reads that use the "
        "index) while it rebuilds.",
        "use REINDEX … CONCURRENTLY in a `transaction:false` section",
        _file("REINDEX INDEX idx_customers_owner_id;", "SELECT 1;"),
        _file("REINDEX INDEX CONCURRENTLY idx_customers_owner_id;", "SELECT 1;", "transaction:false"),
        squawk=("require-concurrent-reindex",),
    ),
    Rule(
        "lock-table",
        WARNING,
        "An explicit LOCK TABLE holds its lock until the migration commits, queueing every query behind it.",
        "drop the LOCK TABLE and let each statement take the lock it needs (orchestrator's "
        "lock_timeout bounds the wait)",
        _file(
            "LOCK TABLE customers IN ACCESS EXCLUSIVE MODE;\nALTER TABLE customers ADD COLUMN notes text;",
            "ALTER TABLE customers DROP COLUMN notes;",
        ),
        _file("ALTER TABLE customers ADD COLUMN notes text;", "ALTER TABLE customers DROP COLUMN notes;"),
    ),
    Rule(
        "secret-literal",
        ERROR,
        "A literal password, key or token in the SQL (CREATE/ALTER ROLE … PASSWORD '…', an AWS "
        "access key id, a 40-character secret key or a long token after a key-ish name) ends "
        "up in git, CI logs and the run log.",
        "remove it and rotate it; set it outside the migration (psql \\password, the secrets "
        "manager, or a deploy-time variable)",
        _file("CREATE ROLE reporting LOGIN PASSWORD 'Report-2024-secret';", "DROP ROLE reporting;"),
        _file(
            "-- the password is set by the secrets manager, never in SQL\nCREATE ROLE reporting LOGIN;",
            "DROP ROLE reporting;",
        ),
    ),
    Rule(
        "grant-all",
        WARNING,
        "GRANT ALL also gives TRUNCATE, TRIGGER and REFERENCES, far more than an app needs.",
        "grant only the privileges the role needs (GRANT SELECT, INSERT, UPDATE ON … TO …)",
        _file("GRANT ALL ON customers TO flowstate_app;", "REVOKE ALL ON customers FROM flowstate_app;"),
        _file(
            "GRANT SELECT, INSERT, UPDATE ON customers TO flowstate_app;",
            "REVOKE SELECT, INSERT, UPDATE ON customers FROM flowstate_app;",
        ),
    ),
    Rule(
        "dml-without-where",
        WARNING,
        "UPDATE or DELETE without WHERE touches every row of an existing table in one "
        "transaction: long row locks, bloat and a long migration.",
        "batch it (UPDATE … WHERE id IN (SELECT id … LIMIT 1000), repeated) as in the guide's "
        "'Data Migration with Batching', or add the WHERE you meant",
        _file(
            "UPDATE customers SET pipeline_stage = 'lead';",
            "UPDATE customers SET pipeline_stage = 'new' WHERE pipeline_stage = 'lead';",
        ),
        _file(
            "UPDATE customers SET pipeline_stage = 'lead'\n"
            "WHERE id IN (SELECT id FROM customers WHERE pipeline_stage = 'new' LIMIT 1000);",
            "UPDATE customers SET pipeline_stage = 'new' WHERE pipeline_stage = 'lead';",
        ),
    ),
    Rule(
        "bad-ignore",
        ERROR,
        "An `-- orchestrator:ignore` comment without a reason or with an unknown rule id: it "
        "suppresses nothing.",
        "write `-- orchestrator:ignore <rule-id> <reason>` with a known rule id and a reason",
        _file(
            "-- orchestrator:ignore drop-column\nALTER TABLE customers DROP COLUMN company;",
            "ALTER TABLE customers ADD COLUMN company varchar(255);",
        ),
        _file(
            "-- orchestrator:ignore drop-column the app stopped using company in v2.3 (#456)\n"
            "ALTER TABLE customers DROP COLUMN company;",
            "ALTER TABLE customers ADD COLUMN company varchar(255);",
        ),
        also=("drop-column",),
        suppressible=False,
    ),
    Rule(
        "unused-ignore",
        WARNING,
        "An `-- orchestrator:ignore` comment that suppresses nothing (the statement is fine, or "
        "the comment is not directly above the statement or at the end of its first line).",
        "remove the comment, or move it directly above the statement it is meant for",
        _file(
            "-- orchestrator:ignore drop-table the table has been empty since 2024\n"
            "ALTER TABLE customers ADD COLUMN notes text;",
            "ALTER TABLE customers DROP COLUMN notes;",
        ),
        _file("ALTER TABLE customers ADD COLUMN notes text;", "ALTER TABLE customers DROP COLUMN notes;"),
        suppressible=False,
    ),
)

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}

# Rules checked on a down section when linting for `up` (what would stop an automatic
# rollback, or leak); a `down` lint checks every rule on the down sections.
_DOWN_RULES_FOR_UP = frozenset(
    {"syntax-error", "concurrently-in-transaction", "empty-down", "secret-literal"}
)
_META = frozenset({"bad-ignore", "unused-ignore"})


# -- findings -------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One problem in one place.  ``line`` and ``column`` are 1-based, in the file."""

    rule: str
    severity: str
    file: Path
    line: int
    column: int
    message: str
    statement: str = ""  # an excerpt, whitespace collapsed, secrets masked
    section: str = "up"  # the section the finding is in: "up" or "down"
    suppressed: bool = False
    reason: str | None = None  # from the ignore comment, when suppressed

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    @property
    def annotation_level(self) -> str:
        """The GitHub annotation level: ``error``, ``warning`` or ``notice`` (suppressed)."""
        return "notice" if self.suppressed else self.severity

    def format(self) -> str:
        """``path:line:col: severity rule-id: message`` (``ignored`` for a suppressed one)."""
        if self.suppressed:
            return f"{self.location}: ignored {self.rule}: {self.message} (reason: {self.reason})"
        return f"{self.location}: {self.severity} {self.rule}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The run log's form (``findings[]``)."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "file": str(self.file),
            "line": self.line,
            "column": self.column,
            "section": self.section,
            "message": self.message,
            "statement": self.statement,
            "suppressed": self.suppressed,
            "reason": self.reason,
        }


def format_findings(findings: Iterable[Finding], *, show_suppressed: bool = True) -> str:
    """One line per finding, ``path:line:col: severity rule-id: message``."""
    return "\n".join(f.format() for f in findings if show_suppressed or not f.suppressed)


def summarize(findings: Sequence[Finding]) -> str:
    """``2 errors, 1 warning, 1 ignored`` (``no findings`` when empty)."""
    live = [f for f in findings if not f.suppressed]
    errors = sum(f.severity == ERROR for f in live)
    warnings = len(live) - errors
    ignored = len(findings) - len(live)
    parts = [f"{errors} error{'s' * (errors != 1)}", f"{warnings} warning{'s' * (warnings != 1)}"]
    if ignored:
        parts.append(f"{ignored} ignored")
    return ", ".join(parts) if findings else "no findings"


def effective(findings: Iterable[Finding], overrides: Mapping[str, str]) -> list[Finding]:
    """Apply an environment's severities: rule id (or ``*``) → ``error``/``warning``/``off``.

    ``off`` drops the rule's findings; the others set their severity.  A rule's own entry
    wins over ``*``.  Suppressed findings keep ``suppressed`` and their reason.
    """
    out = []
    for finding in findings:
        level = overrides.get(finding.rule, overrides.get(ALL_RULES))
        if level is None or level == finding.severity:
            out.append(finding)
        elif level != OFF:
            out.append(replace(finding, severity=level))
    return out


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that must stop a deploy: unsuppressed errors."""
    return [f for f in findings if f.severity == ERROR and not f.suppressed]


def validate_overrides(mapping: Any, source: str) -> dict[str, str]:
    """Check a config ``lint:`` mapping (rule id → error|warning|off) and return it.

    ``source`` names where it came from (``db/orchestrator.yml: environments.production.lint``)
    and starts every :class:`ConfigError`.  YAML reads a bare ``off`` as false; that is
    taken as ``off``.
    """
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise ConfigError(
            f"expected a mapping of rule id to {'|'.join(LEVELS)}, got {mapping!r}", source=source
        )
    out: dict[str, str] = {}
    for key, value in mapping.items():
        if key != ALL_RULES and key not in RULES:
            raise ConfigError(f"unknown lint rule {key!r}{_did_you_mean(str(key))}", source=source)
        if value is False:
            value = OFF
        if not isinstance(value, str) or value.strip().lower() not in LEVELS:
            raise ConfigError(f"{key}: expected error, warning or off, got {value!r}", source=source)
        out[str(key)] = value.strip().lower()
    return out


def _did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, list(RULES), n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (known: {', '.join(RULES)})"


# -- entry points ---------------------------------------------------------------------


def lint(
    migrations: Sequence[Migration],
    *,
    direction: str = "up",
    only: Collection[str] | None = None,
) -> list[Finding]:
    """Lint migrations, in order, for applying (``up``) or rolling back (``down``).

    ``up`` checks every rule on the up sections and, on the down sections, what would stop
    an automatic rollback (syntax, CONCURRENTLY in a transaction, empty) and secrets.
    ``down`` checks every rule on the down sections (the SQL a rollback runs).  ``only``
    restricts the rules checked (``{"syntax-error"}`` for a parse check).  Findings come
    with the rules' default severities; see :func:`effective`.
    """
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be 'up' or 'down', not {direction!r}")
    findings: list[Finding] = []
    for migration in migrations:
        findings += lint_migration(migration, direction=direction, only=only)
    return findings


def lint_migration(
    migration: Migration, *, direction: str = "up", only: Collection[str] | None = None
) -> list[Finding]:
    """The findings of one migration (see :func:`lint`), in file order."""
    wanted = set(RULES) if only is None else set(only)
    unknown = wanted - set(RULES)
    if unknown:
        raise ValueError(f"unknown lint rules: {', '.join(sorted(unknown))}")
    findings: list[Finding] = []
    if direction == "up":
        findings += _SectionLinter(migration, "up", wanted).run()
        findings += _SectionLinter(migration, "down", wanted & (_DOWN_RULES_FOR_UP | _META)).run()
    else:
        findings += _SectionLinter(migration, "down", wanted).run()
    return sorted(findings, key=lambda f: (f.line, f.column, f.rule))


def parse_errors(migrations: Sequence[Migration]) -> list[Finding]:
    """Syntax errors of the up and down sections (``syntax-error`` findings), honouring
    ignore comments; use :func:`blocking` on the result."""
    return lint(migrations, direction="up", only={"syntax-error"})


def load(path: Path) -> Migration:
    """Read one file for linting.  A migration file name is not required (a draft or an
    example may be linted); the file must still be in dbmate's format."""
    return read_migration(path, require_name=False)


def lint_paths(paths: Sequence[Path], migrations_dir: Path, *, direction: str = "up") -> list[Finding]:
    """``orchestrator lint [FILES]``: the named files (a directory means its migrations),
    or every migration in ``migrations_dir`` when none are named.  A malformed file raises
    :class:`MigrationFileError` as everywhere else."""
    files: list[Path] = []
    for path in paths or [migrations_dir]:
        files += migration_files(path) if path.is_dir() else [path]
    return lint([load(p) for p in files], direction=direction)


def secret_literals(migration: Migration) -> list[str]:
    """The secret string literals of a migration (both sections), so that the caller can
    ``redaction.register_secret`` them before printing the plan or writing the run log."""
    out: list[str] = []
    for name in ("up", "down"):
        section = migration.section(name)
        try:
            raws = _parse(section.sql)
            tokens = list(_scan(section.sql))
        except ParseError:
            continue
        for stmt, toks in _with_tokens([_statement(section.sql, raw) for raw in raws], tokens):
            out += [s.value for s in _secrets(stmt.node, toks, section.sql)]
    return out


# A review lints a section and then collects its secrets: parse each text once.
@functools.lru_cache(maxsize=1024)
def _parse(sql: str) -> tuple[ast.RawStmt, ...]:
    return tuple(parse_sql(sql))


@functools.lru_cache(maxsize=1024)
def _scan(sql: str) -> tuple[Any, ...]:
    return tuple(scan(sql))


# -- the linter -----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Stmt:
    node: ast.Node
    start: int  # offset of the first character of the statement in the section
    end: int  # offset after the last character (the semicolon excluded)
    index: int = 0  # position in the section


@dataclass(frozen=True)
class _Directive:
    offset: int
    line: int  # 0-based line within the section
    rule: str | None
    reason: str
    error: str | None  # why it is invalid, or None


@dataclass(frozen=True)
class _Secret:
    start: int
    end: int  # exclusive
    value: str
    what: str


_NOISE = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)
_IGNORE = re.compile(rf"^--\s*{re.escape(IGNORE_DIRECTIVE)}(?![\w-])(?P<rest>.*)$", re.DOTALL)


def _statement(sql: str, raw: ast.RawStmt, index: int = 0) -> _Stmt:
    start = raw.stmt_location or 0
    end = start + raw.stmt_len if raw.stmt_len else len(sql)
    skip = _NOISE.match(sql, start)
    if skip:
        start = min(skip.end(), end)
    while end > start and sql[end - 1] in " \t\r\n;":
        end -= 1
    return _Stmt(raw.stmt, start, end, index)


def _with_tokens(statements: list[_Stmt], tokens: list[Any]) -> Iterator[tuple[_Stmt, list[Any]]]:
    """Each statement with the lexer tokens inside it."""
    starts = [t.start for t in tokens]
    for stmt in statements:
        lo, hi = bisect.bisect_left(starts, stmt.start), bisect.bisect_left(starts, stmt.end)
        yield stmt, tokens[lo:hi]


def _key(rv: ast.RangeVar | None) -> tuple[str | None, str] | None:
    if rv is None or not getattr(rv, "relname", None):
        return None
    return (rv.schemaname or None, rv.relname)


def _key_of_names(names: Sequence[Any]) -> tuple[str | None, str]:
    parts = [n.sval for n in names if isinstance(n, ast.String)]
    return (parts[-2] if len(parts) > 1 else None, parts[-1] if parts else "")


def _name(key: tuple[str | None, str] | None) -> str:
    if key is None:
        return "?"
    return f"{key[0]}.{key[1]}" if key[0] else key[1]


class _SectionLinter:
    """Lint one section of one migration, statement by statement, tracking what the
    section created and which transaction each statement runs in."""

    def __init__(self, migration: Migration, which: str, rules: set[str]) -> None:
        self.migration = migration
        self.which = which
        self.section: Section = migration.section(which)
        self.sql = self.section.sql
        self.rules = rules
        self.raw: list[tuple[str, int, str, _Stmt | None]] = []  # rule, offset, what, statement
        self.created: set[tuple[str | None, str]] = set()
        self.not_valid: dict[tuple[tuple[str | None, str] | None, str], tuple[str, int]] = {}
        self.not_null_pending: dict[tuple[tuple[str | None, str] | None, str], str] = {}
        self.not_null_checks: set[tuple[tuple[str | None, str] | None, str]] = set()
        self.secrets: dict[int, list[_Secret]] = {}
        self.tx = 0
        self.in_block = False
        self.lines = self.sql.split("\n")
        self.tokens: list[Any] | None = None
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", self.sql)]

    # where things are

    def _line_col(self, offset: int) -> tuple[int, int]:
        rel = self._rel_line(offset)
        return self.section.line + rel, offset - self.line_starts[rel] + 1

    def _rel_line(self, offset: int) -> int:
        return bisect.bisect_right(self.line_starts, offset) - 1

    # the run

    def run(self) -> list[Finding]:
        try:
            raws = _parse(self.sql)
        except ParseError as exc:
            return self._finish([], self._syntax_error(exc))
        statements = [_statement(self.sql, raw, index) for index, raw in enumerate(raws)]
        for stmt, toks in _with_tokens(statements, self._tokens()):
            self.secrets[stmt.index] = _secrets(stmt.node, toks, self.sql)
            self._check(stmt)
        if (
            not [s for s in statements if not isinstance(s.node, ast.TransactionStmt)]
            and self.which == "down"
        ):
            self._emit("empty-down", 0, "the down section is empty", None)
        return self._finish(statements, [])

    def _tokens(self) -> list[Any]:
        if self.tokens is None:
            try:
                self.tokens = list(_scan(self.sql))
            except ParseError:
                self.tokens = []
        return self.tokens

    def _syntax_error(self, exc: ParseError) -> list[tuple[str, int, str, _Stmt | None]]:
        message = str(exc.args[0]) if exc.args else str(exc)
        location = exc.args[1] if len(exc.args) > 1 else None
        if location is None:  # "at end of input": point after the last token
            code = [t for t in self._tokens() if t.name not in ("SQL_COMMENT", "C_COMMENT")]
            location = code[-1].end + 1 if code else len(self.sql.rstrip())
        return [("syntax-error", min(location, len(self.sql)), message, None)]

    # findings

    def _emit(self, rule: str, offset: int, what: str, stmt: _Stmt | None) -> None:
        self.raw.append((rule, offset, what, stmt))

    def _finish(
        self, statements: list[_Stmt], extra: list[tuple[str, int, str, _Stmt | None]]
    ) -> list[Finding]:
        self.raw += extra
        directives = self._directives()
        used: set[int] = set()
        seen: set[tuple[str, int | None]] = set()
        findings: list[Finding] = []
        for rule_id, offset, what, stmt in self.raw:
            if rule_id not in self.rules:
                continue
            dedupe = (rule_id, stmt.start if stmt else offset)
            if dedupe in seen:
                continue
            seen.add(dedupe)
            rule = RULES[rule_id]
            candidates = self._attached(stmt, directives) if stmt else directives
            match = next((d for d in candidates if d.error is None and d.rule == rule_id), None)
            line, column = self._line_col(offset)
            finding = Finding(
                rule=rule_id,
                severity=rule.severity,
                file=self.migration.path,
                line=line,
                column=column,
                message=f"{what}; {rule.fix}",
                statement=self._excerpt(stmt),
                section=self.which,
            )
            if match is not None and rule.suppressible:
                used.add(match.offset)
                finding = replace(finding, suppressed=True, reason=match.reason)
            findings.append(finding)
        for d in directives:
            line, column = self._line_col(d.offset)
            if d.error is not None:
                if "bad-ignore" in self.rules:
                    rule = RULES["bad-ignore"]
                    findings.append(
                        Finding(
                            "bad-ignore",
                            rule.severity,
                            self.migration.path,
                            line,
                            column,
                            f"{d.error}; {rule.fix}",
                            section=self.which,
                        )
                    )
            elif d.offset not in used and d.rule in self.rules and "unused-ignore" in self.rules:
                rule = RULES["unused-ignore"]
                findings.append(
                    Finding(
                        "unused-ignore",
                        rule.severity,
                        self.migration.path,
                        line,
                        column,
                        f"`{IGNORE_DIRECTIVE} {d.rule}` suppresses nothing here; {rule.fix}",
                        section=self.which,
                    )
                )
        return findings

    def _excerpt(self, stmt: _Stmt | None) -> str:
        if stmt is None:
            return ""
        text = self.sql[stmt.start : stmt.end]
        for secret in sorted(self.secrets.get(stmt.index, []), key=lambda s: -s.start):
            a, b = secret.start - stmt.start, secret.end - stmt.start
            text = text[:a] + f"'{_mask(secret.value)}'" + text[b:]
        text = " ".join(_strip_comments(text).split())
        text = redact(text)
        return text if len(text) <= 120 else text[:119] + "…"

    # ignore comments

    def _directives(self) -> list[_Directive]:
        comments: list[tuple[int, str]] = []
        tokens = self._tokens()
        if tokens:
            comments = [(t.start, self.sql[t.start : t.end + 1]) for t in tokens if t.name == "SQL_COMMENT"]
        else:  # the lexer gave up (e.g. an unterminated string): fall back to line comments
            for m in re.finditer(r"--[^\n]*", self.sql):
                comments.append((m.start(), m.group()))
        out = []
        for offset, text in comments:
            m = _IGNORE.match(text)
            if not m:
                continue
            rest = m["rest"].strip()
            rule, _, reason = rest.partition(" ")
            reason = reason.strip()
            error = None
            if not rule:
                error = f"`{IGNORE_DIRECTIVE}` names no rule"
            elif rule not in RULES:
                error = f"`{IGNORE_DIRECTIVE}` names an unknown rule {rule!r}{_did_you_mean(rule)}"
            elif not RULES[rule].suppressible:
                error = f"{rule} cannot be ignored"
            elif not reason:
                error = f"`{IGNORE_DIRECTIVE} {rule}` gives no reason, so it suppresses nothing"
            out.append(_Directive(offset, self._rel_line(offset), rule or None, reason, error))
        return out

    def _attached(self, stmt: _Stmt, directives: list[_Directive]) -> list[_Directive]:
        """Directives in the comment block directly above ``stmt`` or at the end of its
        first line."""
        first = self._rel_line(stmt.start)
        lines = self.lines
        above = set()
        line = first - 1
        while line >= 0 and lines[line].strip().startswith("--"):
            above.add(line)
            line -= 1
        return [d for d in directives if d.line in above or (d.line == first and d.offset > stmt.start)]

    # the checks

    def _is_new(self, key: tuple[str | None, str] | None) -> bool:
        if key is None:
            return False
        return any(
            name == key[1] and (schema is None or key[0] is None or schema == key[0])
            for schema, name in self.created
        )

    def _check(self, stmt: _Stmt) -> None:
        node = stmt.node
        at = stmt.start
        in_tx = self.section.transaction or self.in_block
        if not in_tx:
            self.tx += 1  # each statement is its own transaction
        if isinstance(node, ast.TransactionStmt):
            if not self.section.transaction:
                if node.kind in (TransactionStmtKind.TRANS_STMT_BEGIN, TransactionStmtKind.TRANS_STMT_START):
                    self.in_block = True
                elif node.kind in (
                    TransactionStmtKind.TRANS_STMT_COMMIT,
                    TransactionStmtKind.TRANS_STMT_ROLLBACK,
                ):
                    self.in_block = False
            return

        no_tx = _needs_no_transaction(node)
        if no_tx and in_tx:
            where = (
                "this section runs in a transaction"
                if self.section.transaction
                else "it is inside BEGIN … COMMIT"
            )
            self._emit(
                "concurrently-in-transaction",
                at,
                f"{no_tx} cannot run inside a transaction block and {where}",
                stmt,
            )

        secrets = self.secrets.get(stmt.index, [])
        if secrets:
            what = ", ".join(f"{s.what} ('{_mask(s.value)}')" for s in secrets)
            self._emit("secret-literal", secrets[0].start, f"{what} in the SQL", stmt)

        created = None
        if isinstance(node, ast.CreateStmt):
            created = _key(node.relation)
        elif isinstance(node, ast.CreateTableAsStmt) and node.into is not None:
            created = _key(node.into.rel)
        elif isinstance(node, ast.SelectStmt) and node.intoClause is not None:
            created = _key(node.intoClause.rel)
        if created is not None:
            self.created.add(created)
        elif isinstance(node, ast.IndexStmt):
            table = _key(node.relation)
            if not node.concurrent and not self._is_new(table):
                kind = "CREATE UNIQUE INDEX" if node.unique else "CREATE INDEX"
                if node.idxname:
                    kind += f" {node.idxname}"
                self._emit(
                    "index-not-concurrent",
                    at,
                    f"{kind} on existing table {_name(table)} blocks writes while it builds",
                    stmt,
                )
        elif isinstance(node, ast.AlterTableStmt):
            self._alter_table(node, stmt)
        elif isinstance(node, ast.RenameStmt):
            table = _key(node.relation)
            if node.renameType == ObjectType.OBJECT_COLUMN and not self._is_new(table):
                self._emit(
                    "rename-column",
                    at,
                    f"renames column {_name(table)}.{node.subname} to {node.newname}",
                    stmt,
                )
            elif node.renameType == ObjectType.OBJECT_TABLE:
                if self._is_new(table):
                    self.created.add((table[0] if table else None, node.newname))
                else:
                    self._emit("rename-table", at, f"renames table {_name(table)} to {node.newname}", stmt)
        elif isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_TABLE:
            dropped = [_key_of_names(names) for names in node.objects or ()]
            old = [k for k in dropped if not self._is_new(k)]
            if old:
                self._emit("drop-table", at, f"drops table {', '.join(_name(k) for k in old)}", stmt)
        elif isinstance(node, ast.VacuumStmt):
            if node.is_vacuumcmd and _option(node.options, "full"):
                tables = [_key(r.relation) for r in node.rels or ()]
                if not tables or not all(self._is_new(t) for t in tables):
                    self._emit(
                        "vacuum-full",
                        at,
                        f"VACUUM FULL {', '.join(_name(t) for t in tables) or '(every table)'} "
                        "locks out reads and writes while it rewrites",
                        stmt,
                    )
        elif isinstance(node, ast.ClusterStmt):
            table = _key(node.relation)
            if not self._is_new(table):
                self._emit(
                    "cluster",
                    at,
                    f"CLUSTER {_name(table) if table else '(every clustered table)'} "
                    "locks out reads and writes while it rewrites",
                    stmt,
                )
        elif isinstance(node, ast.ReindexStmt):
            table = _key(node.relation)
            if not _option(node.params, "concurrently") and not self._is_new(table):
                target = _name(table) if table else (node.name or "")
                self._emit(
                    "reindex-not-concurrent", at, f"REINDEX {target} without CONCURRENTLY blocks writes", stmt
                )
        elif isinstance(node, ast.LockStmt):
            tables = [_key(r) for r in node.relations or ()]
            if not all(self._is_new(t) for t in tables):
                self._emit(
                    "lock-table",
                    at,
                    f"LOCK TABLE {', '.join(_name(t) for t in tables)} holds "
                    "its lock until the migration commits",
                    stmt,
                )
        elif isinstance(node, (ast.UpdateStmt, ast.DeleteStmt)):
            table = _key(node.relation)
            if node.whereClause is None and not self._is_new(table):
                verb = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
                self._emit(
                    "dml-without-where", at, f"{verb} without WHERE touches every row of {_name(table)}", stmt
                )
        if isinstance(node, ast.GrantStmt):
            self._grant(node, stmt)
        elif isinstance(node, ast.AlterDefaultPrivilegesStmt) and node.action is not None:
            self._grant(node.action, stmt, default=True)

    def _grant(self, node: ast.GrantStmt, stmt: _Stmt, default: bool = False) -> None:
        if node.is_grant and not node.privileges:
            grantees = ", ".join(_role(g) for g in node.grantees or ())
            if default:
                on = "by default on new objects"
            else:
                names = [
                    _name(_key(o)) if isinstance(o, ast.RangeVar) else getattr(o, "sval", None) or "…"
                    for o in node.objects or ()
                ]
                every = "all objects in schema " if int(node.targtype) == 1 else ""
                on = f"on {every}{', '.join(names)}" if names else ""
            self._emit("grant-all", stmt.start, f"GRANT ALL {on} to {grantees}".replace("  ", " "), stmt)

    def _alter_table(self, node: ast.AlterTableStmt, stmt: _Stmt) -> None:
        table = _key(node.relation)
        new = self._is_new(table)
        at = stmt.start
        name = _name(table)
        for cmd in node.cmds or ():
            sub = cmd.subtype
            if sub == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                col = cmd.def_
                if not new:
                    why = _rewriting_column(col)
                    if why:
                        self._emit(
                            "volatile-default",
                            at,
                            f"ADD COLUMN {name}.{col.colname} {why} rewrites the table",
                            stmt,
                        )
                    for c in col.constraints or ():
                        if c.contype == ConstrType.CONSTR_FOREIGN:
                            self._emit(
                                "foreign-key-not-valid",
                                at,
                                f"ADD COLUMN {name}.{col.colname} REFERENCES validates every row of {name}",
                                stmt,
                            )
                        elif c.contype in (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE):
                            what = "PRIMARY KEY" if c.contype == ConstrType.CONSTR_PRIMARY else "UNIQUE"
                            self._emit(
                                "unique-without-index",
                                at,
                                f"ADD COLUMN {name}.{col.colname} {what} builds "
                                f"an index on {name} under an ACCESS EXCLUSIVE lock",
                                stmt,
                            )
            elif sub == AlterTableType.AT_AlterColumnType and not new:
                self._emit(
                    "column-type-change", at, f"ALTER COLUMN {name}.{cmd.name} TYPE rewrites {name}", stmt
                )
            elif sub == AlterTableType.AT_SetNotNull:
                if not new and (table, cmd.name) not in self.not_null_checks:
                    self._emit(
                        "set-not-null",
                        at,
                        f"SET NOT NULL on {name}.{cmd.name} scans {name} under an ACCESS EXCLUSIVE lock",
                        stmt,
                    )
            elif sub == AlterTableType.AT_DropColumn and not new:
                self._emit("drop-column", at, f"drops column {name}.{cmd.name}", stmt)
            elif sub == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
                self._add_constraint(cmd.def_, table, new, stmt)
            elif sub == AlterTableType.AT_ValidateConstraint:
                column = self.not_null_pending.get((table, cmd.name))
                if column:  # a validated CHECK (col IS NOT NULL): SET NOT NULL needs no scan
                    self.not_null_checks.add((table, column))
                added = self.not_valid.get((table, cmd.name))
                if added is None:
                    continue
                contype, tx = added
                if tx == self.tx and (self.section.transaction or self.in_block):
                    rule = {"foreign": "foreign-key-not-valid", "check": "check-not-valid"}.get(
                        contype, "set-not-null"
                    )
                    self._emit(
                        rule,
                        at,
                        f"VALIDATE CONSTRAINT {cmd.name} runs in the transaction that added it "
                        "NOT VALID, so the lock is held while every row is checked",
                        stmt,
                    )

    def _add_constraint(
        self, con: ast.Constraint, table: tuple[str | None, str] | None, new: bool, stmt: _Stmt
    ) -> None:
        at, name = stmt.start, _name(table)
        kinds = {
            ConstrType.CONSTR_FOREIGN: "foreign",
            ConstrType.CONSTR_CHECK: "check",
            ConstrType.CONSTR_NOTNULL: "notnull",
        }
        kind = kinds.get(con.contype)
        if kind is not None and con.skip_validation:
            if con.conname:
                self.not_valid[(table, con.conname)] = (kind, self.tx)
                if kind == "check":
                    column = _not_null_column(con.raw_expr)
                    if column:
                        self.not_null_pending[(table, con.conname)] = column
            return
        if new:
            return
        label = f" {con.conname}" if con.conname else ""
        if kind == "foreign":
            self._emit(
                "foreign-key-not-valid",
                at,
                f"ADD CONSTRAINT{label} FOREIGN KEY without NOT VALID checks every row of {name}",
                stmt,
            )
        elif kind == "check":
            self._emit(
                "check-not-valid", at, f"ADD CONSTRAINT{label} CHECK without NOT VALID scans {name}", stmt
            )
        elif kind == "notnull":
            self._emit(
                "set-not-null", at, f"ADD CONSTRAINT{label} NOT NULL without NOT VALID scans {name}", stmt
            )
        elif (
            con.contype in (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_EXCLUSION)
            and not con.indexname
        ):
            what = {ConstrType.CONSTR_PRIMARY: "PRIMARY KEY", ConstrType.CONSTR_UNIQUE: "UNIQUE"}.get(
                con.contype, "EXCLUDE"
            )
            self._emit(
                "unique-without-index",
                at,
                f"ADD CONSTRAINT{label} {what} builds an index on {name} under an ACCESS EXCLUSIVE lock",
                stmt,
            )


# -- helpers on the syntax tree ---------------------------------------------------------


def _walk(node: Any) -> Iterator[ast.Node]:
    if isinstance(node, ast.Node):
        yield node
        for attr in type(node).__slots__:
            yield from _walk(getattr(node, attr, None))
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _walk(item)


def _option(options: Sequence[Any] | None, name: str) -> bool:
    for opt in options or ():
        if isinstance(opt, ast.DefElem) and opt.defname == name:
            arg = opt.arg
            if arg is None:
                return True
            value = getattr(arg, "sval", None) or getattr(arg, "ival", None) or getattr(arg, "boolval", None)
            return str(value).lower() not in ("false", "off", "0", "none")
    return False


def _role(spec: Any) -> str:
    if isinstance(spec, ast.RoleSpec):
        return spec.rolename or {
            0: "?",
            1: "CURRENT_ROLE",
            2: "CURRENT_USER",
            3: "SESSION_USER",
            4: "PUBLIC",
        }.get(int(spec.roletype), "?")
    return "?"


def _needs_no_transaction(node: ast.Node) -> str | None:
    """What in ``node`` cannot run inside a transaction block, or None."""
    if isinstance(node, ast.IndexStmt) and node.concurrent:
        return "CREATE INDEX CONCURRENTLY"
    if isinstance(node, ast.DropStmt) and node.concurrent:
        return "DROP INDEX CONCURRENTLY"
    if isinstance(node, ast.ReindexStmt) and _option(node.params, "concurrently"):
        return "REINDEX CONCURRENTLY"
    if isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd:
        return "VACUUM"
    if isinstance(node, ast.AlterTableStmt):
        for cmd in node.cmds or ():
            if cmd.subtype == AlterTableType.AT_DetachPartition and getattr(cmd.def_, "concurrent", False):
                return "DETACH PARTITION CONCURRENTLY"
    names = {
        ast.CreatedbStmt: "CREATE DATABASE",
        ast.DropdbStmt: "DROP DATABASE",
        ast.AlterSystemStmt: "ALTER SYSTEM",
        ast.CreateTableSpaceStmt: "CREATE TABLESPACE",
        ast.DropTableSpaceStmt: "DROP TABLESPACE",
    }
    return names.get(type(node))


# Functions whose result does not change within a statement (immutable or stable): a
# default calling only these is evaluated once, so ADD COLUMN needs no rewrite.
_NON_VOLATILE = frozenset(
    (
        "now",
        "transaction_timestamp",
        "statement_timestamp",
        "current_timestamp",
        "localtimestamp",
        "current_date",
        "current_time",
        "localtime",
        "current_setting",
        "current_user",
        "current_schema",
        "current_database",
        "lower",
        "upper",
        "btrim",
        "ltrim",
        "rtrim",
        "trim",
        "concat",
        "concat_ws",
        "length",
        "char_length",
        "octet_length",
        "substr",
        "substring",
        "replace",
        "left",
        "right",
        "lpad",
        "rpad",
        "md5",
        "sha256",
        "encode",
        "decode",
        "to_char",
        "to_date",
        "to_timestamp",
        "to_number",
        "date_trunc",
        "date_part",
        "extract",
        "make_date",
        "make_time",
        "make_timestamp",
        "make_timestamptz",
        "make_interval",
        "age",
        "abs",
        "round",
        "ceil",
        "floor",
        "trunc",
        "greatest",
        "least",
        "coalesce",
        "nullif",
        "jsonb_build_object",
        "json_build_object",
        "jsonb_build_array",
        "json_build_array",
        "to_jsonb",
        "to_json",
        "array_fill",
        "array_length",
        "cardinality",
        "int4",
        "int8",
        "text",
        "numeric",
        "timezone",
    )
)


_VOLATILE = frozenset(
    (
        "random",
        "random_normal",
        "gen_random_uuid",
        "uuidv4",
        "uuidv7",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "clock_timestamp",
        "timeofday",
        "nextval",
        "setval",
        "txid_current",
        "pg_current_xact_id",
        "gen_random_bytes",
    )
)


def _rewriting_column(col: ast.ColumnDef) -> str | None:
    """Why adding ``col`` to an existing table rewrites it, or None."""
    type_name = ""
    if col.typeName is not None and col.typeName.names:
        type_name = col.typeName.names[-1].sval.lower()
    if type_name in ("serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"):
        return f"of type {type_name} (its nextval() default is volatile)"
    for c in col.constraints or ():
        if c.contype == ConstrType.CONSTR_IDENTITY:
            return "GENERATED AS IDENTITY"
        if c.contype == ConstrType.CONSTR_GENERATED and c.generated_kind == "s":
            return "GENERATED ALWAYS AS (…) STORED"
        if c.contype == ConstrType.CONSTR_DEFAULT and c.raw_expr is not None:
            for sub in _walk(c.raw_expr):
                if isinstance(sub, ast.FuncCall):
                    fname = sub.funcname[-1].sval.lower()
                    if fname in _VOLATILE:
                        return f"DEFAULT {fname}() (volatile)"
                    if fname not in _NON_VOLATILE:
                        return f"DEFAULT {fname}() (not known to be stable, so taken as volatile)"
                if isinstance(sub, ast.SubLink):
                    return "DEFAULT with a subquery"
    return None


def _not_null_column(expr: Any) -> str | None:
    if isinstance(expr, ast.NullTest) and int(expr.nulltesttype) == 1 and isinstance(expr.arg, ast.ColumnRef):
        fields = [f.sval for f in expr.arg.fields if isinstance(f, ast.String)]
        return fields[-1] if fields else None
    return None


def _strip_comments(text: str) -> str:
    try:
        tokens = list(scan(text))
    except ParseError:
        return text
    for t in sorted((t for t in tokens if t.name in ("SQL_COMMENT", "C_COMMENT")), key=lambda t: -t.start):
        text = text[: t.start] + " " + text[t.end + 1 :]
    return text


# -- secrets --------------------------------------------------------------------------

_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
_SECRET_KEY_40 = re.compile(r"^[A-Za-z0-9/+=]{40}$")
_PASSWORDISH = re.compile(r"pass(?:word|wd)?|pwd", re.IGNORECASE)
_KEYISH = re.compile(
    r"pass(?:word|wd)|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|"
    r"signing[_-]?key|credential|bearer",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(r"^(?:\$\{.*\}|\{\{.*\}\}|<.*>|\*+|:\w+|%\(\w+\)s|changeme_in_env)$", re.DOTALL)


def _literal(sql: str, token: Any) -> str | None:
    text = sql[token.start : token.end + 1]
    if text[:1] in "eE" and text[1:2] == "'":
        text = text[1:]
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return text[1:-1].replace("''", "'")
    return None  # dollar-quoted (a function body), U&'', bit strings: not checked


def _looks_like_credential(value: str, passwordish: bool) -> bool:
    if not value or _PLACEHOLDER.match(value) or any(ch.isspace() for ch in value):
        return False
    if passwordish:
        return len(value) >= 4
    if _SECRET_KEY_40.match(value) and (any(c.isdigit() for c in value) or "/" in value):
        return True  # shaped like an AWS secret access key
    classes = sum(
        (any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value))
    )
    if len(value) >= 16 and classes >= 3:
        return True
    return len(value) >= 32 and classes >= 2 and any(c.isdigit() for c in value)


def _secrets(node: ast.Node, tokens: list[Any], sql: str) -> list[_Secret]:
    """Secret literals in one statement, with their token spans in the section."""
    if not tokens:
        return []
    text = sql[tokens[0].start : tokens[-1].end + 1]
    if not _KEYISH.search(text) and not _AWS_KEY_ID.search(text):
        return []  # every kind of secret below needs one of these in the statement
    literals = [(t, _literal(sql, t)) for t in tokens if t.name == "SCONST"]
    literals = [(t, v) for t, v in literals if v is not None]
    found: dict[int, _Secret] = {}

    def take(value: str, what: str, after: int = -1) -> None:
        for t, v in literals:
            if v == value and t.start > after and t.start not in found:
                found[t.start] = _Secret(t.start, t.end + 1, value, what)
                return

    # From the tree: role passwords, key-ish options, INSERT columns and UPDATE targets.
    for sub in _walk(node):
        if isinstance(sub, (ast.CreateRoleStmt, ast.AlterRoleStmt)):
            role = sub.role if isinstance(sub, ast.CreateRoleStmt) else _role(sub.role)
            for opt in sub.options or ():
                if (
                    opt.defname == "password"
                    and isinstance(opt.arg, ast.String)
                    and opt.arg.sval
                    and not _PLACEHOLDER.match(opt.arg.sval)
                ):
                    take(opt.arg.sval, f"literal password for role {role}")
        elif (
            isinstance(sub, ast.DefElem)
            and sub.defname
            and _KEYISH.search(sub.defname)
            and isinstance(sub.arg, ast.String)
            and sub.defname != "password"
        ):
            if _looks_like_credential(sub.arg.sval, bool(_PASSWORDISH.fullmatch(sub.defname))):
                take(sub.arg.sval, f"literal {sub.defname}")
        elif isinstance(sub, ast.DefElem) and sub.defname == "password" and isinstance(sub.arg, ast.String):
            if _looks_like_credential(sub.arg.sval, True):
                take(sub.arg.sval, "literal password")
        elif isinstance(sub, ast.InsertStmt) and sub.cols and isinstance(sub.selectStmt, ast.SelectStmt):
            names = [c.name or "" for c in sub.cols]
            for row in sub.selectStmt.valuesLists or ():
                for col, value in zip(names, row):
                    sval = _const_string(value)
                    if (
                        sval is not None
                        and _KEYISH.search(col)
                        and _looks_like_credential(sval, bool(_PASSWORDISH.search(col)))
                    ):
                        take(sval, f"literal {col}")
        elif isinstance(sub, ast.UpdateStmt):
            for target in sub.targetList or ():
                sval = _const_string(getattr(target, "val", None))
                if (
                    sval is not None
                    and target.name
                    and _KEYISH.search(target.name)
                    and _looks_like_credential(sval, bool(_PASSWORDISH.search(target.name)))
                ):
                    take(sval, f"literal {target.name}")
        elif isinstance(sub, ast.VariableSetStmt) and sub.name and _KEYISH.search(sub.name):
            for arg in sub.args or ():
                sval = _const_string(arg)
                if sval is not None and _looks_like_credential(sval, bool(_PASSWORDISH.search(sub.name))):
                    take(sval, f"literal {sub.name}")

    # From the tokens: AWS key ids anywhere, credentials right after a key-ish name.
    significant = [t for t in tokens if t.name not in ("SQL_COMMENT", "C_COMMENT")]
    for i, t in enumerate(significant):
        if t.name != "SCONST" or t.start in found:
            continue
        value = _literal(sql, t)
        if value is None:
            continue
        if _AWS_KEY_ID.search(value):
            found[t.start] = _Secret(t.start, t.end + 1, value, "AWS access key id")
            continue
        before = [sql[p.start : p.end + 1] for p in significant[max(0, i - 3) : i]]
        keyish = [b for b in before if _KEYISH.search(b)]
        if not keyish:
            continue
        passwordish = any(_PASSWORDISH.search(b) for b in keyish)
        if _SECRET_KEY_40.match(value) and _looks_like_credential(value, False):
            found[t.start] = _Secret(t.start, t.end + 1, value, "secret key after " + keyish[-1].strip("'\""))
        elif _looks_like_credential(value, passwordish):
            found[t.start] = _Secret(
                t.start, t.end + 1, value, "literal value for " + keyish[-1].strip("'\"")
            )
    return sorted(found.values(), key=lambda s: s.start)


def _const_string(node: Any) -> str | None:
    if isinstance(node, ast.A_Const) and isinstance(getattr(node, "val", None), ast.String):
        return node.val.sval
    if isinstance(node, ast.TypeCast):
        return _const_string(node.arg)
    return None


def _mask(value: str) -> str:
    """A secret as shown: AWS key ids keep their public prefix, everything else is masked."""
    if _AWS_KEY_ID.fullmatch(value):
        return value[:4] + "*" * 16
    return MASK


# -- documentation --------------------------------------------------------------------


def rules_table_markdown() -> str:
    """The README's summary table: rule, default severity, what it catches, squawk's rules."""
    out = ["| rule | default | catches | squawk |", "| --- | --- | --- | --- |"]
    for rule in RULES.values():
        squawk = ", ".join(f"`{s}`" for s in rule.squawk) if rule.squawk else "none"
        out.append(
            f"| [`{rule.id}`](#{rule.id}-{rule.severity}) | {rule.severity} | {rule.title} | {squawk} |"
        )
    return "\n".join(out) + "\n"


def shown_example(text: str) -> str:
    """An example as the README shows it: the up section, or the whole file when its down
    section matters (empty, or with options such as ``transaction:false``)."""
    up, marker, down = text.partition("\n\n-- migrate:down")
    options, _, body = down.partition("\n")
    if not marker or options.strip() or not body.strip():
        return text.rstrip("\n")
    return up.rstrip("\n")


def rules_markdown() -> str:
    """The README's per-rule reference: id, severity, what, fix, squawk, bad and good example."""
    out = []
    for rule in RULES.values():
        squawk = ", ".join(f"`{s}`" for s in rule.squawk) if rule.squawk else "none"
        out += [
            f"#### `{rule.id}` ({rule.severity})",
            "",
            f"{rule.title} Fix: {rule.fix}. squawk: {squawk}."
            + (f" {rule.squawk_note[0].upper()}{rule.squawk_note[1:]}." if rule.squawk_note else ""),
            "",
            "```sql",
            "-- ✗ bad",
            shown_example(rule.bad),
            "",
            "-- ✓ good",
            shown_example(rule.good),
            "```",
            "",
        ]
    return "\n".join(out)
