"""A fleet: one environment of three databases on the embedded server, each URL in its own
variable (as ``databases:`` wants it), with the project that deploys them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.dburl import DatabaseURL

from .postgres import drop_database, fresh_database
from .project import Project, Result

NAMES = ("alpha", "beta", "gamma")


def variable(name: str) -> str:
    """The variable holding a member's URL."""
    return f"SHARD_{name.upper()}_URL"


@dataclass
class Fleet:
    """The project, its databases by member name, and the environment naming them."""

    project: Project
    urls: dict[str, DatabaseURL]
    backups: Path

    def configure(self, **settings: Any) -> None:
        """``staging`` as a fleet of the three databases, with ``settings`` on top."""
        members = [{"name": n, "url_env": variable(n)} for n in self.urls]
        self.project.configure({"staging": {"backup": str(self.backups), "databases": members, **settings}})

    def env(self, **extra: str) -> dict[str, str]:
        """The project's environment with each member's URL in its variable (no DATABASE_URL)."""
        env = self.project.env(**{**{variable(n): u.dbmate_url() for n, u in self.urls.items()}, **extra})
        env.pop("DATABASE_URL", None)
        return env

    def run(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return self.project.run(*args, env=env if env is not None else self.env())


def make_fleet(project: Project, server: DatabaseURL, tmp: Path) -> Fleet:
    """Three fresh databases (dropped by :func:`drop_fleet`), the project configured for them."""
    tag = secrets.token_hex(4)
    urls = {name: fresh_database(server, f"fleet_{tag}_{name}") for name in NAMES}
    fleet = Fleet(project, urls, tmp / "backups")
    fleet.configure()
    return fleet


def drop_fleet(fleet: Fleet, server: DatabaseURL) -> None:
    for url in fleet.urls.values():
        drop_database(server, url.database)
