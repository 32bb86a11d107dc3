"""Configuration: ``db/orchestrator.yml``, environment variables and ``.env`` files.

Everything here is pure apart from reading those files; the result is a frozen
:class:`Config` that the commands take.  An unknown key, a value of the wrong kind or
an unknown environment is a :class:`ConfigError` naming the file and the key.

As dbmate: the ``.env`` file (or each ``--env-file``, in order) is read with godotenv's
rules (:mod:`orchestrator.dotenv`); a variable of the real environment is never replaced
by a file's, and the first file that sets a name wins.  A setting comes from, first to
last: its flag; its ``DBMATE_*`` variable (real environment or env file; empty counts as
unset); ``db/orchestrator.yml``; the default.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import compression as compressions
from . import dotenv
from .dburl import DatabaseURL
from .errors import ConfigError
from .redaction import redact, register_secret

DEFAULT_CONFIG = Path("db/orchestrator.yml")
DEFAULT_ENVIRONMENTS = ("dev", "staging", "production")
ENV_FILES = (".env",)  # dbmate's default; --env-file replaces it
POSTGRES_DRIVERS = ("postgres", "postgresql")  # DBMATE_DRIVER values orchestrator serves

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
    time (:meth:`pause`)."""

    lock: float = 0.0
    statement: float = 0.0
    lock_retries: int = 0
    retry_delay: float = 1.0

    def pause(self, attempt: int) -> float:
        """The pause before retry ``attempt + 1``: doubling from ``retry_delay``, capped at
        :data:`MAX_RETRY_PAUSE`, each drawn between half and all of that ("equal jitter").

        Doubling lets a long transaction that holds the lock finish without a storm of
        attempts, each of which makes the app's queries wait up to ``lock_timeout``; the cap
        keeps the whole wait bounded; the jitter keeps two deploys (or shards of a fleet)
        that failed together from retrying in step against the same lock holder.
        """
        ceiling = min(MAX_RETRY_PAUSE, self.retry_delay * 2**attempt)
        return ceiling * (0.5 + random.random() / 2)


MAX_RETRY_PAUSE = 10.0  # seconds: the longest pause between two attempts at a lock


@dataclass(frozen=True)
class Member:
    """One database of a fleet (``databases:``): its name and the variable holding its URL."""

    name: str
    url_env: str
    url: DatabaseURL | None  # None for a command that needs no database (``backups list``): names only


@dataclass(frozen=True)
class Environment:
    """One environment's settings; ``url`` is None where the embedded server is used, and
    for a fleet run on several databases at once (``members``, see :mod:`orchestrator.fleet`)."""

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
    lock_timeout: float = 0.1
    statement_timeout: float = 0.0
    auto_rollback: bool = True
    lock_retries: int = 10
    lock_retry_delay: float = 0.5
    drift: str = "warn"
    strict: bool = False
    lint: dict[str, str] | None = None  # rule id (or "*") -> error|warning|off; None: the defaults
    compression: compressions.Compression = compressions.DEFAULT  # of backups
    members: tuple[Member, ...] = ()  # the fleet's databases this command runs on (all, or --database's)
    database: str | None = None  # the one fleet member this process runs on
    parallel: int = 4  # fleet: how many databases at once
    fleet_policy: str = "continue"  # fleet: when one fails, the others go on, or those applied roll back

    @property
    def is_fleet(self) -> bool:
        """Several databases: the command runs once per database (:mod:`orchestrator.fleet`)."""
        return self.database is None and bool(self.members)

    @property
    def timeouts(self) -> Timeouts:
        """What each migration runs with."""
        return Timeouts(self.lock_timeout, self.statement_timeout, self.lock_retries, self.lock_retry_delay)


@dataclass(frozen=True)
class Config:
    """Everything a command needs to know, resolved once."""

    root: Path
    config_file: Path
    migrations_dirs: tuple[Path, ...]  # in the order given; files merge by name (dbmate's order)
    schema_file: Path
    migrations_table: str
    budget: float
    environment: Environment
    environments: tuple[str, ...] = field(default=DEFAULT_ENVIRONMENTS)
    wait: bool = False  # --wait / DBMATE_WAIT: wait for the database before the command
    wait_timeout: float = 60.0  # --wait-timeout / DBMATE_WAIT_TIMEOUT, seconds
    wait_interval: float = 1.0  # --wait-interval / DBMATE_WAIT_INTERVAL, seconds
    verbose: bool = False  # DBMATE_VERBOSE: print each statement's result

    @property
    def migrations_dir(self) -> Path:
        """The first migrations directory: where ``new`` writes, as dbmate does."""
        return self.migrations_dirs[0]

    @property
    def migrations_shown(self) -> str:
        """The migrations directories as messages name them."""
        return ", ".join(self.relative(d) for d in self.migrations_dirs)

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


def _compression(value: Any, source: str) -> compressions.Compression:
    try:
        return compressions.parse(_str(value, source))
    except ValueError as exc:
        raise ConfigError(str(exc), source=source) from exc


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


_RDS_ID = re.compile(r"[A-Za-z](?:-?[A-Za-z0-9])*")  # RDS: a letter first, no "--", no "-" last


def _backup(value: Any, source: str) -> str:
    """A local path, ``s3://bucket[/prefix]``, or ``rds-snapshot://<instance-or-cluster>``
    (whether that exists is known only by asking RDS, at the backup step)."""
    text = _str(value, source).strip()
    if text.startswith("rds-snapshot://"):
        ident = text[len("rds-snapshot://") :]
        if not ident:
            raise ConfigError("rds-snapshot:// names no DB instance or cluster (rds-snapshot://ID)", source=source)
        if len(ident) > 63 or not _RDS_ID.fullmatch(ident):
            raise ConfigError(f"{ident!r} is not an RDS DB instance or cluster identifier", source=source)
    return text


def _sse(value: Any, source: str) -> str:
    if value not in SSE_MODES:
        raise ConfigError(f"expected one of {', '.join(SSE_MODES)}, got {value!r}", source=source)
    return value


_MEMBER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")  # no ".": it separates parts of run-log names
FLEET_POLICIES = ("continue", "rollback")


def _fleet_policy(value: Any, source: str) -> str:
    if value not in FLEET_POLICIES:
        raise ConfigError(f"expected continue or rollback, got {value!r}", source=source)
    return value


def _databases(value: Any, source: str) -> tuple[tuple[str, str | None], ...]:
    """A fleet's ``databases:``: a list of ``{name, url_env}`` (names unique); never a URL
    itself, so that no password is ever committed with the config file."""
    if not isinstance(value, list) or not value:
        raise ConfigError("expected a list of databases, each with a name and a url_env", source=source)
    out: dict[str, str | None] = {}
    for i, item in enumerate(value):
        where = f"{source}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"expected a mapping with name and url_env, got {item!r}", source=where)
        unknown = sorted(set(item) - {"name", "url_env"})
        if unknown:
            raise ConfigError(f"unknown key {unknown[0]!r} (known: name, url_env; a URL goes in the variable "
                              "url_env names, never in this file)", source=f"{where}.{unknown[0]}")
        name = _str(item.get("name"), f"{where}.name")
        if not _MEMBER_NAME.match(name):
            raise ConfigError(f"expected letters, digits, _ or - (starting with a letter or digit), got {name!r}",
                              source=f"{where}.name")
        if name in out:
            raise ConfigError(f"duplicate database name {name!r}", source=f"{where}.name")
        out[name] = _str(item["url_env"], f"{where}.url_env") if "url_env" in item else None
    return tuple(out.items())


def _dirs(value: Any, source: str) -> tuple[str, ...]:
    """One directory, or a list of them (dbmate's repeated ``--migrations-dir``)."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ConfigError("expected a directory or a list of directories, got []", source=source)
    return tuple(_str(item, source) for item in items)


SSE_MODES = ("AES256", "aws:kms")
TOP_KEYS = {
    "migrations_dir": _dirs,
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
    "backup": _backup,
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
    "compression": _compression,
    "databases": _databases,
    "parallel": _attempts,
    "fleet_policy": _fleet_policy,
}
HEALTH_KEYS = {"attempts": _attempts, "interval": parse_duration, "timeout": _positive_duration}
PROTECTED = ("staging", "production")  # environments where a backup is required by default
DEV_BACKUPS = ".orchestrator/backups"


def read_env_files(root: Path, files: Sequence[str] | None = None) -> dict[str, str]:
    """Variables from the env files as dbmate loads them: ``files`` (default ``.env``) in
    order, relative to ``root``; a missing file is skipped; the first file that sets a name wins."""
    values: dict[str, str] = {}
    for name in files or ENV_FILES:
        path = Path(name) if Path(name).is_absolute() else root / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror or exc}", source=name) from exc
        for key, value in dotenv.parse_bytes(data, name).items():
            values.setdefault(key, value)
    return values


class Variables:
    """The variables dbmate sees: the real environment over the env files' values."""

    def __init__(self, files: Mapping[str, str], environ: Mapping[str, str] | None = None) -> None:
        self.files = dict(files)
        self.environ = dict(os.environ if environ is None else environ)

    def get(self, name: str) -> tuple[str | None, str]:
        """A variable's value (None when unset or empty) and where it came from."""
        if name in self.environ:
            return self.environ[name] or None, name
        return self.files.get(name) or None, f"{name} (env file)"


_GO_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str, source: str) -> float:
    """Seconds from a Go duration (``90s``, ``1m30s``, ``500ms``, ``0``), as dbmate's
    ``--wait-timeout`` takes it; a negative one is refused."""
    body = text[1:] if text[:1] in "+-" else text
    fail = ConfigError(f"expected a duration such as 30s, 1m30s or 500ms, got {text!r}", source=source)
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(body):
        match = _GO_DURATION.match(body, pos)
        if not match or match[1] in ("", "."):
            raise fail
        total += float(match[1]) * _GO_UNITS[match[2]]
        pos = match.end()
    if not body:
        raise fail
    if text.startswith("-") and total:
        raise ConfigError(f"expected a duration of 0 or more, got {text!r}", source=source)
    return total


def parse_go_bool(text: str, source: str) -> bool:
    """A boolean as dbmate reads one from a variable (Go's strconv.ParseBool)."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ConfigError(f"expected true or false (or 1, 0, t, f), got {text!r}", source=source)


def split_dirs(values: Sequence[str], source: str) -> tuple[str, ...]:
    """dbmate's ``--migrations-dir``/``DBMATE_MIGRATIONS_DIR`` list: each value split at
    commas, each part trimmed."""
    parts = tuple(part.strip() for value in values for part in value.split(","))
    if not all(parts):
        raise ConfigError(f"an empty directory in {','.join(values)!r}", source=source)
    return parts


def _load_yaml(path: Path, shown: str, explicit: bool) -> dict[str, Any]:
    if not path.exists():
        if explicit:
            raise ConfigError("config file not found", source=shown)
        return {}
    import yaml  # noqa: PLC0415  (only where a config file exists: `new` starts without it)

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
    env_name: str, cli_url: str | None, url_env: str | None, root: Path, *, variables: Variables | None = None
) -> tuple[DatabaseURL | None, str]:
    """The environment's database URL and the name of where it came from.

    Order: ``--url``; ``<ENV>_DATABASE_URL`` (or the name in ``url_env``);
    ``DATABASE_URL``; the same names in the env files (``.env`` or ``--env-file``).
    """
    if cli_url:
        return DatabaseURL.parse(cli_url, source="--url"), "--url"
    variables = variables or Variables(read_env_files(root))
    names = [url_env or f"{env_name.upper().replace('-', '_')}_DATABASE_URL", "DATABASE_URL"]
    for name in names:
        if variables.environ.get(name):
            return DatabaseURL.parse(variables.environ[name], source=name), name
    for name in names:
        if variables.files.get(name):
            return DatabaseURL.parse(variables.files[name], source=f"env file {name}"), f"{name} (env file)"
    return None, ""


SELECT_VARIABLE = "ORCHESTRATOR_DATABASE"  # --database's variable: NAME[,NAME...] (a CI matrix sets it)


def _selection(selected: Sequence[str] | None, variables: Variables) -> tuple[list[str], str]:
    """The names ``--database`` gives, else those of ``ORCHESTRATOR_DATABASE``; and where they came from."""
    if selected:
        return list(dict.fromkeys(selected)), "--database"
    value, source = variables.get(SELECT_VARIABLE)
    names = [part.strip() for part in (value or "").split(",") if part.strip()]
    return list(dict.fromkeys(names)), source


def fleet_members(
    environment: str, settings: dict[str, Any], selected: Sequence[str] | None, url: str | None,
    variables: Variables, where: str, *, urls: bool = True,
) -> tuple[Member, ...]:
    """The databases of a fleet environment this command runs on: all, or those ``--database``
    names, each with its URL from its variable (unless ``urls`` is false: a command that
    connects to none, such as ``backups list``, needs the names only).  Every error is found
    here, before anything connects: a name not configured, a variable not set, ``--url`` with a fleet."""
    configured = dict(settings.get("databases") or ())
    names, picked_by = _selection(selected, variables)
    if not configured:
        for key in ("parallel", "fleet_policy"):
            if key in settings:
                raise ConfigError("only for an environment with databases:", source=f"{where}.{key}")
        if names:
            raise ConfigError(f"environment {environment!r} names no databases (see docs/fleets.md)",
                              source=picked_by)
        return ()
    if url:
        raise ConfigError(f"environment {environment!r} is a fleet of databases: pick them with --database "
                          "NAME, not --url", source="--url")
    for name in names:
        if name not in configured:
            known = ", ".join(configured)
            raise ConfigError(f"unknown database {name!r} in environment {environment!r} (configured: {known})",
                              source=picked_by)
    index = {name: i for i, name in enumerate(configured)}
    members = []
    for name in names or configured:
        variable = configured[name] or f"{environment}_{name}_DATABASE_URL".upper().replace("-", "_")
        if not urls:
            members.append(Member(name, variable, None))
            continue
        value, source = variables.get(variable)
        if value is None:
            raise ConfigError(f"no database URL for {name!r}: set {variable}",
                              source=f"{where}.databases[{index[name]}].url_env")
        members.append(Member(name, variable, DatabaseURL.parse(value, source=source)))
    return tuple(members)

def load(
    *,
    environment: str = "dev",
    config_file: Path | None = None,
    url: str | None = None,
    migrations_dir: str | Sequence[str] | None = None,
    schema_file: str | None = None,
    migrations_table: str | None = None,
    root: Path | None = None,
    no_dump_schema: bool = False,
    needs_database: bool = True,
    env_files: Sequence[str] | None = None,
    strict: bool | None = None,
    wait: bool = False,
    wait_timeout: str | None = None,
    wait_interval: str | None = None,
    databases: Sequence[str] | None = None,
) -> Config:
    """Build the :class:`Config` for one command from the flags, the environment (and env
    files) and the config file, in that order of precedence."""
    root = (root or Path.cwd()).resolve()
    variables = Variables(read_env_files(root, env_files))
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

    def flag_bool(name: str) -> bool | None:
        value, source = variables.get(name)
        return None if value is None else parse_go_bool(value, source)

    def duration(flag: str | None, flag_name: str, name: str, default: float) -> float:
        value, source = (flag, flag_name) if flag else variables.get(name)
        seconds = parse_go_duration(value, source) if value is not None else 0.0
        return seconds or default  # dbmate: 0 keeps the default

    if needs_database:
        driver, source = variables.get("DBMATE_DRIVER")
        if driver is not None and driver not in POSTGRES_DRIVERS:
            raise ConfigError(f"orchestrator serves PostgreSQL only, not driver {driver!r}", source=source)
    env_strict = flag_bool("DBMATE_STRICT")
    env_no_dump = flag_bool("DBMATE_NO_DUMP_SCHEMA")
    env_lock_wait, lock_wait_source = variables.get("DBMATE_MIGRATION_LOCK_TIMEOUT")
    flag_bool("DBMATE_MIGRATION_LOCK")  # checked only: orchestrator always holds the lock
    if no_dump_schema:
        dump_schema = False
    elif env_no_dump is not None:
        dump_schema = not env_no_dump
    else:
        dump_schema = settings.get("dump_schema", environment == "dev")

    members = fleet_members(environment, settings, databases, url, variables,
                            f"{shown}: environments.{environment}", urls=needs_database)
    if members:  # a fleet: the one database picked, or none (several, or a command that connects to none)
        one = members[0] if len(members) == 1 else None
        db_url, source = (one.url, one.url_env) if one else (None, "databases")
    else:
        db_url, source = resolve_url(environment, url, settings.get("url_env"), root, variables=variables)
    if db_url is None and not members and environment != "dev" and needs_database:
        expected = settings.get("url_env") or f"{environment.upper()}_DATABASE_URL"
        raise ConfigError(
            f"no database URL for environment {environment!r}: set {expected} or "
            "DATABASE_URL, or pass --url (only dev falls back to the embedded PostgreSQL)"
        )
    env = Environment(
        name=environment,
        url=db_url,
        url_source=source,
        lock_wait=(
            parse_go_duration(env_lock_wait, lock_wait_source)
            if env_lock_wait is not None
            else settings.get("lock_wait", 60.0)
        ),
        dump_schema=dump_schema,
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
        lock_timeout=settings.get("lock_timeout", Environment.lock_timeout),
        statement_timeout=settings.get("statement_timeout", 0.0),
        auto_rollback=settings.get("auto_rollback", True),
        lock_retries=settings.get("lock_retries", Environment.lock_retries),
        lock_retry_delay=settings.get("lock_retry_delay", Environment.lock_retry_delay),
        drift=settings.get("drift", "error" if environment in PROTECTED else "warn"),
        strict=next(v for v in (strict, env_strict, settings.get("strict"), False) if v is not None),
        lint=settings.get("lint"),
        compression=settings.get("compression", Environment.compression),
        members=members,
        database=members[0].name if len(members) == 1 else None,
        parallel=settings.get("parallel", 4),
        fleet_policy=settings.get("fleet_policy", "continue"),
    )

    def _path(value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else root / path

    def _setting(flag: str | None, variable: str, key: str, default: str) -> str:
        return flag or variables.get(variable)[0] or data.get(key) or default

    if isinstance(migrations_dir, str):
        migrations_dir = [migrations_dir]
    env_dirs, dirs_source = variables.get("DBMATE_MIGRATIONS_DIR")
    if migrations_dir:
        dirs = split_dirs(migrations_dir, "--migrations-dir")
    elif env_dirs is not None:
        dirs = split_dirs([env_dirs], dirs_source)
    else:
        dirs = data.get("migrations_dir") or ("db/migrations",)
    paths = tuple(_path(d) for d in dirs)
    return Config(
        root=root,
        config_file=path,
        migrations_dirs=paths,
        schema_file=_path(_setting(schema_file, "DBMATE_SCHEMA_FILE", "schema_file", "db/schema.sql")),
        migrations_table=_setting(migrations_table, "DBMATE_MIGRATIONS_TABLE", "migrations_table", "schema_migrations"),
        budget=verify.get("budget", 30.0),
        environment=env,
        environments=tuple(envs),
        wait=wait or bool(flag_bool("DBMATE_WAIT")),
        wait_timeout=duration(wait_timeout, "--wait-timeout", "DBMATE_WAIT_TIMEOUT", 60.0),
        wait_interval=duration(wait_interval, "--wait-interval", "DBMATE_WAIT_INTERVAL", 1.0),
        verbose=bool(flag_bool("DBMATE_VERBOSE")),
    )
