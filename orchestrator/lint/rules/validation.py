"""Rules about validation: constraints that check every row of an existing table while
holding a lock, unless added NOT VALID and validated in a transaction of their own."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from ..context import Context
from ..rule import ERROR, Hit, Rule, example
from ..statements import Step
from ..tree import name


def _without_not_valid(step: Step, ctx: Context, contype: ConstrType, what: str) -> Iterator[Hit]:
    """ADD CONSTRAINT of this type on an existing table, without NOT VALID."""
    con = step.added_constraint()
    if con is not None and con.contype == contype and not con.skip_validation and not ctx.is_new(step.table):
        label = f" {con.conname}" if con.conname else ""
        yield Hit(f"ADD CONSTRAINT{label} {what}")


def _validated_too_soon(step: Step, ctx: Context, kind: ConstrType) -> Iterator[Hit]:
    """VALIDATE CONSTRAINT in the transaction that added the constraint NOT VALID: the lock
    ADD CONSTRAINT took is still held while every row is checked."""
    cmd = step.command(AlterTableType.AT_ValidateConstraint)
    if cmd is None:
        return
    added = ctx.constraint(step.table, cmd.name)
    if added and added.kind == kind and not added.valid and added.tx == ctx.tx and ctx.transaction:
        yield Hit(
            f"VALIDATE CONSTRAINT {cmd.name} runs in the transaction that added it "
            "NOT VALID, so the lock is held while every row is checked"
        )


def _set_not_null(step: Step, ctx: Context) -> Iterator[Hit]:
    table = name(step.table)
    cmd = step.command(AlterTableType.AT_SetNotNull)
    if cmd is not None and not ctx.is_new(step.table) and not ctx.proves_not_null(step.table, cmd.name):
        yield Hit(f"SET NOT NULL on {table}.{cmd.name} scans {table} under an ACCESS EXCLUSIVE lock")
    yield from _without_not_valid(
        step, ctx, ConstrType.CONSTR_NOTNULL, f"NOT NULL without NOT VALID scans {table}"
    )
    yield from _validated_too_soon(step, ctx, ConstrType.CONSTR_NOTNULL)


def _references(col: ast.ColumnDef) -> bool:
    return any(c.contype == ConstrType.CONSTR_FOREIGN for c in col.constraints or ())


def _foreign_key_not_valid(step: Step, ctx: Context) -> Iterator[Hit]:
    table = name(step.table)
    col = step.added_column()
    if col is not None and not ctx.is_new(step.table) and _references(col):
        yield Hit(f"ADD COLUMN {table}.{col.colname} REFERENCES validates every row of {table}")
    what = f"FOREIGN KEY without NOT VALID checks every row of {table}"
    yield from _without_not_valid(step, ctx, ConstrType.CONSTR_FOREIGN, what)
    yield from _validated_too_soon(step, ctx, ConstrType.CONSTR_FOREIGN)


def _check_not_valid(step: Step, ctx: Context) -> Iterator[Hit]:
    what = f"CHECK without NOT VALID scans {name(step.table)}"
    yield from _without_not_valid(step, ctx, ConstrType.CONSTR_CHECK, what)
    yield from _validated_too_soon(step, ctx, ConstrType.CONSTR_CHECK)


RULES = (
    Rule(
        "set-not-null",
        ERROR,
        "SET NOT NULL (or ADD CONSTRAINT … NOT NULL) on an existing table scans the whole table "
        "under an ACCESS EXCLUSIVE lock.",
        "first ADD CONSTRAINT … CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a separate "
        "transaction (transaction:false or a later migration), then SET NOT NULL (no scan)",
        example(
            "ALTER TABLE customers ALTER COLUMN email SET NOT NULL;",
            "ALTER TABLE customers ALTER COLUMN email DROP NOT NULL;",
        ),
        example(
            "ALTER TABLE customers ADD CONSTRAINT customers_email_not_null\n"
            "    CHECK (email IS NOT NULL) NOT VALID;\n"
            "ALTER TABLE customers VALIDATE CONSTRAINT customers_email_not_null;\n"
            "ALTER TABLE customers ALTER COLUMN email SET NOT NULL;",
            "ALTER TABLE customers ALTER COLUMN email DROP NOT NULL;\n"
            "ALTER TABLE customers DROP CONSTRAINT IF EXISTS customers_email_not_null;",
            "transaction:false",
        ),
        check=_set_not_null,
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
        example(
            "ALTER TABLE interactions ADD CONSTRAINT interactions_customer_fk\n"
            "    FOREIGN KEY (customer_id) REFERENCES customers (id);",
            "ALTER TABLE interactions DROP CONSTRAINT interactions_customer_fk;",
        ),
        example(
            "ALTER TABLE interactions ADD CONSTRAINT interactions_customer_fk\n"
            "    FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\n"
            "ALTER TABLE interactions VALIDATE CONSTRAINT interactions_customer_fk;",
            "ALTER TABLE interactions DROP CONSTRAINT interactions_customer_fk;",
            "transaction:false",
        ),
        check=_foreign_key_not_valid,
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
        example(
            "ALTER TABLE customers ADD CONSTRAINT customers_score_range\n"
            "    CHECK (relationship_score BETWEEN 0 AND 100);",
            "ALTER TABLE customers DROP CONSTRAINT customers_score_range;",
        ),
        example(
            "ALTER TABLE customers ADD CONSTRAINT customers_score_range\n"
            "    CHECK (relationship_score BETWEEN 0 AND 100) NOT VALID;\n"
            "ALTER TABLE customers VALIDATE CONSTRAINT customers_score_range;",
            "ALTER TABLE customers DROP CONSTRAINT customers_score_range;",
            "transaction:false",
        ),
        check=_check_not_valid,
        squawk=("constraint-missing-not-valid",),
    ),
)
