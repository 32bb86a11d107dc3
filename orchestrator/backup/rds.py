"""RDS snapshots as the backup: ``backup: rds-snapshot://<instance-or-cluster>``.

Past a few hundred GB a logical dump is the wrong tool (hours to take, longer to load);
a storage snapshot takes minutes and restores as a new instance.  This module is the only
user of boto3's RDS client, and the one place its exceptions become the project's.

* Instance or cluster: the identifier is looked up, not spelled out in the URL.  A DB
  instance that belongs to an Aurora cluster cannot have an instance snapshot, so its
  cluster is snapshotted; an identifier that is neither is a :class:`ConfigError`
  naming ``environments.<env>.backup`` (exit 2, found at the backup step, before any change).
* The snapshot's tags are its manifest (there is no bucket to keep one in):
  ``orchestrator:environment``, ``:database``, ``:run-id``, ``:plan-hash``,
  ``:schema-version``; ``backups list`` lists the manual snapshots of the source that
  carry this environment's tag.
* A backup is verified when RDS says ``available``; the wait is bounded, and a timeout,
  a failed snapshot or a signal deletes the snapshot, so nothing half-made is left
  looking like a backup (as an S3 upload is aborted).
* Restoring cannot happen in place: :func:`restore_steps` says how, as ``aws`` commands.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import BackupError, BackupNotFound, ConfigError
from ..redaction import redact
from .manifest import check_name, stamp
from .s3 import aws_session
from .store import fail

SCHEME = "rds-snapshot://"
TAG = "orchestrator:"
_AVAILABLE = "available"
_GIVE_UP = ("failed", "incompatible-restore", "deleting")
_NOT_FOUND = ("DBInstanceNotFound", "DBInstanceNotFoundFault", "DBClusterNotFoundFault", "DBClusterNotFound")
_SNAPSHOT_NOT_FOUND = ("DBSnapshotNotFound", "DBSnapshotNotFoundFault", "DBClusterSnapshotNotFoundFault")

Tick = Callable[[str, float], None]  # (status, seconds so far)


def is_snapshot(location: str | None) -> bool:
    """Whether a ``backup`` setting asks for RDS snapshots."""
    return bool(location) and str(location).startswith(SCHEME)


@dataclass(frozen=True)
class Snapshot:
    """A snapshot orchestrator took, as RDS and its tags describe it."""

    id: str
    arn: str
    kind: str  # "instance" or "cluster"
    source: str  # the DB instance or cluster it is of
    engine: str
    status: str
    created: str
    environment: str
    database: str
    run_id: str
    plan_hash: str
    schema_version: str | None
    seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.id}"

    def record(self) -> dict[str, Any]:
        """What the run log keeps of it (its ``backup`` entry)."""
        return {"kind": "rds-snapshot", "url": self.url, **asdict(self)}


class RdsSnapshots:
    """Snapshots of one DB instance or Aurora cluster, through boto3's RDS client.

    The endpoint comes from ``AWS_ENDPOINT_URL_RDS``/``AWS_ENDPOINT_URL`` (boto3 honours
    them itself); ``setting`` names the config key errors are about.
    """

    def __init__(self, location: str, setting: str, *, timeout: float = 3600.0, poll: float = 15.0) -> None:
        self.source = location[len(SCHEME) :]
        self.setting = setting
        self.timeout = timeout
        self.poll = poll
        self._client_obj: Any = None

    def describe(self) -> str:
        return f"{SCHEME}{self.source}"

    @property
    def client(self) -> Any:
        """The boto3 RDS client, made on first use; the secret key is registered for redaction."""
        if self._client_obj is None:
            with self._calls("set up the RDS client", also=(ValueError,)):
                self._client_obj = aws_session().client("rds")
        return self._client_obj

    @contextlib.contextmanager
    def _calls(self, action: str, *, also: tuple[type[Exception], ...] = ()) -> Iterator[None]:
        """botocore failures inside the block become one redacted :class:`BackupError` line."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise fail(f"cannot {action}: {error.get('Code')} {error.get('Message', '')}".rstrip()) from exc
        except (BotoCoreError, *also) as exc:
            text = str(exc).strip().splitlines()
            raise fail(f"cannot {action}: {text[0] if text else type(exc).__name__}") from exc

    def _code(self, exc: Exception) -> str:
        cause = exc.__cause__
        response = getattr(cause, "response", None) or {}
        return str(response.get("Error", {}).get("Code", ""))

    # -- what the identifier is -----------------------------------------------------------

    def target(self) -> tuple[str, str]:
        """("instance" | "cluster", identifier) for the configured source.

        An Aurora member instance means its cluster.  Neither an instance nor a cluster:
        :class:`ConfigError` naming the setting (exit 2).
        """
        try:
            with self._calls(f"look up DB instance {self.source}"):
                found = self.client.describe_db_instances(DBInstanceIdentifier=self.source)["DBInstances"]
            cluster = found[0].get("DBClusterIdentifier") if found else None
            return ("cluster", cluster) if cluster else ("instance", self.source)
        except BackupError as exc:
            if self._code(exc) not in _NOT_FOUND:
                raise
        try:
            with self._calls(f"look up DB cluster {self.source}"):
                self.client.describe_db_clusters(DBClusterIdentifier=self.source)
            return "cluster", self.source
        except BackupError as exc:
            if self._code(exc) not in _NOT_FOUND:
                raise
        raise ConfigError(
            f"no RDS DB instance or Aurora cluster {self.source!r} in this account and region",
            source=self.setting,
        )

    # -- taking one -------------------------------------------------------------------------

    def take(
        self,
        *,
        environment: str,
        database: str,
        run_id: str,
        plan_hash: str,
        schema_version: str | None,
        tick: Tick | None = None,
    ) -> Snapshot:
        """Create a manual snapshot, tagged, and wait until RDS says it is available.

        Whatever stops the wait (timeout, a failed snapshot, Ctrl-C/SIGTERM) deletes it.
        """
        check_name(environment, "environment")
        check_name(run_id, "run id")
        kind, source = self.target()
        started = time.monotonic()
        now = datetime.now(timezone.utc)
        ident = snapshot_id(environment, run_id, now)
        tags = [
            {"Key": f"{TAG}{k}", "Value": v}
            for k, v in (
                ("environment", environment),
                ("database", database),
                ("run-id", run_id),
                ("plan-hash", plan_hash),
                ("schema-version", schema_version or ""),
            )
        ]
        with self._calls(f"create a snapshot of {kind} {source}"):
            if kind == "cluster":
                self.client.create_db_cluster_snapshot(
                    DBClusterSnapshotIdentifier=ident, DBClusterIdentifier=source, Tags=tags
                )
            else:
                self.client.create_db_snapshot(
                    DBSnapshotIdentifier=ident, DBInstanceIdentifier=source, Tags=tags
                )
        try:
            raw = self._wait(kind, ident, started, tick)
        except BaseException as exc:
            note = self._delete(kind, ident)
            if note and isinstance(exc, BackupError):
                raise fail(f"{exc}; also {note}") from exc
            raise
        return _snapshot(kind, raw, _tags(tags), seconds=round(time.monotonic() - started, 3))

    def _wait(self, kind: str, ident: str, started: float, tick: Tick | None) -> dict[str, Any]:
        """Poll until ``available`` (bounded by ``timeout``); interrupted by a signal like any sleep."""
        while True:
            raw = self._describe(kind, ident)
            status = str(raw.get("Status", ""))
            elapsed = time.monotonic() - started
            if tick:
                tick(status, elapsed)
            if status == _AVAILABLE:
                return raw
            if status in _GIVE_UP:
                raise fail(f"RDS snapshot {ident} is {status}; no backup, nothing applied")
            if elapsed + self.poll > self.timeout:
                raise fail(
                    f"RDS snapshot {ident} was not available within {self.timeout:g}s (still {status})"
                )
            time.sleep(self.poll)

    def _describe(self, kind: str, ident: str) -> dict[str, Any]:
        with self._calls(f"look up snapshot {ident}"):
            if kind == "cluster":
                return self.client.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=ident)[
                    "DBClusterSnapshots"
                ][0]
            return self.client.describe_db_snapshots(DBSnapshotIdentifier=ident)["DBSnapshots"][0]

    def _delete(self, kind: str, ident: str) -> str | None:
        """Best effort, while another error is raised; a note if it failed (never raises)."""
        try:
            if kind == "cluster":
                self.client.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=ident)
            else:
                self.client.delete_db_snapshot(DBSnapshotIdentifier=ident)
        except Exception as exc:  # noqa: BLE001  (said in the error being raised)
            return redact(f"could not delete the unfinished snapshot {ident} ({type(exc).__name__})")
        return None

    # -- listing and finding ----------------------------------------------------------------

    def list(self, environment: str) -> list[Snapshot]:
        """The snapshots orchestrator took of the source for ``environment``, newest first."""
        kind, source = self.target()
        with self._calls(f"list the snapshots of {kind} {source}"):
            if kind == "cluster":
                pages = self.client.get_paginator("describe_db_cluster_snapshots").paginate(
                    DBClusterIdentifier=source, SnapshotType="manual"
                )
                raws = [s for page in pages for s in page["DBClusterSnapshots"]]
            else:
                pages = self.client.get_paginator("describe_db_snapshots").paginate(
                    DBInstanceIdentifier=source, SnapshotType="manual"
                )
                raws = [s for page in pages for s in page["DBSnapshots"]]
        found = []
        for raw in raws:
            tags = self._tags_of(kind, raw)
            if tags.get("environment") == environment:
                found.append(_snapshot(kind, raw, tags))
        return sorted(found, key=lambda s: (s.created, s.id), reverse=True)

    def find(self, environment: str, text: str) -> Snapshot:
        """The snapshot a user named (its id, ARN or ``rds-snapshot://<id>``) among this
        environment's; :class:`BackupNotFound` (exit 2) otherwise."""
        wanted = text.strip().removeprefix(SCHEME).rpartition(":")[2] if text.strip() else ""
        for snap in self.list(environment):
            if wanted in (snap.id, snap.arn):
                return snap
        raise BackupNotFound(
            f"no snapshot {text!r} taken by orchestrator for environment {environment} of {self.describe()}"
        )

    def _tags_of(self, kind: str, raw: dict[str, Any]) -> dict[str, str]:
        """The orchestrator tags of a snapshot (in the listing where RDS includes them, else asked for)."""
        tag_list = raw.get("TagList")
        if not tag_list:
            arn = raw["DBClusterSnapshotArn" if kind == "cluster" else "DBSnapshotArn"]
            with self._calls("read the snapshot's tags"):
                tag_list = self.client.list_tags_for_resource(ResourceName=arn).get("TagList", [])
        return _tags(tag_list)


def snapshot_id(environment: str, run_id: str, when: datetime) -> str:
    """``orchestrator-<env>-<stamp>-<run id>`` in RDS's alphabet (letters, digits, single hyphens)."""
    raw = f"orchestrator-{environment}-{stamp(when)}-{run_id}".lower()
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", raw)).strip("-")


def _tags(tag_list: list[dict[str, str]]) -> dict[str, str]:
    return {t["Key"][len(TAG) :]: t["Value"] for t in tag_list if t.get("Key", "").startswith(TAG)}


def _snapshot(kind: str, raw: dict[str, Any], tags: dict[str, str], *, seconds: float = 0.0) -> Snapshot:
    cluster = kind == "cluster"
    created = raw.get("SnapshotCreateTime")
    return Snapshot(
        id=raw["DBClusterSnapshotIdentifier" if cluster else "DBSnapshotIdentifier"],
        arn=raw["DBClusterSnapshotArn" if cluster else "DBSnapshotArn"],
        kind=kind,
        source=raw["DBClusterIdentifier" if cluster else "DBInstanceIdentifier"],
        engine=str(raw.get("Engine", "")),
        status=str(raw.get("Status", "")),
        created=created.astimezone(timezone.utc).isoformat()
        if isinstance(created, datetime)
        else str(created or ""),
        environment=tags.get("environment", ""),
        database=tags.get("database", ""),
        run_id=tags.get("run-id", ""),
        plan_hash=tags.get("plan-hash", ""),
        schema_version=tags.get("schema-version") or None,
        seconds=seconds,
    )


def restore_steps(snap: Snapshot) -> str:
    """How to restore ``snap`` (pure): RDS restores a snapshot only into a new instance or
    cluster, so the steps make one, then either point the app at it or swap the names."""
    new = f"{snap.source}-restored-{snap.run_id}"[:63].rstrip("-")
    q = shlex.quote
    if snap.kind == "cluster":
        make = [
            (
                f"aws rds restore-db-cluster-from-snapshot --db-cluster-identifier {q(new)} "
                f"--snapshot-identifier {q(snap.arn)} --engine {q(snap.engine)}"
            ),
            (
                f"aws rds create-db-instance --db-instance-identifier {q(new + '-1')} --db-cluster-identifier {q(new)} "
                f'--engine {q(snap.engine)} --db-instance-class "$(aws rds describe-db-instances --filters '
                f"Name=db-cluster-id,Values={q(snap.source)} --query 'DBInstances[0].DBInstanceClass' --output text)\""
            ),
            f"aws rds wait db-instance-available --db-instance-identifier {q(new + '-1')}",
            (
                f"aws rds describe-db-clusters --db-cluster-identifier {q(new)} --query 'DBClusters[0].Endpoint' "
                "--output text"
            ),
        ]
        rename = [
            (
                f"aws rds modify-db-cluster --db-cluster-identifier {q(snap.source)} "
                f"--new-db-cluster-identifier {q(snap.source + '-old')} --apply-immediately"
            ),
            (
                f"aws rds modify-db-cluster --db-cluster-identifier {q(new)} "
                f"--new-db-cluster-identifier {q(snap.source)} --apply-immediately"
            ),
        ]
    else:
        make = [
            (
                f"aws rds restore-db-instance-from-db-snapshot --db-instance-identifier {q(new)} "
                f"--db-snapshot-identifier {q(snap.id)}"
            ),
            f"aws rds wait db-instance-available --db-instance-identifier {q(new)}",
            (
                f"aws rds describe-db-instances --db-instance-identifier {q(new)} "
                "--query 'DBInstances[0].Endpoint.Address' --output text"
            ),
        ]
        rename = [
            (
                f"aws rds modify-db-instance --db-instance-identifier {q(snap.source)} "
                f"--new-db-instance-identifier {q(snap.source + '-old')} --apply-immediately"
            ),
            (
                f"aws rds modify-db-instance --db-instance-identifier {q(new)} "
                f"--new-db-instance-identifier {q(snap.source)} --apply-immediately"
            ),
        ]
    what = "DB cluster snapshot" if snap.kind == "cluster" else "DB snapshot"
    lines = [
        (
            f"# {what} {snap.id} of {snap.source} (environment {snap.environment}, run {snap.run_id}, "
            f"schema version {snap.schema_version or '-'})"
        ),
        (
            "# RDS restores a snapshot into a NEW instance; nothing is restored in place. "
            "Give it the same subnet group, security groups and parameter group as the current one "
            "(--db-subnet-group-name, --vpc-security-group-ids, --db-parameter-group-name)."
        ),
        *make,
        "# Then either point the app's DATABASE_URL at the endpoint printed above,",
        "# or keep the old name: rename the current one away, then the restored one into its place",
        "# (each rename takes a few minutes; the endpoint follows the name):",
        *rename,
        "# Once the app is healthy on the restored database, delete the old one when you no longer need it.",
    ]
    return "\n".join(lines) + "\n"
