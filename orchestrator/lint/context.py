"""What the statements before the current one established, for the rules to read.

A section is linted in order; the :class:`Context` learns from each step after the rules
have looked at it: the tables the section created (empty, and invisible to everyone else
until commit), the constraints it added and whether they are validated yet, and which
transaction each statement runs in.  The rules only read it, so what one rule sees does
not depend on which other rules are enabled.

One context per section: the up and the down section run at different times (the down
one in a rollback, maybe days later), so nothing one of them created is new to the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pglast import ast
from pglast.enums import (
    AlterTableType,
    BoolExprType,
    ConstrType,
    NullTestType,
    ObjectType,
    TransactionStmtKind,
)

from .statements import Statement, Step
from .tree import TableKey, table_key

# The constraints that check every row when added or validated (the others build an index).
_VALIDATED = (ConstrType.CONSTR_FOREIGN, ConstrType.CONSTR_CHECK, ConstrType.CONSTR_NOTNULL)
_BEGIN = (TransactionStmtKind.TRANS_STMT_BEGIN, TransactionStmtKind.TRANS_STMT_START)
_END = (TransactionStmtKind.TRANS_STMT_COMMIT, TransactionStmtKind.TRANS_STMT_ROLLBACK)


@dataclass
class Constraint:
    """A foreign key, CHECK or NOT NULL constraint added earlier in the section."""

    table: TableKey | None
    name: str | None
    kind: ConstrType
    valid: bool  # added without NOT VALID, or validated since
    tx: int  # the transaction that added it
    not_null: frozenset[str] = frozenset()  # the columns it proves hold no NULL


@dataclass
class Context:
    """The state of one section as its statements run, one step after the other."""

    section: str  # "up" or "down"
    transactional: bool  # the section runs in one transaction (dbmate's default)
    created: dict[str, set[str | None]] = field(default_factory=dict)  # table name -> its schemas
    constraints: list[Constraint] = field(default_factory=list)
    statements: int = 0  # statements so far, BEGIN and COMMIT aside
    tx: int = 0  # the transaction the current statement runs in
    transaction: str | None = None  # why the current statement runs in a transaction block
    in_block: bool = False  # inside an explicit BEGIN … COMMIT
    parse_error: tuple[str, int] | None = None  # the section's message and offset

    # -- what the rules read

    def is_new(self, key: TableKey | None) -> bool:
        """Whether the section created this table (a table in an unnamed schema matches any)."""
        if key is None:
            return False
        schemas = self.created.get(key[1])  # by name: a 20 MB file may create 50,000 tables
        return bool(schemas) and (key[0] is None or None in schemas or key[0] in schemas)

    def constraint(self, table: TableKey | None, name: str | None) -> Constraint | None:
        """The constraint of that name on that table the section added last, if any."""
        found = [c for c in self.constraints if c.table == table and c.name == name]
        return found[-1] if found else None

    def proves_not_null(self, table: TableKey | None, column: str) -> bool:
        """Whether a valid constraint added in the section proves ``column`` holds no NULL
        (then SET NOT NULL needs no scan, PostgreSQL 12+)."""
        return any(c.valid and c.table == table and column in c.not_null for c in self.constraints)

    # -- what the walker tells it

    def enter(self, stmt: Statement) -> None:
        """A statement starts: which transaction it runs in."""
        if stmt.do_block is not None:
            self.transaction = "it is inside a DO block (a function): move it out of the block"
        elif self.transactional:
            self.transaction = "this section runs in a transaction"
        elif self.in_block:
            self.transaction = "it is inside BEGIN … COMMIT"
        else:
            self.transaction = None
            self.tx += 1  # each statement is its own transaction
        if stmt.do_block is None and not isinstance(stmt.node, ast.TransactionStmt):
            self.statements += 1

    def learn(self, step: Step) -> None:
        """What a step established, once the rules have looked at it."""
        node = step.node
        if isinstance(node, ast.TransactionStmt):
            if not self.transactional and node.kind in _BEGIN + _END:
                self.in_block = node.kind in _BEGIN
        elif isinstance(node, ast.AlterTableCmd):
            self._alter_table(step.table, node)
        elif isinstance(node, ast.RenameStmt) and node.renameType == ObjectType.OBJECT_TABLE:
            table = table_key(node.relation)
            if self.is_new(table):
                self.created.setdefault(node.newname, set()).add(table[0] if table else None)
        else:
            created = _created(node)
            if created is not None:
                self.created.setdefault(created[1], set()).add(created[0])

    def _alter_table(self, table: TableKey | None, cmd: ast.AlterTableCmd) -> None:
        if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
            con = cmd.def_
            if con.contype in _VALIDATED:
                valid = not con.skip_validation
                self.constraints.append(
                    Constraint(table, con.conname, con.contype, valid, self.tx, _not_null(con))
                )
        elif cmd.subtype == AlterTableType.AT_ValidateConstraint:
            added = self.constraint(table, cmd.name)
            if added is not None:
                added.valid = True
        elif cmd.subtype == AlterTableType.AT_DropConstraint:
            self.constraints = [c for c in self.constraints if (c.table, c.name) != (table, cmd.name)]


def _created(node: ast.Node) -> TableKey | None:
    """The table a CREATE TABLE, CREATE TABLE AS or SELECT INTO creates."""
    if isinstance(node, ast.CreateStmt):
        return table_key(node.relation)
    if isinstance(node, ast.CreateTableAsStmt) and node.into is not None:
        return table_key(node.into.rel)
    if isinstance(node, ast.SelectStmt) and node.intoClause is not None:
        return table_key(node.intoClause.rel)
    return None


def _not_null(con: ast.Constraint) -> frozenset[str]:
    """The columns a constraint proves hold no NULL: a NOT NULL constraint's, or those a
    CHECK's ``col IS NOT NULL`` tests (alone or joined by AND, as PostgreSQL's proof reads)."""
    if con.contype == ConstrType.CONSTR_NOTNULL:
        return frozenset(k.sval for k in con.keys or () if isinstance(k, ast.String))
    if con.contype == ConstrType.CONSTR_CHECK:
        return frozenset(_tested_not_null(con.raw_expr))
    return frozenset()


def _tested_not_null(expr: Any) -> set[str]:
    if isinstance(expr, ast.BoolExpr) and expr.boolop == BoolExprType.AND_EXPR:
        return set().union(*(_tested_not_null(arg) for arg in expr.args))
    if (
        isinstance(expr, ast.NullTest)
        and expr.nulltesttype == NullTestType.IS_NOT_NULL
        and isinstance(expr.arg, ast.ColumnRef)
    ):
        fields = [f.sval for f in expr.arg.fields if isinstance(f, ast.String)]
        return set(fields[-1:])
    return set()
