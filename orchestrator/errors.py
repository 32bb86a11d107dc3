"""The exception tree.

Every error the user can cause or meet carries what is at fault (a file and line, a
setting, an environment) and the exit code the CLI maps it to, so the CLI needs one
``except OrchestratorError`` and nothing else.  Anything that is not an
``OrchestratorError`` is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1  # failed, database as before the run
EXIT_USAGE = 2  # bad input or refused, nothing changed
EXIT_RESTORE = 3  # failed and not rolled back: restore needed


class OrchestratorError(Exception):
    """Base class; ``exit_code`` says how the CLI ends, ``outcome`` what the run log says."""

    exit_code = EXIT_FAILED
    outcome = "failed"


class UsageError(OrchestratorError):
    """Bad input or a refused request: nothing was changed."""

    exit_code = EXIT_USAGE
    outcome = "refused"


class ConfigError(UsageError):
    """A setting in the config file or the environment is wrong."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(f"{source}: {message}" if source else message)
        self.source = source


class MigrationFileError(UsageError):
    """A migration file cannot be used as it is (malformed, unreadable, duplicate)."""

    def __init__(self, path: Path | str, message: str, *, line: int | None = None) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")
        self.path = Path(path)
        self.line = line
        self.detail = message


class DatabaseUnavailable(UsageError):
    """The database cannot be reached or refuses our credentials; nothing changed."""


class LockTimeout(OrchestratorError):
    """Another run holds the migration lock for this database."""

    exit_code = EXIT_USAGE
    outcome = "refused"


class MigrationFailed(OrchestratorError):
    """A statement of a migration failed; that migration left no trace."""

    def __init__(
        self,
        path: Path,
        direction: str,
        message: str,
        *,
        line: int | None = None,
        partial: bool = False,
    ) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {direction} failed: {message}")
        self.path = path
        self.direction = direction
        self.line = line
        self.detail = message
        self.partial = partial  # a transaction:false section stopped half-way


class ToolError(OrchestratorError):
    """An external program (pg_dump, pg_restore) failed or is missing."""


class BackupError(OrchestratorError):
    """A backup could not be made, stored, verified or restored.

    Raised before any migration runs (so the deploy applies nothing), or by a restore
    whose one transaction rolled back (it commits only once the whole archive is in):
    exit code 1, the database is as it was.
    """


class BackupNotFound(UsageError):
    """The named backup, or a text object of the store, does not exist or is incomplete."""


class Refused(UsageError):
    """The run was refused before anything changed (stale plan, unhealthy app, no backup)."""


class RunFailed(OrchestratorError):
    """A deploy run that did not end in success; the pipeline's outcome sets both codes."""

    def __init__(self, message: str, *, exit_code: int, outcome: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.outcome = outcome
