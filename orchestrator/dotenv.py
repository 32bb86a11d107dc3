""".env files exactly as dbmate reads them (github.com/joho/godotenv v1.5.1, dbmate 2.37).

The rules, godotenv's own, quirks included (checked against the real dbmate in
``tests/integration/test_dbmate_env.py``):

* ``NAME=value`` or ``NAME: value``; ``export NAME=value``; blank lines and ``#`` lines skipped.
* Unquoted values end at the line's end; ``#`` after whitespace starts a comment (the last
  such ``#`` on the line: ``a #b #c`` is ``a #b``); surrounding spaces are trimmed.
* ``'single'`` quotes: the text as it is.  ``"double"`` quotes: ``\\n`` and ``\\r`` become a
  newline and a carriage return, any other ``\\x`` becomes ``x`` (except ``\\$``).  Both may
  span lines; a quote preceded by a backslash does not end the value.
* ``$NAME`` and ``${NAME}`` (upper-case names) in unquoted and double-quoted values expand to
  a value set *earlier in the same file*, or to nothing: not to the process's environment.
  ``\\$NAME`` keeps the ``$``.
* A later line with the same name wins within a file.

Malformed text is a :class:`ConfigError` naming ``file:line``; godotenv's message (which
quotes the rest of the file, secrets included) is never shown.  Parsing is pure:
:func:`parse` takes text.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import ConfigError

# Go's unicode.IsSpace (the statement start) and godotenv's isSpace (no line breaks).
_GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_SPACE = frozenset("\t\v\f\r \x85\xa0")
_ESCAPE = re.compile(r"\\.")
_UNESCAPE = re.compile(r"\\([^$])")
_EXPAND = re.compile(r"(\\)?(\$)(\()?\{?([A-Z0-9_]+)?\}?")


def _key_byte_ok(byte: int) -> bool:
    """godotenv checks a name byte by byte, each byte taken as a Latin-1 character."""
    char = chr(byte)
    return char in _SPACE or char in "_." or unicodedata.category(char)[0] in "LN"


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _skip(text: str, pos: int, chars: frozenset[str]) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _statement_start(text: str, pos: int) -> int | None:
    while True:
        pos = _skip(text, pos, _GO_SPACE)
        if pos >= len(text):
            return None
        if text[pos] != "#":
            return pos
        pos = text.find("\n", pos)
        if pos < 0:
            return None


def _key(text: str, pos: int, source: str) -> tuple[str, int]:
    start = pos = _skip(text, pos, _SPACE)
    if text.startswith("export", pos) and pos + 6 < len(text) and text[pos + 6] in _SPACE:
        start = pos = _skip(text, pos + 6, _SPACE)
    if pos >= len(text):
        raise ConfigError("expected NAME=value after 'export'", source=f"{source}:{_line(text, start)}")
    while pos < len(text):
        char = text[pos]
        if char in "=:":
            break
        if char == "\n":
            shown = text[start:pos].strip()[:40]
            raise ConfigError(f"expected NAME=value, got {shown!r}", source=f"{source}:{_line(text, start)}")
        if not all(_key_byte_ok(b) for b in char.encode("utf-8", "surrogateescape")):
            name = text[start:pos]
            raise ConfigError(
                f"unexpected character {char!r} in the variable name {name + char!r} "
                "(names are letters, digits, _ and .)",
                source=f"{source}:{_line(text, pos)}",
            )
        pos += 1
    else:  # dbmate sets a variable with an empty name here, which the system refuses, silently
        shown = text[start:pos].strip()[:40]
        raise ConfigError(f"expected NAME=value, got {shown!r}", source=f"{source}:{_line(text, start)}")
    key = text[start:pos].rstrip("".join(_GO_SPACE))
    if not key:  # dbmate: the same empty name, silently ignored
        raise ConfigError("no variable name before '='", source=f"{source}:{_line(text, start)}")
    return key, _skip(text, pos + 1, _SPACE)


def _expand(value: str, seen: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        if match[1]:
            return match[0][1:]
        if match[4]:
            return seen.get(match[4], "")
        return match[0]

    return _EXPAND.sub(one, value)


def _unescape(value: str) -> str:
    value = _ESCAPE.sub(lambda m: {"\\n": "\n", "\\r": "\r"}.get(m[0], m[0]), value)
    return _UNESCAPE.sub(r"\1", value)


def _value(text: str, pos: int, seen: dict[str, str], source: str) -> tuple[str, int]:
    quote = text[pos] if pos < len(text) and text[pos] in "'\"" else None
    if quote is None:
        end = pos
        while end < len(text) and text[end] not in "\n\r":
            end += 1
        line = text[pos:end]
        for i in range(len(line) - 1, 0, -1):
            if line[i] == "#" and line[i - 1] in _SPACE:
                line = line[:i]
                break
        return _expand(line.strip("".join(_SPACE)), seen), end
    for i in range(pos + 1, len(text)):
        if text[i] == quote and text[i - 1] != "\\":
            value = text[pos:i].rstrip(quote).lstrip(quote)
            if quote == '"':
                value = _expand(_unescape(value), seen)
            return value, i + 1
    raise ConfigError(f"unterminated {quote} quoted value", source=f"{source}:{_line(text, pos)}")


def parse(text: str, source: str) -> dict[str, str]:
    """The variables a .env file's text sets; ``source`` (the file name) is used in errors."""
    text = text.replace("\r\n", "\n")
    out: dict[str, str] = {}
    pos: int | None = 0
    while (pos := _statement_start(text, pos)) is not None:
        key, pos = _key(text, pos, source)
        out[key], pos = _value(text, pos, out, source)
    return out


def parse_bytes(data: bytes, source: str) -> dict[str, str]:
    """:func:`parse` for a file's bytes (godotenv reads bytes: any encoding passes through)."""
    return parse(data.decode("utf-8", "surrogateescape"), source)
