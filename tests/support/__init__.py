"""What the tests and the benchmarks share, written once.

* :mod:`.postgres`: the embedded PostgreSQL (one per test session, or a throwaway one),
  fresh databases, and the queries tests check with (``sql``, ``versions``, ``tables``,
  ``fingerprint``).
* :mod:`.s3`: a moto S3 server on loopback (real HTTP), buckets, and the environment that
  points boto3 at it.
* :mod:`.health_app`: a real ``/health/db`` endpoint on loopback.
* :mod:`.net`: a free port.
* :mod:`.project`: a project directory (``db/migrations``, ``db/orchestrator.yml``) and
  the two ways to run the CLI in it: a real process (end-to-end tests) or
  ``orchestrator.cli.main`` in this process (integration tests).
* :mod:`.runs`: reading run logs, a recording output, the pipeline in-process.
* :mod:`.processes`: waiting for a condition, background processes that never outlive a test.
* :mod:`.action_runner`: a composite action's ``run:`` steps run as a GitHub runner runs them.
* :mod:`.fixtures`: the pytest fixtures built from these (loaded by ``tests/conftest.py``).

Importing this package (or any module but :mod:`.fixtures`) needs no pytest, so the
scripts in ``benchmarks/`` use it too: they put ``tests/`` on ``sys.path``.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
