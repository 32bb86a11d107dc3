"""The suite's root: the shared fixtures (``tests/support/fixtures.py``) for every layer.

The layers: ``unit/`` (pure: no database, no network, no subprocess), ``integration/``
(the real PostgreSQL, S3 over HTTP and /health/db, with the CLI run in-process) and
``e2e/`` (the CLI and the action as real processes).  ``pytest tests/unit`` is the quick loop.

Tests import their helpers from ``support``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.register_assert_rewrite("support")  # the helpers' asserts explain themselves too

pytest_plugins = ["support.fixtures"]


LAYERS = ("unit", "integration", "e2e")
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the quickest layer first: unit, integration, e2e."""

    def layer(item: pytest.Item) -> int:
        return LAYERS.index(Path(item.path).relative_to(HERE).parts[0])

    items.sort(key=layer)


@pytest.fixture(autouse=True)
def _fresh_secrets():
    """Each test starts with no registered secret, as a fresh process does (a password such
    as "second" registered by one test would mask the word in the next test's output)."""
    from orchestrator import redaction

    with redaction.isolated():
        yield
