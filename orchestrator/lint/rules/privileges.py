"""Privileges: grants wider than an app needs."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import GrantTargetType

from ..context import Context
from ..rule import WARNING, Hit, Rule, example
from ..statements import Step
from ..tree import name, role, table_key


def _grant_all(step: Step, ctx: Context) -> Iterator[Hit]:
    node = step.node
    if isinstance(node, ast.GrantStmt):
        yield from _all_privileges(node, default=False)
    elif isinstance(node, ast.AlterDefaultPrivilegesStmt) and node.action is not None:
        yield from _all_privileges(node.action, default=True)


def _all_privileges(node: ast.GrantStmt, default: bool) -> Iterator[Hit]:
    """GRANT ALL (no privileges listed), on objects or by default on new ones."""
    if node.is_grant and not node.privileges:
        grantees = ", ".join(role(g) for g in node.grantees or ())
        if default:
            on = "by default on new objects"
        else:
            names = [
                name(table_key(o)) if isinstance(o, ast.RangeVar) else getattr(o, "sval", None) or "…"
                for o in node.objects or ()
            ]
            every = (
                "all objects in schema " if node.targtype == GrantTargetType.ACL_TARGET_ALL_IN_SCHEMA else ""
            )
            on = f"on {every}{', '.join(names)}" if names else ""
        yield Hit(f"GRANT ALL {on} to {grantees}".replace("  ", " "))


RULES = (
    Rule(
        "grant-all",
        WARNING,
        "GRANT ALL also gives TRUNCATE, TRIGGER and REFERENCES, far more than an app needs.",
        "grant only the privileges the role needs (GRANT SELECT, INSERT, UPDATE ON … TO …)",
        example("GRANT ALL ON customers TO flowstate_app;", "REVOKE ALL ON customers FROM flowstate_app;"),
        example(
            "GRANT SELECT, INSERT, UPDATE ON customers TO flowstate_app;",
            "REVOKE SELECT, INSERT, UPDATE ON customers FROM flowstate_app;",
        ),
        check=_grant_all,
    ),
)
