"""Database URLs as dbmate users write them, turned into what libpq accepts.

dbmate accepts a few things libpq does not (``socket=``, ``search_path=``) and its users
put passwords in URLs.  :class:`DatabaseURL` keeps the password out of every string it
hands out: connection strings for subprocesses carry none (the password goes through
``PGPASSWORD``), and :meth:`DatabaseURL.display` masks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from .errors import ConfigError
from .redaction import MASK, register_secret

SCHEMES = ("postgres", "postgresql")


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed PostgreSQL URL; the password is held apart from the rest."""

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
            port = parts.port
        except ValueError as exc:
            # urllib's message quotes what it could not read, which may be the password:
            # neither the message nor the cause may reach any output.
            what = "its port is not a number" if "port" in str(exc).lower() else "it cannot be read"
            raise ConfigError(f"not a valid URL: {what} (percent-encode special characters in the "
                              "password)", source=source) from None
        if parts.scheme not in SCHEMES:
            shown = parts.scheme or "(none)"
            raise ConfigError(
                f"unsupported URL scheme {shown!r}: expected postgres:// or postgresql://",
                source=source,
            )
        password = unquote(parts.password) if parts.password is not None else None
        register_secret(password)
        query = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key == "socket":  # dbmate's name for libpq's host=/dir
                key = "host"
            query.append((key, value))
        database = unquote(parts.path.lstrip("/"))
        if not database:
            raise ConfigError("the URL names no database (postgres://host/DBNAME)", source=source)
        return cls(
            user=unquote(parts.username or ""),
            password=password or None,
            host=parts.hostname or "",
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

    def with_database(self, database: str) -> DatabaseURL:
        """The same server and credentials, another database."""
        return DatabaseURL(self.user, self.password, self.host, self.port, database, self.query)

    def _url(self, password: str | None, *, search_path: bool = True) -> str:
        userinfo = quote(self.user, safe="")
        if password is not None:
            userinfo += ":" + password
        netloc = f"{userinfo}@" if userinfo else ""
        netloc += self.host
        if self.port:
            netloc += f":{self.port}"
        query = []
        for k, v in self.query:
            if k == "search_path":
                continue
            query.append((k, v))
        if search_path and self.search_path:
            query.append(("options", f"-csearch_path={','.join(self.search_path)}"))
        return urlunsplit(("postgresql", netloc, "/" + quote(self.database), urlencode(query, safe="/"), ""))

    def conninfo(self, *, search_path: bool = True) -> str:
        """A libpq URI without the password (pass :meth:`env` alongside it).

        ``search_path=False`` leaves dbmate's ``search_path`` out, for pg_dump, which
        takes the schemas as ``--schema`` options instead.
        """
        return self._url(None, search_path=search_path)

    def env(self) -> dict[str, str]:
        """Environment for libpq clients: the password travels here, never in argv."""
        return {"PGPASSWORD": self.password} if self.password else {}

    def display(self) -> str:
        """The URL as it may be shown to a person: password masked."""
        return self._url(MASK if self.password else None)

    def dbmate_url(self) -> str:
        """The URL in dbmate's spelling (``socket=`` for a socket dir), password included.

        Only for handing to dbmate through its environment, in tests and tools.
        """
        query = [("socket" if k == "host" else k, v) for k, v in self.query]
        pw = quote(self.password, safe="") if self.password else None
        userinfo = quote(self.user, safe="") + (f":{pw}" if pw else "")
        netloc = (f"{userinfo}@" if userinfo else "") + self.host
        if self.port:
            netloc += f":{self.port}"
        return urlunsplit(("postgres", netloc, "/" + quote(self.database), urlencode(query), ""))
