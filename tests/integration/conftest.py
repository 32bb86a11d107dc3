"""Integration tests: orchestrator's real parts in this process.

The embedded PostgreSQL, S3 over HTTP (moto server), a real /health/db and the real
pg_dump, psql and dbmate, as in the end-to-end tests; but ``project.run`` calls
``orchestrator.cli.main`` in-process (see ``support.project.run_in_process``) instead of
starting an interpreter per command.
"""

from __future__ import annotations

import pytest
from support.project import Runner, run_in_process


@pytest.fixture
def runner() -> Runner:
    """``project.run``: the CLI in-process."""
    return run_in_process
