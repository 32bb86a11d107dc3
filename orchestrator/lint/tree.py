"""Small helpers on pglast's syntax tree, shared by the walker, the context and the rules."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pglast import ast

# A table as a statement names it: (schema or None, name).
TableKey = tuple[str | None, str]

_ROLE_TYPES = {0: "?", 1: "CURRENT_ROLE", 2: "CURRENT_USER", 3: "SESSION_USER", 4: "PUBLIC"}


def walk(node: Any) -> Iterator[ast.Node]:
    """Every node below ``node`` (itself included), depth first."""
    if isinstance(node, ast.Node):
        yield node
        for attr in type(node).__slots__:
            yield from walk(getattr(node, attr, None))
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from walk(item)


def option(options: Sequence[Any] | None, name: str) -> bool:
    """Whether a statement's option list turns ``name`` on (``(FULL)``, ``(FULL true)``)."""
    for opt in options or ():
        if isinstance(opt, ast.DefElem) and opt.defname == name:
            arg = opt.arg
            if arg is None:
                return True
            value = getattr(arg, "sval", None) or getattr(arg, "ival", None) or getattr(arg, "boolval", None)
            return str(value).lower() not in ("false", "off", "0", "none")
    return False


def role(spec: Any) -> str:
    """A role as written (``app``, ``CURRENT_USER``, ``PUBLIC``)."""
    if isinstance(spec, ast.RoleSpec):
        return spec.rolename or _ROLE_TYPES.get(int(spec.roletype), "?")
    return "?"


def table_key(rv: ast.RangeVar | None) -> TableKey | None:
    """The table a RangeVar names, or None when it names none."""
    if rv is None or not getattr(rv, "relname", None):
        return None
    return (rv.schemaname or None, rv.relname)


def key_of_names(names: Sequence[Any]) -> TableKey:
    """The table a dotted name list (``DROP TABLE s.t``) names."""
    parts = [n.sval for n in names if isinstance(n, ast.String)]
    return (parts[-2] if len(parts) > 1 else None, parts[-1] if parts else "")


def name(key: TableKey | None) -> str:
    """A table as messages show it: ``schema.table``, ``table`` or ``?``."""
    if key is None:
        return "?"
    return f"{key[0]}.{key[1]}" if key[0] else key[1]
