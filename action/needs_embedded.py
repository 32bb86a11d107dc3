"""Part of action/install.sh: print ``yes`` when this run needs the embedded PostgreSQL.

Asked of orchestrator's own config loader (run in the action's working-directory, with the
inputs as ORCH_* variables), so the database URL is looked for exactly where the run will
look for it.  ``yes`` when the environment has no URL (dev's embedded server), or when the
run takes or compares dumps (up/rollback/restore applied, verify) and ORCHESTRATOR_PG_BIN
names no client programs: the embedded wheel's pg_dump and pg_restore (PostgreSQL 18) read
every server version, the runner's own client may be older than the server.
"""

import os
from pathlib import Path

from orchestrator import config

action = os.environ.get("ORCH_ACTION", "status")
dry = os.environ.get("ORCH_DRY_RUN", "true").lower() == "true"
dumps = action == "verify" or (action in ("up", "rollback", "restore") and not dry)
own_clients = bool(os.environ.get("ORCHESTRATOR_PG_BIN"))
name = os.environ.get("ORCH_CONFIG") or None
try:
    cfg = config.load(
        environment=os.environ.get("ORCH_ENVIRONMENT") or "dev",
        config_file=Path(name) if name else None,
        needs_database=False,
    )
    url = cfg.environment.url
except Exception:  # noqa: BLE001  the run reports the problem; install what it might need meanwhile
    url = None
print("yes" if url is None or (dumps and not own_clients) else "no")
