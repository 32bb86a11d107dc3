"""The health check's rules that need no endpoint: what it refuses before asking anything.
(Against a real endpoint and database: ``integration/test_health.py``.)"""

from __future__ import annotations

import pytest

from orchestrator.config import Health
from orchestrator.errors import ConfigError
from orchestrator.health import check, probe_http

FAST = Health(attempts=5, interval=0.05, timeout=3.0)


def test_malformed_url_is_a_config_error_before_any_request():
    with pytest.raises(ConfigError, match="expected http:// or https://"):
        probe_http("ftp://127.0.0.1/health/db", FAST)
    with pytest.raises(ConfigError, match="no host"):
        probe_http("http:///health/db", FAST)


def test_check_needs_something_to_check():
    with pytest.raises(ValueError):
        check(None, None, FAST)
