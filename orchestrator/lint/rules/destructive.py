"""Breaking changes: renames and drops that lose data or break the running app."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import AlterTableType, ObjectType

from ..context import Context
from ..rule import ERROR, Hit, Rule, example
from ..statements import Step
from ..tree import key_of_names, name, table_key


def _renamed(step: Step, ctx: Context, kind: ObjectType) -> tuple[str, ast.RenameStmt] | None:
    """(table, statement) of a rename of this kind on an existing table."""
    node = step.node
    if isinstance(node, ast.RenameStmt) and node.renameType == kind:
        table = table_key(node.relation)
        if not ctx.is_new(table):
            return name(table), node
    return None


def _rename_column(step: Step, ctx: Context) -> Iterator[Hit]:
    renamed = _renamed(step, ctx, ObjectType.OBJECT_COLUMN)
    if renamed:
        table, node = renamed
        yield Hit(f"renames column {table}.{node.subname} to {node.newname}")


def _rename_table(step: Step, ctx: Context) -> Iterator[Hit]:
    renamed = _renamed(step, ctx, ObjectType.OBJECT_TABLE)
    if renamed:
        table, node = renamed
        yield Hit(f"renames table {table} to {node.newname}")


def _drop_column(step: Step, ctx: Context) -> Iterator[Hit]:
    cmd = step.command(AlterTableType.AT_DropColumn)
    if cmd is not None and not ctx.is_new(step.table):
        yield Hit(f"drops column {name(step.table)}.{cmd.name}")


def _drop_table(step: Step, ctx: Context) -> Iterator[Hit]:
    node = step.node
    if isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_TABLE:
        old = [key for key in map(key_of_names, node.objects or ()) if not ctx.is_new(key)]
        if old:
            yield Hit(f"drops table {', '.join(name(k) for k in old)}")


RULES = (
    Rule(
        "rename-column",
        ERROR,
        "BREAKING CHANGE: renaming a column breaks every running instance of the app that "
        "still uses the old name.",
        "expand and contract: add the new column, write both, backfill, move the app, drop the "
        "old column in a later release",
        example(
            "ALTER TABLE customers RENAME COLUMN pipeline_stage TO stage;",
            "ALTER TABLE customers RENAME COLUMN stage TO pipeline_stage;",
        ),
        example(
            "ALTER TABLE customers ADD COLUMN stage varchar(50);", "ALTER TABLE customers DROP COLUMN stage;"
        ),
        check=_rename_column,
        squawk=("renaming-column",),
    ),
    Rule(
        "rename-table",
        ERROR,
        "BREAKING CHANGE: renaming a table breaks every running instance of the app that still "
        "uses the old name.",
        "create the new name as a view (or the table under the new name with a view of the old "
        "one), move the app, then rename in a later release",
        example(
            "ALTER TABLE interactions RENAME TO activities;", "ALTER TABLE activities RENAME TO interactions;"
        ),
        example("CREATE VIEW activities AS SELECT * FROM interactions;", "DROP VIEW activities;"),
        check=_rename_table,
        squawk=("renaming-table",),
    ),
    Rule(
        "drop-column",
        ERROR,
        "BREAKING CHANGE: dropping a column loses its data and breaks running app instances that "
        "still read or write it.",
        "stop using the column in the app first, deploy, then drop it with "
        "`-- orchestrator:ignore drop-column <reason>`",
        example(
            "ALTER TABLE customers DROP COLUMN company;",
            "ALTER TABLE customers ADD COLUMN company varchar(255);",
        ),
        example(
            "-- orchestrator:ignore drop-column the app stopped using company in v2.3 (#456)\n"
            "-- squawk-ignore ban-drop-column\n"
            "ALTER TABLE customers DROP COLUMN company;",
            "ALTER TABLE customers ADD COLUMN company varchar(255);",
        ),
        check=_drop_column,
        squawk=("ban-drop-column",),
    ),
    Rule(
        "drop-table",
        ERROR,
        "BREAKING CHANGE: dropping a table loses its data and breaks running app instances that "
        "still use it.",
        "stop using the table first, check the backup, then drop it with "
        "`-- orchestrator:ignore drop-table <reason>`",
        example("DROP TABLE interactions;", "CREATE TABLE interactions (id uuid PRIMARY KEY);"),
        example(
            "-- orchestrator:ignore drop-table replaced by activities in v2.4; no reads since May\n"
            "-- squawk-ignore ban-drop-table\n"
            "DROP TABLE interactions;",
            "CREATE TABLE interactions (id uuid PRIMARY KEY);",
        ),
        check=_drop_table,
        squawk=("ban-drop-table",),
        squawk_note="squawk also reports DROP TABLE in down sections, where it is the normal "
        "inverse of CREATE TABLE",
    ),
)
