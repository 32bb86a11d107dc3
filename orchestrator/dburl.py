"""Database URLs as dbmate users write them, turned into what libpq accepts.

dbmate hands its URL to lib/pq, which takes more than libpq does: ``socket=`` (a socket
directory), and any query parameter lib/pq does not know itself is sent to the server as a
setting (``?search_path=app&statement_timeout=60000``).  libpq refuses those, so
:meth:`DatabaseURL.conninfo` turns them into ``options=-c name=value``.

The password is held apart from the rest (from the userinfo or ``?password=``):
connection strings carry none (psycopg gets it as an argument, client programs in
``PGPASSWORD``), and :meth:`DatabaseURL.display` masks it.  What the URL leaves out,
libpq's environment supplies (``PGUSER``, ``PGPASSWORD``, ``PGPASSFILE``, ``PGHOST``,
``PGPORT``, ``PGSSLMODE``, ...), for psycopg and the client programs alike; with neither
a host in the URL nor ``PGHOST``, the host is dbmate's default socket directory, and over
TCP with neither ``sslmode=`` nor ``PGSSLMODE``, SSL is required, as dbmate requires it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from .errors import ConfigError
from .redaction import MASK, register_secret

SCHEMES = ("postgres", "postgresql")

# libpq 18's connection keywords (PQconndefaults), less the ones that carry a secret.
LIBPQ_KEYWORDS = frozenset({
    "application_name", "channel_binding", "client_encoding", "connect_timeout", "dbname",
    "fallback_application_name", "gssdelegation", "gssencmode", "gsslib", "host", "hostaddr",
    "keepalives", "keepalives_count", "keepalives_idle", "keepalives_interval", "krbsrvname",
    "load_balance_hosts", "max_protocol_version", "min_protocol_version", "oauth_client_id",
    "oauth_issuer", "oauth_scope", "options", "passfile", "password", "port", "replication",
    "require_auth", "requirepeer", "service", "ssl_max_protocol_version",
    "ssl_min_protocol_version", "sslcert", "sslcertmode", "sslcompression", "sslcrl",
    "sslcrldir", "sslkey", "sslkeylogfile", "sslmode", "sslnegotiation", "sslrootcert",
    "sslsni", "target_session_attrs", "tcp_user_timeout", "user",
})
# Secrets other than the password: libpq has no environment variable for them, so a
# client program could only get them on its command line.
SECRET_KEYWORDS = frozenset({"sslpassword", "oauth_client_secret", "scram_client_key", "scram_server_key"})
# lib/pq's own switches, about its wire encoding: nothing for libpq or the server.
LIBPQ_IGNORED = frozenset({"binary_parameters", "disable_prepared_binary_result"})
UNSUPPORTED = {
    "sslinline": "lib/pq's inline certificates are not supported: put them in files and name "
                 "them with sslcert, sslkey and sslrootcert",
    "krbspn": "lib/pq's krbspn has no libpq equivalent: use krbsrvname",
}
# lib/pq (dbmate) insists on SSL over TCP unless told otherwise; libpq would only prefer it.
DEFAULT_TCP_SSLMODE = "require"
_SETTING = re.compile(r"[A-Za-z_][A-Za-z0-9_.$]*\Z")


def default_host() -> str:
    """dbmate's host when the URL names none: the usual socket directory of the platform."""
    if sys.platform.startswith("linux"):
        return "/var/run/postgresql"
    if sys.platform.startswith(("darwin", "freebsd", "dragonfly", "openbsd", "netbsd")):
        return "/tmp"
    return "localhost"


def _invalid(what: str, source: str) -> ConfigError:
    # Never quote the URL or urllib's message: either may hold the password.
    return ConfigError(f"not a valid URL: {what} (percent-encode special characters in the password)",
                       source=source)


def _split_netloc(netloc: str, source: str) -> tuple[str | None, str | None, str, int | None]:
    """(user, password, host, port) of a URL's authority, as Go's net/url splits it."""
    userinfo, at, hostport = netloc.rpartition("@")
    user = password = None
    if at:
        name, colon, secret = userinfo.partition(":")
        user = unquote(name)
        password = unquote(secret) if colon else None
        register_secret(password)
        register_secret(secret if colon else None)
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise _invalid("an IPv6 address misses its closing ']'", source)
        host, rest = hostport[1:end], hostport[end + 1:]
        if rest and not rest.startswith(":"):
            raise _invalid("unexpected text after the IPv6 address", source)
        port_text = rest[1:] if rest else ""
    elif hostport.count(":") > 1:
        raise _invalid("an IPv6 address must be written in brackets, as [::1]", source)
    else:
        host, _, port_text = hostport.partition(":")
    port = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise _invalid("its port is not a number from 1 to 65535", source)
        port = int(port_text)
    return user, password, unquote(host), port


def _tcp(host: str, hostaddr: str | None) -> bool:
    """Whether libpq will use TCP (a host name or address, not a socket directory)."""
    return bool(hostaddr) or any(h and not h.startswith("/") and not h.startswith("@")
                                 for h in host.split(","))


def _quote(value: str) -> str:
    """A value for a libpq key=value connection string."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _option(value: str) -> str:
    """A value inside libpq's ``options``: whitespace and backslashes escaped."""
    return re.sub(r"([\s\\])", r"\\\1", value)


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed PostgreSQL URL; the password is held apart from the rest.

    ``query`` holds the URL's other parameters as written, except that ``socket`` is
    spelled ``host`` and ``password``, ``user``, ``port`` and ``dbname`` moved to
    their fields.
    """

    user: str
    password: str | None
    host: str
    port: int | None
    database: str
    query: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, raw: str, *, source: str = "database URL") -> DatabaseURL:
        """Parse ``raw``; ``source`` names the setting it came from for error messages."""
        raw = raw.strip()
        try:
            parts = urlsplit(raw)
        except ValueError:
            raise _invalid("it cannot be read", source) from None
        if parts.scheme not in SCHEMES:
            shown = parts.scheme or "(none)"
            if ":" in shown or "@" in shown or len(shown) > 20:
                shown = "(unreadable)"
            raise ConfigError(
                f"unsupported URL scheme {shown!r}: expected postgres:// or postgresql://",
                source=source,
            )
        user, password, host, port = _split_netloc(parts.netloc, source)
        if parts.fragment:
            raise _invalid("it has a '#' fragment", source)
        if "/" in parts.path.lstrip("/"):
            raise _invalid("its path holds more than a database name", source)
        database = unquote(parts.path.lstrip("/"))
        query: list[tuple[str, str]] = []
        seen: set[str] = set()
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key == "password":
                register_secret(value)
            if key in seen:
                raise ConfigError(f"the URL's query gives {key!r} twice", source=source)
            seen.add(key)
            if key in SECRET_KEYWORDS:
                raise ConfigError(
                    f"{key} in the URL is not supported: it would reach the client programs' "
                    f"command line; put the key in a file libpq reads without it", source=source)
            if key in UNSUPPORTED:
                raise ConfigError(f"{key} in the URL: {UNSUPPORTED[key]}", source=source)
            if key == "password":
                password = value
            elif key == "user":
                user = value
            elif key == "dbname":
                database = value
            elif key == "port":
                if not value.isdigit() or not 0 < int(value) < 65536:
                    raise ConfigError("the URL's port= parameter is not a number from 1 to 65535",
                                      source=source)
                port = int(value)
            elif key == "socket":  # dbmate's name for libpq's host=/dir; it wins over host=
                query = [(k, v) for k, v in query if k != "host"]
                query.append(("host", value))
            elif key == "host":
                if "socket" not in seen:
                    query.append(("host", value))
            elif key in LIBPQ_KEYWORDS or key in LIBPQ_IGNORED or _SETTING.match(key):
                query.append((key, value))
            else:
                raise ConfigError(
                    f"the URL's query parameter {key!r} is neither a libpq connection setting "
                    "nor a server setting name", source=source)
        if not database:
            raise ConfigError("the URL names no database (postgres://host/DBNAME)", source=source)
        if any(k == "host" for k, _ in query):
            host = ""  # dbmate: a host parameter overrides the URL's host name
        return cls(
            user=user or "",
            password=password or None,
            host=host,
            port=port,
            database=database,
            query=tuple(query),
        )

    def param(self, key: str) -> str | None:
        """The value of a query parameter, or None."""
        for k, v in self.query:
            if k == key:
                return v
        return None

    @property
    def search_path(self) -> list[str]:
        """Schemas from dbmate's ``search_path=`` parameter, first one first."""
        raw = self.param("search_path") or ""
        return [s.strip() for s in raw.split(",") if s.strip()]

    @property
    def settings(self) -> list[tuple[str, str]]:
        """Server settings from the query (lib/pq sends each one to the server), search_path too."""
        return [(k, v) for k, v in self.query
                if k not in LIBPQ_KEYWORDS and k not in LIBPQ_IGNORED]

    def with_database(self, database: str) -> DatabaseURL:
        """The same server and credentials, another database."""
        return DatabaseURL(self.user, self.password, self.host, self.port, database, self.query)

    def conninfo(self, *, search_path: bool = True, environ: Mapping[str, str] | None = None) -> str:
        """A libpq ``key=value`` connection string, without the password (pass :meth:`env`).

        Server settings go into ``options`` as ``-c name=value`` (after the URL's own
        ``options``, else ``PGOPTIONS``).  ``search_path=False`` leaves dbmate's
        ``search_path`` out, for pg_dump, which takes the schemas as ``--schema`` options.
        ``environ`` (default: this process's) decides whether ``PGHOST`` stands in for a
        missing host; its ``PGPASSWORD`` is registered as a secret.
        """
        env = os.environ if environ is None else environ
        register_secret(env.get("PGPASSWORD"))  # libpq will use it: never let it be shown
        pairs: list[tuple[str, str]] = []
        host = self.param("host") or self.host
        if not host and not (env.get("PGHOST") or env.get("PGHOSTADDR") or env.get("PGSERVICE")
                             or self.param("hostaddr") or self.param("service")):
            host = default_host()
        if host:
            pairs.append(("host", host))
        if self.port:
            pairs.append(("port", str(self.port)))
        pairs.append(("dbname", self.database))
        if self.user:
            pairs.append(("user", self.user))
        options = self.param("options")
        for key, value in self.query:
            if key in LIBPQ_KEYWORDS and key not in ("host", "options"):
                pairs.append((key, value))
        settings = [(k, v) for k, v in self.settings if search_path or k != "search_path"]
        if settings:
            words = [options if options is not None else env.get("PGOPTIONS", "")]
            for key, value in settings:
                if key == "search_path":
                    value = ",".join(self.search_path)
                words.append(f"-c {key}={_option(value)}")
            options = " ".join(w for w in words if w.strip())
        if options is not None:
            pairs.append(("options", options))
        if _tcp(host or env.get("PGHOST", ""), self.param("hostaddr") or env.get("PGHOSTADDR")) and not (
            self.param("sslmode") or self.param("service") or env.get("PGSSLMODE") or env.get("PGSERVICE")
        ):
            pairs.append(("sslmode", DEFAULT_TCP_SSLMODE))
        return " ".join(f"{k}={_quote(v)}" for k, v in pairs)

    def env(self) -> dict[str, str]:
        """Environment for libpq clients: the URL's password travels here, never in argv."""
        return {"PGPASSWORD": self.password} if self.password else {}

    def _url(self, scheme: str, password: str | None, query: list[tuple[str, str]]) -> str:
        userinfo = quote(self.user, safe="")
        if password is not None:
            userinfo += ":" + password
        netloc = f"{userinfo}@" if userinfo else ""
        host = self.host
        netloc += f"[{host}]" if ":" in host else quote(host, safe="")
        if self.port:
            netloc += f":{self.port}"
        text = f"{scheme}://{netloc}/{quote(self.database, safe='')}"
        return f"{text}?{urlencode(query, safe='/,')}" if query else text

    def display(self) -> str:
        """The URL as it may be shown to a person: password masked, ``socket=`` as ``host=``."""
        return self._url("postgres", MASK if self.password else None, list(self.query))

    def dbmate_url(self) -> str:
        """The URL in dbmate's spelling (``socket=`` for a socket dir), password included.

        Only for handing to dbmate through its environment, in tests and tools.
        """
        query = [("socket" if k == "host" else k, v) for k, v in self.query]
        pw = quote(self.password, safe="") if self.password else None
        return self._url("postgres", pw, query)
