"""Secret detection: which string literals of a statement look like a password, key or token.

Used twice: the ``secret-literal`` rule reports them, and every statement excerpt shown in
a finding masks them, so that a finding never echoes the secret it is about.  Two sources:
the syntax tree (a role's PASSWORD, a key-ish option, column or setting given a literal)
and the tokens (an AWS access key id anywhere, a credential-shaped literal right after a
key-ish word).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pglast import ast

from ..redaction import MASK
from .tree import role, walk

_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
_SECRET_KEY_40 = re.compile(r"^[A-Za-z0-9/+=]{40}$")
_PASSWORDISH = re.compile(r"pass(?:word|wd)?|pwd", re.IGNORECASE)
_KEYISH = re.compile(
    r"pass(?:word|wd)|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|"
    r"signing[_-]?key|credential|bearer",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(r"^(?:\$\{.*\}|\{\{.*\}\}|<.*>|\*+|:\w+|%\(\w+\)s|changeme_in_env)$", re.DOTALL)
_COMMENTS = ("SQL_COMMENT", "C_COMMENT")


@dataclass(frozen=True)
class Secret:
    """A secret literal: its quotes' span (``end`` exclusive), its value, what it is."""

    start: int
    end: int
    value: str
    what: str


def find(node: ast.Node, tokens: Sequence[Any], sql: str) -> list[Secret]:
    """The secret literals of one statement (``node``, its lexer ``tokens`` in ``sql``),
    with offsets in ``sql``, in order."""
    if not tokens:
        return []
    if not may_hold(sql[tokens[0].start : tokens[-1].end + 1]):
        return []
    literals = [(t, v) for t in tokens if t.name == "SCONST" and (v := _literal(sql, t)) is not None]
    found: dict[int, Secret] = {}
    for value, what in _from_tree(node):
        # the first literal token with that value that is not claimed yet
        token = next((t for t, v in literals if v == value and t.start not in found), None)
        if token is not None:
            found[token.start] = Secret(token.start, token.end + 1, value, what)
    significant = [t for t in tokens if t.name not in _COMMENTS]
    for i, token in enumerate(significant):
        if token.name == "SCONST" and token.start not in found:
            secret = _from_token(sql, significant, i)
            if secret is not None:
                found[token.start] = secret
    return sorted(found.values(), key=lambda s: s.start)


def may_hold(text: str) -> bool:
    """Whether SQL text could hold a secret: every kind :func:`find` looks for needs a
    key-ish word or an AWS key id in it.  A cheap test on the text, so that the lexer and
    the tree walk run only on the few statements that pass it."""
    return bool(_KEYISH.search(text) or _AWS_KEY_ID.search(text))


def mask(value: str) -> str:
    """A secret as shown: AWS key ids keep their public prefix, everything else is masked."""
    if _AWS_KEY_ID.fullmatch(value):
        return value[:4] + "*" * 16
    return MASK


def _from_tree(node: ast.Node) -> Iterator[tuple[str, str]]:
    """(value, what) of each literal the tree gives to a password or a key-ish name."""
    for sub in walk(node):
        if isinstance(sub, (ast.CreateRoleStmt, ast.AlterRoleStmt)):
            name = sub.role if isinstance(sub, ast.CreateRoleStmt) else role(sub.role)
            for opt in sub.options or ():
                value = opt.arg.sval if isinstance(opt.arg, ast.String) else None
                if opt.defname == "password" and value and not _PLACEHOLDER.match(value):
                    yield value, f"literal password for role {name}"
        elif isinstance(sub, ast.DefElem) and sub.defname and isinstance(sub.arg, ast.String):
            passwordish = bool(_PASSWORDISH.fullmatch(sub.defname))
            if _KEYISH.search(sub.defname) and _looks_like_credential(sub.arg.sval, passwordish):
                yield sub.arg.sval, f"literal {sub.defname}"
        elif isinstance(sub, ast.InsertStmt) and sub.cols and isinstance(sub.selectStmt, ast.SelectStmt):
            names = [c.name or "" for c in sub.cols]
            for row in sub.selectStmt.valuesLists or ():
                yield from _keyed(zip(names, row))
        elif isinstance(sub, ast.UpdateStmt):
            yield from _keyed((t.name, getattr(t, "val", None)) for t in sub.targetList or ())
        elif isinstance(sub, ast.VariableSetStmt):
            yield from _keyed((sub.name, arg) for arg in sub.args or ())


def _keyed(pairs: Iterable[tuple[str | None, Any]]) -> Iterator[tuple[str, str]]:
    """The credential-shaped string constants given to a key-ish name (a column, a setting)."""
    for key, node in pairs:
        value = _const_string(node)
        passwordish = bool(key and _PASSWORDISH.search(key))
        if value is not None and key and _KEYISH.search(key) and _looks_like_credential(value, passwordish):
            yield value, f"literal {key}"


def _from_token(sql: str, significant: Sequence[Any], i: int) -> Secret | None:
    """The secret that string token ``i`` is: an AWS key id, or a credential-shaped value
    within three tokens after a key-ish word."""
    token = significant[i]
    value = _literal(sql, token)
    if value is None:
        return None
    if _AWS_KEY_ID.search(value):
        return Secret(token.start, token.end + 1, value, "AWS access key id")
    before = [sql[p.start : p.end + 1] for p in significant[max(0, i - 3) : i]]
    keyish = [b for b in before if _KEYISH.search(b)]
    if not keyish:
        return None
    key = keyish[-1].strip("'\"")
    if _SECRET_KEY_40.match(value) and _looks_like_credential(value, False):
        return Secret(token.start, token.end + 1, value, f"secret key after {key}")
    if _looks_like_credential(value, any(_PASSWORDISH.search(b) for b in keyish)):
        return Secret(token.start, token.end + 1, value, f"literal value for {key}")
    return None


def _literal(sql: str, token: Any) -> str | None:
    text = sql[token.start : token.end + 1]
    if text[:1] in "eE" and text[1:2] == "'":
        text = text[1:]
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return text[1:-1].replace("''", "'")
    return None  # dollar-quoted (a function body), U&'', bit strings: not checked


def _const_string(node: Any) -> str | None:
    if isinstance(node, ast.A_Const) and isinstance(getattr(node, "val", None), ast.String):
        return node.val.sval
    if isinstance(node, ast.TypeCast):
        return _const_string(node.arg)
    return None


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
