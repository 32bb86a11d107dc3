"""Configuration: ``db/orchestrator.yml``, environment variables and ``.env`` files.

Everything here is pure apart from reading those files; the result is a frozen
:class:`Config` that the commands take.  An unknown key, a value of the wrong kind or
an unknown environment is a :class:`ConfigError` naming the file and the key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .dburl import DatabaseURL
from .errors import ConfigError
from .redaction import redact, register_secret

DEFAULT_CONFIG = Path("db/orchestrator.yml")
DEFAULT_ENVIRONMENTS = ("dev", "staging", "production")
ENV_FILES = (".env.dbmate", ".env")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h)?\s*$")
_UNITS = {None: 1.0, "s": 1.0, "sec": 1.0, "ms": 0.001, "min": 60.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any, source: str) -> float:
    """Seconds from ``30``, ``2.5``, ``"500ms"``, ``"30s"`` or ``"2min"``."""
    if isinstance(value, bool):
        raise ConfigError(f"expected a duration such as 30s or 500ms, got {value!r}", source=source)
    if isinstance(value, (int, float)) and value >= 0:
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ConfigError(f"expected a duration such as 30s or 500ms, got {value!r}", source=source)
    return float(match[1]) * _UNITS[match[2]]


@dataclass(frozen=True)
class Health:
    """How the app's health is judged: ``attempts`` requests, ``interval`` apart."""

    url: str | None = None
    attempts: int = 5
    interval: float = 2.0
    timeout: float = 5.0


@dataclass(frozen=True)
class Timeouts:
    """The lock guard of each migration, in seconds (0 = no limit): ``lock_timeout`` and
    ``statement_timeout``, and how often to retry a migration whose lock was not granted in
    time, after pauses that double from ``retry_delay``."""

    lock: float = 0.0
    statement: float = 0.0
    lock_retries: int = 0
    retry_delay: float = 1.0


@dataclass(frozen=True)
class Environment:
    """One environment's settings; ``url`` is None where the embedded server is used."""

    name: str
    url: DatabaseURL | None
    url_source: str
    lock_wait: float = 60.0
    dump_schema: bool = False
    backup: str | None = None
    backup_required: bool = False
    sse: str = "AES256"
    kms_key_id: str | None = None
    health: Health = field(default_factory=Health)
    lock_timeout: float = 5.0
    statement_timeout: float = 0.0
    auto_rollback: bool = True
    lock_retries: int = 3
    lock_retry_delay: float = 1.0
    drift: str = "warn"
    strict: bool = False
    lint: dict[str, str] | None = None  # rule id (or "*") -> error|warning|off; None: the defaults

    @property
    def timeouts(self) -> Timeouts:
        """What each migration runs with."""
        return Timeouts(self.lock_timeout, self.statement_timeout, self.lock_retries, self.lock_retry_delay)


@dataclass(frozen=True)
class Config:
    """Everything a command needs to know, resolved once."""

    root: Path
    config_file: Path
    migrations_dir: Path
    schema_file: Path
    migrations_table: str
    budget: float
    environment: Environment
    environments: tuple[str, ...] = field(default=DEFAULT_ENVIRONMENTS)

    @property
    def state_dir(self) -> Path:
        """Where orchestrator keeps local state (embedded server, run logs)."""
        return self.root / ".orchestrator"

    def relative(self, path: Path) -> str:
        """A path as people and GitHub annotations want it: relative to the project."""
        try:
            return str(path.resolve().relative_to(self.root))
        except ValueError:
            return str(path)


# key -> (kind, default); kind is a callable(value, source) -> parsed value
def _bool(value: Any, source: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"expected true or false, got {value!r}", source=source)
    return value


def _str(value: Any, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"expected a non-empty string, got {value!r}", source=source)
    return value


def _attempts(value: Any, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"expected a whole number of 1 or more, got {value!r}", source=source)
    return value


def _count(value: Any, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"expected a whole number of 0 or more, got {value!r}", source=source)
    return value


def _drift(value: Any, source: str) -> str:
    if value not in ("error", "warn"):
        raise ConfigError(f"expected error or warn, got {value!r}", source=source)
    return value


def _positive_duration(value: Any, source: str) -> float:
    seconds = parse_duration(value, source)
    if seconds <= 0:
        raise ConfigError(f"expected a duration above zero, such as 5s, got {value!r}", source=source)
    return seconds


def _lint(value: Any, source: str) -> dict[str, str]:
    """The shape of a ``lint:`` mapping (rule id or ``*`` -> error|warning|off); the rule ids
    are checked against the rules where they are used (``lint.validate_overrides``)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError("expected a mapping of rule id to error, warning or off", source=source)
    out = {}
    for rule, level in value.items():
        level = "off" if level is False else level  # YAML reads a bare off as false
        if not isinstance(level, str) or level.strip().lower() not in ("error", "warning", "off"):
            raise ConfigError(f"{rule}: expected error, warning or off, got {level!r}", source=source)
        out[str(rule)] = level.strip().lower()
    return out


def validate_http_url(raw: str, *, source: str = "health_url") -> str:
    """Check that ``raw`` is an http(s) URL with a host; return it stripped.

    Raises :class:`ConfigError` (naming ``source``) otherwise.  The URL's password, if
    any, is registered with :mod:`orchestrator.redaction`.
    """
    text = (raw or "").strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ConfigError(f"not a valid URL ({redact(str(exc))})", source=source) from exc
    if parts.scheme not in ("http", "https"):
        shown = parts.scheme or "(none)"
        raise ConfigError(f"unsupported URL scheme {shown!r}: expected http:// or https://", source=source)
    if not parts.hostname:
        raise ConfigError(f"the URL names no host: {redact(text)}", source=source)
    register_secret(parts.password)
    return text


def _http_url(value: Any, source: str) -> str:
    return validate_http_url(_str(value, source), source=source)


def _sse(value: Any, source: str) -> str:
    if value not in SSE_MODES:
        raise ConfigError(f"expected one of {', '.join(SSE_MODES)}, got {value!r}", source=source)
    return value


SSE_MODES = ("AES256", "aws:kms")
TOP_KEYS = {
    "migrations_dir": _str,
    "schema_file": _str,
    "migrations_table": _str,
    "verify": dict,
    "environments": dict,
}
VERIFY_KEYS = {"budget": parse_duration}
ENV_KEYS = {
    "url_env": _str,
    "lock_wait": parse_duration,
    "dump_schema": _bool,
    "backup": _str,
    "backup_required": _bool,
    "sse": _sse,
    "kms_key_id": _str,
    "health_url": _http_url,
    "health": dict,
    "lock_timeout": parse_duration,
    "statement_timeout": parse_duration,
    "auto_rollback": _bool,
    "lock_retries": _count,
    "lock_retry_delay": parse_duration,
    "drift": _drift,
    "strict": _bool,
    "lint": _lint,
}
HEALTH_KEYS = {"attempts": _attempts, "interval": parse_duration, "timeout": _positive_duration}
PROTECTED = ("staging", "production")  # environments where a backup is required by default
DEV_BACKUPS = ".orchestrator/backups"


def read_env_files(root: Path) -> dict[str, str]:
    """Variables from ``.env.dbmate`` then ``.env`` (the first file that sets a name wins)."""
    values: dict[str, str] = {}
    for name in ENV_FILES:
        path = root / name
        if not path.is_file():
            continue
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            line = line.removeprefix("export ").strip()
            key, sep, value = line.partition("=")
            if not sep:
                raise ConfigError("expected NAME=value", source=f"{path}:{number}")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values.setdefault(key.strip(), value)
    return values


def _load_yaml(path: Path, shown: str, explicit: bool) -> dict[str, Any]:
    if not path.exists():
        if explicit:
            raise ConfigError("config file not found", source=shown)
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}" if mark else shown
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"not valid YAML: {problem}", source=where) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", source=shown) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of settings at the top level", source=shown)
    return data


def _check(mapping: dict[str, Any], allowed: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        kind = allowed.get(key)
        if kind is None:
            known = ", ".join(sorted(allowed))
            raise ConfigError(f"unknown key {key!r} (known: {known})", source=f"{where}.{key}".lstrip("."))
        if kind is dict:
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise ConfigError("expected a mapping", source=f"{where}.{key}".lstrip("."))
            out[key] = value
        else:
            out[key] = kind(value, f"{where}.{key}".lstrip("."))
    return out


def resolve_url(
    env_name: str, cli_url: str | None, url_env: str | None, root: Path
) -> tuple[DatabaseURL | None, str]:
    """The environment's database URL and the name of where it came from.

    Order: ``--url``; ``<ENV>_DATABASE_URL`` (or the name in ``url_env``);
    ``DATABASE_URL``; the same names in ``.env.dbmate`` / ``.env``.
    """
    if cli_url:
        return DatabaseURL.parse(cli_url, source="--url"), "--url"
    names = [url_env or f"{env_name.upper().replace('-', '_')}_DATABASE_URL", "DATABASE_URL"]
    for name in names:
        if os.environ.get(name):
            return DatabaseURL.parse(os.environ[name], source=name), name
    files = read_env_files(root)
    for name in names:
        if files.get(name):
            return DatabaseURL.parse(files[name], source=f".env file {name}"), f"{name} (.env file)"
    return None, ""


def load(
    *,
    environment: str = "dev",
    config_file: Path | None = None,
    url: str | None = None,
    migrations_dir: str | None = None,
    schema_file: str | None = None,
    migrations_table: str | None = None,
    root: Path | None = None,
    no_dump_schema: bool = False,
    needs_database: bool = True,
) -> Config:
    """Build the :class:`Config` for one command from the file, the environment and flags."""
    root = (root or Path.cwd()).resolve()
    explicit = config_file is not None
    path = config_file if config_file is not None else DEFAULT_CONFIG
    path = path if path.is_absolute() else root / path
    shown = str(config_file or DEFAULT_CONFIG)
    data = _check(_load_yaml(path, shown, explicit), TOP_KEYS, shown)
    verify = _check(data.get("verify", {}), VERIFY_KEYS, f"{shown}: verify")
    envs = data.get("environments") or {name: {} for name in DEFAULT_ENVIRONMENTS}
    if environment not in envs:
        known = ", ".join(envs) or "none"
        raise ConfigError(f"unknown environment {environment!r} (configured: {known})", source=shown)
    checked: dict[str, dict[str, Any]] = {}
    for name in (environment, *(n for n in envs if n != environment)):  # a typo elsewhere is still a typo
        where = f"{shown}: environments.{name}"
        checked[name] = _check(envs[name] or {}, ENV_KEYS, where)
        checked[name]["health"] = _check(checked[name].get("health", {}), HEALTH_KEYS, f"{where}.health")
    settings = checked[environment]
    health = settings["health"]
    backup = settings.get("backup") or (DEV_BACKUPS if environment == "dev" else None)
    backup_required = settings.get("backup_required", environment in PROTECTED)

    db_url, source = resolve_url(environment, url, settings.get("url_env"), root)
    if db_url is None and environment != "dev" and needs_database:
        expected = settings.get("url_env") or f"{environment.upper()}_DATABASE_URL"
        raise ConfigError(
            f"no database URL for environment {environment!r}: set {expected} or "
            "DATABASE_URL, or pass --url (only dev falls back to the embedded PostgreSQL)"
        )
    env = Environment(
        name=environment,
        url=db_url,
        url_source=source,
        lock_wait=settings.get("lock_wait", 60.0),
        dump_schema=not no_dump_schema and settings.get("dump_schema", environment == "dev"),
        backup=backup,
        backup_required=backup_required,
        sse="aws:kms" if settings.get("kms_key_id") else settings.get("sse", "AES256"),
        kms_key_id=settings.get("kms_key_id"),
        health=Health(
            url=settings.get("health_url"),
            attempts=health.get("attempts", 5),
            interval=health.get("interval", 2.0),
            timeout=health.get("timeout", 5.0),
        ),
        lock_timeout=settings.get("lock_timeout", 5.0),
        statement_timeout=settings.get("statement_timeout", 0.0),
        auto_rollback=settings.get("auto_rollback", True),
        lock_retries=settings.get("lock_retries", 3),
        lock_retry_delay=settings.get("lock_retry_delay", 1.0),
        drift=settings.get("drift", "error" if environment in PROTECTED else "warn"),
        strict=settings.get("strict", False),
        lint=settings.get("lint"),
    )

    def _path(flag: str | None, key: str, default: str) -> Path:
        value = Path(flag or data.get(key) or default)
        return value if value.is_absolute() else root / value

    return Config(
        root=root,
        config_file=path,
        migrations_dir=_path(migrations_dir, "migrations_dir", "db/migrations"),
        schema_file=_path(schema_file, "schema_file", "db/schema.sql"),
        migrations_table=migrations_table or data.get("migrations_table") or "schema_migrations",
        budget=verify.get("budget", 30.0),
        environment=env,
        environments=tuple(envs),
    )
