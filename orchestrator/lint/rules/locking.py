"""Rules about locks: statements that block reads or writes while they build an index, and
statements PostgreSQL refuses inside a transaction block."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from ..context import Context
from ..rule import ERROR, WARNING, Hit, Rule, example
from ..statements import Step
from ..tree import name, option, table_key

_OUTSIDE_TRANSACTIONS = {
    ast.CreatedbStmt: "CREATE DATABASE",
    ast.DropdbStmt: "DROP DATABASE",
    ast.AlterSystemStmt: "ALTER SYSTEM",
    ast.CreateTableSpaceStmt: "CREATE TABLESPACE",
    ast.DropTableSpaceStmt: "DROP TABLESPACE",
}
_INDEXED = {
    ConstrType.CONSTR_PRIMARY: "PRIMARY KEY",
    ConstrType.CONSTR_UNIQUE: "UNIQUE",
    ConstrType.CONSTR_EXCLUSION: "EXCLUDE",
}


def _index_not_concurrent(step: Step, ctx: Context) -> Iterator[Hit]:
    node = step.node
    if isinstance(node, ast.IndexStmt) and not node.concurrent:
        table = table_key(node.relation)
        if not ctx.is_new(table):
            kind = "CREATE UNIQUE INDEX" if node.unique else "CREATE INDEX"
            if node.idxname:
                kind += f" {node.idxname}"
            yield Hit(f"{kind} on existing table {name(table)} blocks writes while it builds")


def _needs_no_transaction(node: ast.Node) -> str | None:
    """What in ``node`` cannot run inside a transaction block, or None."""
    if isinstance(node, ast.IndexStmt) and node.concurrent:
        return "CREATE INDEX CONCURRENTLY"
    if isinstance(node, ast.DropStmt) and node.concurrent:
        return "DROP INDEX CONCURRENTLY"
    if isinstance(node, ast.ReindexStmt) and option(node.params, "concurrently"):
        return "REINDEX CONCURRENTLY"
    if isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd:
        return "VACUUM"
    if (
        isinstance(node, ast.AlterTableCmd)
        and node.subtype == AlterTableType.AT_DetachPartition
        and getattr(node.def_, "concurrent", False)
    ):
        return "DETACH PARTITION CONCURRENTLY"
    return _OUTSIDE_TRANSACTIONS.get(type(node))


def _concurrently_in_transaction(step: Step, ctx: Context) -> Iterator[Hit]:
    what = _needs_no_transaction(step.node)
    if what and ctx.transaction:
        yield Hit(f"{what} cannot run inside a transaction block and {ctx.transaction}")


def _unique_without_index(step: Step, ctx: Context) -> Iterator[Hit]:
    if ctx.is_new(step.table):
        return
    table = name(step.table)
    lock = f"builds an index on {table} under an ACCESS EXCLUSIVE lock"
    col = step.added_column()
    if col is not None:
        for con in col.constraints or ():
            if con.contype in (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE):
                yield Hit(f"ADD COLUMN {table}.{col.colname} {_INDEXED[con.contype]} {lock}")
    con = step.added_constraint()
    if con is not None and con.contype in _INDEXED and not con.indexname:
        label = f" {con.conname}" if con.conname else ""
        yield Hit(f"ADD CONSTRAINT{label} {_INDEXED[con.contype]} {lock}")


def _reindex_not_concurrent(step: Step, ctx: Context) -> Iterator[Hit]:
    node = step.node
    if isinstance(node, ast.ReindexStmt) and not option(node.params, "concurrently"):
        table = table_key(node.relation)
        if not ctx.is_new(table):
            target = name(table) if table else (node.name or "")
            yield Hit(f"REINDEX {target} without CONCURRENTLY blocks writes")


def _lock_table(step: Step, ctx: Context) -> Iterator[Hit]:
    node = step.node
    if isinstance(node, ast.LockStmt):
        tables = [table_key(r) for r in node.relations or ()]
        if not all(ctx.is_new(t) for t in tables):
            names = ", ".join(name(t) for t in tables)
            yield Hit(f"LOCK TABLE {names} holds its lock until the migration commits")


_CONCURRENT_INDEX = example(
    "CREATE INDEX CONCURRENTLY idx_customers_email ON customers (email);",
    "DROP INDEX CONCURRENTLY idx_customers_email;",
    "transaction:false",
    "transaction:false",
)

RULES = (
    Rule(
        "index-not-concurrent",
        ERROR,
        "CREATE INDEX on an existing table without CONCURRENTLY blocks every write to the table "
        "while the index builds.",
        "use CREATE INDEX CONCURRENTLY in a `-- migrate:up transaction:false` section",
        example("CREATE INDEX idx_customers_email ON customers (email);", "DROP INDEX idx_customers_email;"),
        _CONCURRENT_INDEX,
        check=_index_not_concurrent,
        squawk=("require-concurrent-index-creation",),
        squawk_note="squawk knows a table is new only with `--assume-in-transaction`",
    ),
    Rule(
        "concurrently-in-transaction",
        ERROR,
        "CONCURRENTLY (or VACUUM, CREATE DATABASE, ALTER SYSTEM…) in a section that runs in a "
        "transaction: PostgreSQL refuses it, so the migration cannot run.",
        "mark the section `transaction:false` (after `-- migrate:up` or `-- migrate:down`)",
        example(
            "CREATE INDEX CONCURRENTLY idx_customers_email ON customers (email);",
            "DROP INDEX idx_customers_email;",
        ),
        _CONCURRENT_INDEX,
        check=_concurrently_in_transaction,
        sure_to_fail=True,
        squawk=("ban-concurrent-index-creation-in-transaction",),
        squawk_note="squawk needs `--assume-in-transaction`, as it cannot read dbmate's markers, and "
        "checks CREATE INDEX only; orchestrator also checks DROP INDEX, REINDEX and DETACH PARTITION "
        "CONCURRENTLY, VACUUM, CREATE/DROP DATABASE and ALTER SYSTEM, in down sections too",
    ),
    Rule(
        "unique-without-index",
        ERROR,
        "ADD PRIMARY KEY / UNIQUE / EXCLUDE on an existing table builds its index under an "
        "ACCESS EXCLUSIVE lock, blocking reads and writes.",
        "CREATE UNIQUE INDEX CONCURRENTLY first (transaction:false), then ADD CONSTRAINT … USING INDEX",
        example(
            "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email);",
            "ALTER TABLE customers DROP CONSTRAINT customers_email_key;",
        ),
        example(
            "CREATE UNIQUE INDEX CONCURRENTLY customers_email_key ON customers (email);\n"
            "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE USING INDEX customers_email_key;",
            "ALTER TABLE customers DROP CONSTRAINT customers_email_key;",
            "transaction:false",
        ),
        check=_unique_without_index,
        squawk=(
            "disallowed-unique-constraint",
            "adding-serial-primary-key-field",
            "constraint-missing-not-valid",
        ),
    ),
    Rule(
        "reindex-not-concurrent",
        ERROR,
        "REINDEX without CONCURRENTLY blocks writes to the table (and reads that use the "
        "index) while it rebuilds.",
        "use REINDEX … CONCURRENTLY in a `transaction:false` section",
        example("REINDEX INDEX idx_customers_owner_id;", "SELECT 1;"),
        example("REINDEX INDEX CONCURRENTLY idx_customers_owner_id;", "SELECT 1;", "transaction:false"),
        check=_reindex_not_concurrent,
        squawk=("require-concurrent-reindex",),
    ),
    Rule(
        "lock-table",
        WARNING,
        "An explicit LOCK TABLE holds its lock until the migration commits, queueing every query behind it.",
        "drop the LOCK TABLE and let each statement take the lock it needs (orchestrator's "
        "lock_timeout bounds the wait)",
        example(
            "LOCK TABLE customers IN ACCESS EXCLUSIVE MODE;\nALTER TABLE customers ADD COLUMN notes text;",
            "ALTER TABLE customers DROP COLUMN notes;",
        ),
        example("ALTER TABLE customers ADD COLUMN notes text;", "ALTER TABLE customers DROP COLUMN notes;"),
        check=_lock_table,
    ),
)
