"""From a ``backup`` setting to its store, and from a store to the complete backups in it.

Both go through manifests only (:mod:`.manifest`): a dump without one is incomplete and
is neither listed nor found.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BackupError, BackupNotFound, ConfigError
from .local import LocalStore
from .manifest import MANIFEST_SUFFIX, BackupInfo, check_name, sibling
from .s3 import S3Store
from .store import DEFAULT_GROW_EVERY, DEFAULT_PART_SIZE, MIN_PART_SIZE, MiB, Store, safe_name


def open_store(
    location: str,
    *,
    root: Path,
    sse: str = "AES256",
    kms_key_id: str | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    grow_every: int = DEFAULT_GROW_EVERY,
    max_attempts: int = 5,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
) -> Store:
    """The store for a ``backup location`` setting.

    ``s3://bucket[/prefix]`` is S3 (credentials from boto3's standard chain; the endpoint
    from ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``, which boto3 >= 1.28 honours
    itself); anything else is a directory, relative to ``root`` (the project) unless
    absolute.  ``sse`` is ``AES256`` or ``aws:kms`` (with ``kms_key_id``, or the
    account's default KMS key).  The remaining arguments tune S3 only: ``part_size`` is the
    first part size and the chunk read at once, doubled every ``grow_every`` parts
    (:class:`~.store.PartSchedule`).
    """
    if location.startswith("s3://"):
        bucket, _, prefix = location[len("s3://") :].partition("/")
        if not bucket:
            raise ConfigError(f"backup location {location!r} names no bucket (s3://BUCKET/prefix)")
        if sse not in ("AES256", "aws:kms"):
            raise ConfigError(f"server-side encryption {sse!r} is not one of AES256, aws:kms")
        if kms_key_id and sse != "aws:kms":
            raise ConfigError("a KMS key id is set but server-side encryption is not aws:kms")
        if part_size < MIN_PART_SIZE:
            raise ConfigError(f"the S3 part size must be at least {MIN_PART_SIZE // MiB} MiB")
        return S3Store(
            bucket,
            prefix.strip("/"),
            sse=sse,
            kms_key_id=kms_key_id,
            part_size=part_size,
            grow_every=grow_every,
            max_attempts=max_attempts,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
    if "://" in location:
        raise ConfigError(f"backup location {location!r}: only s3:// URLs and local paths are supported")
    path = Path(location).expanduser()
    return LocalStore(path if path.is_absolute() else root / path, part_size=part_size)


def list_backups(store: Store, environment: str, member: str = "") -> list[BackupInfo]:
    """The complete backups of an environment (those with a manifest), newest first; in a
    fleet, those of one member (its databases share the environment's folder)."""
    check_name(environment, "environment")
    found = []
    for key in store.complete_dumps(environment):
        raw = store.read(sibling(key, MANIFEST_SUFFIX))
        if raw is None:
            continue
        try:
            info = BackupInfo.from_manifest(raw, key=key, url=store.url_for(key))
        except BackupError:
            continue  # a damaged manifest is not a usable backup
        if info.member == member:
            found.append(info)
    return sorted(found, key=lambda i: (i.created, i.key), reverse=True)


def find_backup(store: Store, key_or_url: str) -> BackupInfo:
    """The backup a user named: its key in the store, its full URL/object key, or a path.

    :class:`BackupNotFound` (exit 2) if there is no such complete backup.
    """
    text = key_or_url.strip()
    if not text:
        raise BackupNotFound("no backup named")
    for key in store.resolve(text):
        try:
            safe_name(key)
        except BackupNotFound:
            continue
        raw = store.read(sibling(key, MANIFEST_SUFFIX))
        if raw is None:
            if store.exists(key):
                raise BackupNotFound(
                    f"{store.url_for(key)} has no manifest: the backup is incomplete and cannot be restored"
                )
            continue
        if not store.exists(key):
            raise BackupNotFound(f"{store.url_for(key)}: the manifest is there but the dump is missing")
        return BackupInfo.from_manifest(raw, key=key, url=store.url_for(key))
    raise BackupNotFound(f"no backup {text!r} in {store.describe()}")
