"""What a backup is: its manifest ``<name>.dump.json``, and the names backups are stored under.

A backup is complete only once its manifest exists.  It is written last, after the dump
was verified, and holds what is only known at the end (size, SHA-256); the facts known
up front are also in the S3 object metadata.  Listing and restoring read manifests only,
so an incomplete backup is invisible.  Nothing here touches a store: the text is made
and read here, stores keep it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from ..compression import Compression, parse
from ..errors import BackupError, ConfigError
from ..redaction import redact

MANIFEST_FORMAT = 1
DUMP_SUFFIX = ".dump"
MANIFEST_SUFFIX = ".dump.json"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class BackupInfo:
    """A complete backup, as its manifest describes it.

    ``key`` is the name inside the store (``<environment>/<stamp>-<run_id>.dump``, the
    same for S3 and a local directory); ``url`` is where it is (``s3://bucket/prefix/key``
    or an absolute path).  The run log of the same run is ``key`` with ``.dump``
    replaced by ``.run.json`` (see :func:`sibling`).
    """

    url: str
    key: str
    size: int
    sha256: str
    created: str  # UTC, ISO 8601 to the millisecond with a Z: when pg_dump started
    environment: str
    run_id: str
    schema_version: str | None  # the newest applied migration before the run
    pg_dump_version: str
    server_version: str
    seconds: float  # how long the backup took, dump to verification
    database: str = ""
    member: str = ""  # the fleet member (``databases:``) it was taken from; "" outside a fleet
    # The setting (``zstd:3``, ``lz4:0``, ``gzip:6``, ``none``) and who applied it: ``orchestrator``
    # (the archive inside a zstd or lz4 frame) or ``pg_dump`` (the object is pg_dump's custom
    # archive as pg_dump wrote it, gzip inside, or none).  Manifests written before the setting
    # existed have neither: pg_dump compressed the archive itself, so they read as ``pg_dump``.
    compression: str = ""
    compressed_by: str = "pg_dump"
    dump_format: str = "custom"  # pg_dump --format

    @property
    def frame(self) -> Compression | None:
        """The frame to take the archive out of, or None if pg_restore reads the object as it is."""
        return parse(self.compression) if self.compressed_by == "orchestrator" else None

    @classmethod
    def from_manifest(cls, raw: bytes, *, key: str, url: str) -> BackupInfo:
        """The backup a manifest describes; :class:`BackupError` if it cannot be read.

        ``url`` comes from the store it was read from, not from the text, so a backup
        copied to another bucket or directory says where it is now.  Manifests written
        before a field existed read with its default.
        """
        try:
            data = json.loads(raw)
            return cls(
                url=url,
                key=key,
                size=int(data["size"]),
                sha256=str(data["sha256"]),
                created=str(data["created"]),
                environment=str(data["environment"]),
                run_id=str(data["run_id"]),
                schema_version=data.get("schema_version"),
                pg_dump_version=str(data.get("pg_dump_version", "")),
                server_version=str(data.get("server_version", "")),
                seconds=float(data.get("seconds", 0.0)),
                database=str(data.get("database", "")),
                member=str(data.get("member", "")),
                compression=_compression(data.get("compression", "")),
                compressed_by=_compressed_by(
                    data.get("compressed_by", "pg_dump"), data.get("compression", "")
                ),
                dump_format=_dump_format(data.get("dump_format", "custom")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError(redact(f"the manifest of {url} is unreadable ({exc})")) from exc

    def to_manifest(self, verified: dict[str, Any]) -> str:
        """The manifest's text: these facts but the URL, and what the store verified."""
        manifest = {"format": MANIFEST_FORMAT, **asdict(self), **verified}
        manifest.pop("url")
        return json.dumps(manifest, indent=2, sort_keys=True) + "\n"

    def check_download(self, size: int, sha256: str) -> None:
        """Refuse a dump read back from its store unless it is byte for byte what was written."""
        if size != self.size or sha256 != self.sha256:
            raise BackupError(
                redact(
                    f"backup {self.url} failed its checksum: it holds {size} bytes with SHA-256 {sha256}, "
                    f"but its manifest says {self.size} bytes with SHA-256 {self.sha256}; it was changed or "
                    "damaged after it was written. Nothing was restored"
                )
            )


def _compression(value: Any) -> str:
    """A manifest's compression, checked now so that a restore never starts on one it cannot read."""
    return str(parse(value)) if value else ""


def _compressed_by(value: Any, compression: Any) -> str:
    """``pg_dump`` or ``orchestrator``; orchestrator wraps only zstd and lz4 (a gzip frame it never wrote)."""
    if value == "pg_dump":
        return value
    if value != "orchestrator" or not compression or not parse(compression).wraps:
        raise ValueError(f"compressed_by {value!r} with compression {compression!r} is not one this reads")
    return value


def _dump_format(value: Any) -> str:
    """orchestrator writes pg_dump's custom format only; another is from a newer orchestrator."""
    if value != "custom":
        raise ValueError(f"dump_format {value!r} is not one this orchestrator reads (custom)")
    return "custom"


def stamp(when: datetime | None = None) -> str:
    """The UTC timestamp used in object names: ``YYYYmmddTHHMMSSZ``."""
    return (when or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime(_STAMP)


def sibling(key: str, suffix: str) -> str:
    """The name of an object next to a backup: ``sibling(info.key, ".run.json")``."""
    return key.removesuffix(DUMP_SUFFIX) + suffix


def check_name(value: str, what: str) -> None:
    """Refuse an environment or run id that would not make a safe, one-folder object name."""
    if not _NAME.match(value):
        raise ConfigError(f"{what} {value!r} cannot be used in a backup name (letters, digits, . _ - only)")


def dump_names(text: str) -> list[str]:
    """``x``, ``x.dump``, ``x.dump.json`` all mean the dump ``x.dump``."""
    if text.endswith(MANIFEST_SUFFIX):
        return [text[: -len(".json")]]
    if text.endswith(DUMP_SUFFIX):
        return [text]
    return [text + DUMP_SUFFIX]
