"""Backups: ``pg_dump --format=custom`` streamed into a store, verified, listed, restored.

This is the only module that runs pg_dump, pg_restore and psql (through :mod:`pgtools`)
and the only one that talks to S3 or the local backup directory.  How a restore makes the
database exactly the backup, or leaves it untouched, is told at :func:`restore`.

How a backup is made, and why
-----------------------------
* The dump is never held whole, in memory or on disk.  A reader thread pulls pg_dump's
  stdout in parts (8 MiB by default) into a queue of one; the calling thread hashes each
  part (SHA-256 of the whole dump, for the manifest) and hands it to the store; the S3
  store uploads up to two parts at a time on worker threads, and takes a new part only
  when one of the two is done.  At most five parts are alive at once (one being read,
  one queued, one being hashed or waiting for an upload slot, two uploading): 40 MiB
  whatever the size of the database (peak RSS ~85 MiB with boto3 loaded), and pg_dump,
  hashing and uploading overlap, so a backup takes about as long as
  ``pg_dump -Fc > /dev/null`` (see ``benchmarks/backup_throughput.py``).  Parts grow (x2 every 2,000 parts) so that S3's limit of
  10,000 parts still allows dumps of ~500 GB; below 16 GB they stay at the base size.
* S3 gets a multipart upload (no temporary file); a local store gets
  ``<name>.dump.partial`` renamed to ``<name>.dump`` once complete.  Whatever fails —
  pg_dump, the network, the caller's progress callback, Ctrl-C — the multipart upload
  is aborted (or the partial file deleted), so no partial object is ever left behind as
  a backup.  (An abort that itself fails is said in the error; a bucket lifecycle rule
  ``AbortIncompleteMultipartUpload`` is the backstop.)
* A backup is complete only once its manifest ``<name>.dump.json`` exists.  It is
  written last, after verification, and holds what is only known at the end (size,
  SHA-256).  Listing and restoring go through manifests only, so an incomplete backup
  is invisible.  The facts known up front are also put in the S3 object metadata.

How an S3 upload is verified
----------------------------
Each part is sent with ``ChecksumAlgorithm='SHA256'`` and its ``ChecksumSHA256``,
computed here from the bytes read from pg_dump.  S3 recomputes every part's SHA-256
on receipt and rejects a part that does not match (``BadDigest``), and
``CompleteMultipartUpload`` is given the per-part checksums too.  Afterwards
``HeadObject(ChecksumMode='ENABLED')`` must report

* ``ContentLength`` equal to the number of bytes streamed, and
* ``ChecksumSHA256`` equal to the *composite* checksum computed here:
  ``base64(sha256(part1_digest || part2_digest || ...))``, which S3 reports as
  ``<base64>-<number of parts>``.

This is used rather than the multipart ETag (``md5(md5(part1) || ...)-N``) because the
ETag is an MD5 of the data only for SSE-S3 (``AES256``) objects: with SSE-KMS, S3 makes
the ETag something else, so it cannot verify a KMS-encrypted backup.  Flexible
checksums are stored and reported the same way whatever the encryption, are computed
by S3 from the bytes it received, and moto implements them the same way (it computes
the composite from the parts it stored).  With SSE-KMS, reading the checksum back needs
``kms:Decrypt`` on the key, as restoring does anyway.  A store that reports no SHA-256 checksum
(some S3-compatible servers) cannot be verified, and the backup fails: it is then
deleted rather than kept unverified.  The manifest also records the SHA-256 of the
whole dump, which :func:`restore` checks on the downloaded file before pg_restore runs.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import queue
import re
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from . import database, pgtools
from .dburl import DatabaseURL
from .errors import BackupError, BackupNotFound, ConfigError, DatabaseUnavailable, ToolError
from .redaction import redact, register_secret

MiB = 1024 * 1024
DEFAULT_PART_SIZE = 8 * MiB
MIN_PART_SIZE = 5 * MiB  # S3's minimum for every part but the last
MAX_PARTS = 10_000  # S3's maximum number of parts
_PARTS_PER_SIZE = 2_000  # part size doubles after this many parts
DEFAULT_LOCAL = ".orchestrator/backups"
MANIFEST_FORMAT = 1
DUMP_SUFFIX = ".dump"
MANIFEST_SUFFIX = ".dump.json"

Progress = Callable[[int, float], None]

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


def stamp(when: datetime | None = None) -> str:
    """The UTC timestamp used in object names: ``YYYYmmddTHHMMSSZ``."""
    return (when or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime(_STAMP)


def sibling(key: str, suffix: str) -> str:
    """The name of an object next to a backup: ``sibling(info.key, ".run.json")``."""
    return key.removesuffix(DUMP_SUFFIX) + suffix


def _check_name(value: str, what: str) -> None:
    if not _NAME.match(value):
        raise ConfigError(f"{what} {value!r} cannot be used in a backup name (letters, digits, . _ - only)")


def _fail(message: str) -> BackupError:
    return BackupError(redact(message))


# ----------------------------------------------------------------------------------------
# stores
# ----------------------------------------------------------------------------------------


class _Sink(ABC):
    """Where the parts of one dump go while pg_dump runs."""

    @abstractmethod
    def write(self, number: int, data: bytes) -> None:
        """Take part ``number`` (from 1); may block to keep memory bounded."""

    @abstractmethod
    def finish(self, size: int) -> dict[str, Any]:
        """Make the dump durable and verify it; return facts for the manifest."""

    @abstractmethod
    def abort(self) -> str | None:
        """Remove every trace of the dump; return a note if that failed."""


class Store(ABC):
    """A place for backups and run logs: an S3 bucket and prefix, or a local directory.

    Names given to and returned by a store are relative to it
    (``production/20250101T000000Z-abc.run.json``).
    """

    part_size: int = DEFAULT_PART_SIZE  # how much of pg_dump's output is handed over at once

    @abstractmethod
    def describe(self) -> str:
        """Where the store is, for people (``s3://bucket/prefix (SSE AES256)``)."""

    @abstractmethod
    def check(self) -> None:
        """Fail with :class:`BackupError` unless the store can be written now (cheap)."""

    @abstractmethod
    def url_for(self, key: str) -> str:
        """The full location of a name in the store."""

    @abstractmethod
    def put_text(self, name: str, text: str) -> str:
        """Store a small text object (a run log); return its URL."""

    @abstractmethod
    def get_text(self, name: str) -> str:
        """Read a text object; :class:`BackupNotFound` if there is none."""

    @abstractmethod
    def list_texts(self, suffix: str, under: str = "") -> list[str]:
        """Names ending with ``suffix`` (below folder ``under``), newest name first."""

    # -- used by the functions below ------------------------------------------------

    @abstractmethod
    def _sink(self, key: str, metadata: dict[str, str]) -> _Sink: ...

    @abstractmethod
    def _manifests(self, under: str) -> list[str]:
        """Keys of the dumps below ``under`` that have both a dump and a manifest."""

    @abstractmethod
    def _read(self, name: str) -> bytes | None:
        """A small object's bytes, or None if it does not exist."""

    @abstractmethod
    def _exists(self, name: str) -> bool: ...

    @abstractmethod
    def _resolve(self, key_or_url: str) -> list[str]:
        """Candidate store names for what a user typed."""

    @abstractmethod
    @contextlib.contextmanager
    def _fetch(self, info: BackupInfo) -> Iterator[Path]:
        """A local file holding the dump, checked against the manifest."""


def open_store(
    location: str,
    *,
    root: Path,
    sse: str = "AES256",
    kms_key_id: str | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    max_attempts: int = 5,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
) -> Store:
    """The store for a ``backup location`` setting.

    ``s3://bucket[/prefix]`` is S3 (credentials from boto3's standard chain; the endpoint
    from ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``, which boto3 >= 1.28 honours
    itself); anything else is a directory, relative to ``root`` (the project) unless
    absolute.  ``sse`` is ``AES256`` or ``aws:kms`` (with ``kms_key_id``, or the
    account's default KMS key).  The remaining arguments tune S3 only.
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
            max_attempts=max_attempts,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
    if "://" in location:
        raise ConfigError(f"backup location {location!r}: only s3:// URLs and local paths are supported")
    path = Path(location).expanduser()
    return LocalStore(path if path.is_absolute() else root / path, part_size=part_size)


def _safe_name(name: str) -> str:
    parts = name.replace("\\", "/").split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise BackupNotFound(f"{name!r} is not a valid name in the backup store")
    return "/".join(parts)


def _candidates(text: str) -> list[str]:
    """``x``, ``x.dump``, ``x.dump.json`` all mean the dump ``x.dump``."""
    if text.endswith(MANIFEST_SUFFIX):
        return [text[: -len(".json")]]
    if text.endswith(DUMP_SUFFIX):
        return [text]
    return [text + DUMP_SUFFIX]


class LocalStore(Store):
    """A directory: the default for dev (``.orchestrator/backups`` of the project)."""

    def __init__(self, directory: Path, *, part_size: int = DEFAULT_PART_SIZE) -> None:
        self.directory = directory.resolve()
        self.part_size = part_size

    def describe(self) -> str:
        return str(self.directory)

    def check(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise _fail(f"cannot create the backup directory {self.directory}: {exc.strerror}") from None
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise _fail(f"the backup directory {self.directory} is not writable")

    def url_for(self, key: str) -> str:
        return str(self.directory / key)

    def _path(self, name: str) -> Path:
        return self.directory / _safe_name(name)

    def _write_atomic(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = path.with_name(path.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)

    def put_text(self, name: str, text: str) -> str:
        path = self._path(name)
        try:
            self._write_atomic(path, text.encode("utf-8"))
        except OSError as exc:
            raise _fail(f"cannot write {path}: {exc.strerror}") from None
        return str(path)

    def get_text(self, name: str) -> str:
        data = self._read(name)
        if data is None:
            raise BackupNotFound(f"{self.url_for(name)} does not exist")
        return data.decode("utf-8")

    def list_texts(self, suffix: str, under: str = "") -> list[str]:
        base = self._path(under) if under else self.directory
        if not base.is_dir():
            return []
        found = [
            p.relative_to(self.directory).as_posix()
            for p in base.rglob(f"*{suffix}")
            if p.is_file() and not p.name.endswith(".partial")
        ]
        return sorted(found, key=_newest_key, reverse=True)

    def _sink(self, key: str, metadata: dict[str, str]) -> _Sink:
        return _FileSink(self._path(key))

    def _manifests(self, under: str) -> list[str]:
        dumps = (name.removesuffix(".json") for name in self.list_texts(MANIFEST_SUFFIX, under))
        return [key for key in dumps if self._exists(key)]

    def _read(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _fail(f"cannot read {self.url_for(name)}: {exc.strerror}") from None

    def _exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def _resolve(self, key_or_url: str) -> list[str]:
        """A name in the store, or a path (absolute, or relative to the working directory)."""
        path = Path(key_or_url).expanduser()
        if path.is_absolute() or path.exists():
            try:
                key_or_url = path.resolve().relative_to(self.directory).as_posix()
            except ValueError:
                raise BackupNotFound(
                    f"{key_or_url} is not inside the backup directory {self.directory}"
                ) from None
        return _candidates(key_or_url)

    @contextlib.contextmanager
    def _fetch(self, info: BackupInfo) -> Iterator[Path]:
        path = self._path(info.key)
        try:
            with path.open("rb") as f:
                size, digest = _hash_stream(f)
        except FileNotFoundError:
            raise BackupNotFound(f"{path} does not exist") from None
        except OSError as exc:
            raise _fail(f"cannot read {path}: {exc.strerror}") from None
        _check_download(info, size, digest)
        yield path


class _FileSink(_Sink):
    """``<name>.dump.partial``, renamed to ``<name>.dump`` once complete and synced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise _fail(f"cannot create {self.partial}: {exc.strerror}") from None
        self.file: IO[bytes] = os.fdopen(fd, "wb")

    def write(self, number: int, data: bytes) -> None:
        try:
            self.file.write(data)
        except OSError as exc:
            raise _fail(f"cannot write {self.partial}: {exc.strerror}") from None

    def finish(self, size: int) -> dict[str, Any]:
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            stored = os.fstat(self.file.fileno()).st_size
            self.file.close()
            if stored != size:
                raise _fail(f"{self.partial} holds {stored} bytes, but pg_dump wrote {size}")
            os.replace(self.partial, self.path)
        except OSError as exc:
            raise _fail(f"cannot complete {self.path}: {exc.strerror}") from None
        return {"verified": "size"}

    def abort(self) -> str | None:
        with contextlib.suppress(OSError):
            self.file.close()
        for path in (self.partial, self.path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return None


def _newest_key(name: str) -> tuple[str, str]:
    """Sort names by their file name (which starts with the UTC stamp), then the folder."""
    folder, _, base = name.rpartition("/")
    return base, folder


# ----------------------------------------------------------------------------------------
# S3
# ----------------------------------------------------------------------------------------


class S3Store(Store):
    """An S3 bucket and prefix (or any S3-compatible server through ``AWS_ENDPOINT_URL``)."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        sse: str = "AES256",
        kms_key_id: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        max_attempts: int = 5,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        concurrency: int = 2,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.sse = sse
        self.kms_key_id = kms_key_id
        self.part_size = part_size
        self.concurrency = concurrency
        self._settings = (max_attempts, connect_timeout, read_timeout)
        self._client_obj: Any = None

    # -- the client ---------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The boto3 client, made on first use (importing boto3 takes a while)."""
        if self._client_obj is None:
            import boto3  # noqa: PLC0415
            from botocore.config import Config  # noqa: PLC0415

            attempts, connect, read = self._settings
            session = boto3.session.Session()
            with contextlib.suppress(Exception):  # no credentials yet: said on first use
                creds = session.get_credentials()
                if creds is not None:
                    frozen = creds.get_frozen_credentials()
                    register_secret(frozen.secret_key)
                    register_secret(frozen.token)
            config = Config(
                retries={"mode": "standard", "max_attempts": attempts},
                connect_timeout=connect,
                read_timeout=read,
                max_pool_connections=max(10, self.concurrency + 2),
            )
            try:
                self._client_obj = session.client("s3", config=config)
            except Exception as exc:  # noqa: BLE001  (botocore raises many kinds here)
                raise self._error(exc, "set up the S3 client") from None
        return self._client_obj

    @property
    def endpoint(self) -> str:
        return str(getattr(self._client_obj.meta, "endpoint_url", "")) if self._client_obj else "S3"

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _name(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def _sse_args(self) -> dict[str, str]:
        args = {"ServerSideEncryption": self.sse}
        if self.sse == "aws:kms" and self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
        return args

    def _error(self, exc: BaseException, action: str, key: str | None = None) -> BackupError:
        """One clear line for a botocore/boto3 failure; never a credential."""
        from botocore import exceptions as bx  # noqa: PLC0415

        where = f"s3://{self.bucket}/{key}" if key else f"S3 bucket {self.bucket!r}"
        if isinstance(exc, bx.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            if code == "NoSuchBucket" or (key is None and (code in ("404", "NotFound") or status == 404)):
                return _fail(f"cannot {action}: S3 bucket {self.bucket!r} does not exist (at {self.endpoint})")
            if code in ("403", "Forbidden", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                return _fail(
                    f"cannot {action}: access to {where} denied ({code}); check the AWS credentials "
                    "and the bucket policy"
                )
            if code in ("301", "PermanentRedirect", "AuthorizationHeaderMalformed"):
                region = headers.get("x-amz-bucket-region")
                hint = f" (it is in region {region}: set AWS_REGION)" if region else " (wrong AWS region?)"
                return _fail(f"cannot {action}: {where} is in another region{hint}")
            if code.startswith("KMS") or "kms" in code.lower():
                return _fail(f"cannot {action}: KMS refused the encryption key ({code}): {error.get('Message', '')}")
            message = error.get("Message") or ""
            return _fail(f"cannot {action} ({where}): {code or status} {message}".rstrip())
        if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ConnectionClosedError)):
            return _fail(f"cannot {action}: the S3 endpoint {self.endpoint} cannot be reached ({exc})")
        if isinstance(exc, bx.ReadTimeoutError):
            return _fail(f"cannot {action}: the S3 endpoint {self.endpoint} did not answer in time")
        if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
            return _fail(
                f"cannot {action}: no usable AWS credentials (set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or use an instance/task role)"
            )
        if isinstance(exc, bx.NoRegionError):
            return _fail(f"cannot {action}: no AWS region is set (set AWS_REGION or AWS_DEFAULT_REGION)")
        text = str(exc).strip().splitlines()
        return _fail(f"cannot {action} ({where}): {text[0] if text else type(exc).__name__}")

    @contextlib.contextmanager
    def _calls(self, action: str, key: str | None = None) -> Iterator[None]:
        """Turn botocore failures inside the block into :class:`BackupError`."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            yield
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, action, key) from None

    def elsewhere(self, bucket: str, prefix: str) -> S3Store:
        """Another bucket and prefix through the same client (endpoint, credentials) and settings."""
        other = S3Store(
            bucket,
            prefix.strip("/"),
            sse=self.sse,
            kms_key_id=self.kms_key_id,
            part_size=self.part_size,
            concurrency=self.concurrency,
        )
        other._settings = self._settings
        other._client_obj = self._client_obj
        return other

    # -- the Store interface ------------------------------------------------------------

    def describe(self) -> str:
        key = f", key {self.kms_key_id}" if self.kms_key_id else ""
        return f"s3://{self.bucket}/{self.prefix} (SSE {self.sse}{key})"

    def check(self) -> None:
        """``HeadBucket``: the bucket exists, the endpoint answers, the credentials work
        (it needs ``s3:ListBucket``, which listing backups needs anyway)."""
        with self._calls("reach the backup bucket"):
            self.client.head_bucket(Bucket=self.bucket)

    def url_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def put_text(self, name: str, text: str) -> str:
        key = self._key(_safe_name(name))
        kind = "application/json" if name.endswith(".json") else "text/plain; charset=utf-8"
        with self._calls("store the text object", key):
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=text.encode("utf-8"), ContentType=kind, **self._sse_args()
            )
        return f"s3://{self.bucket}/{key}"

    def get_text(self, name: str) -> str:
        data = self._read(name)
        if data is None:
            raise BackupNotFound(f"{self.url_for(name)} does not exist")
        return data.decode("utf-8")

    def list_texts(self, suffix: str, under: str = "") -> list[str]:
        return sorted(
            (n for n in self._list(under) if n.endswith(suffix)), key=_newest_key, reverse=True
        )

    def _list(self, under: str) -> list[str]:
        base = self._key(_safe_name(under)) + "/" if under else (self.prefix + "/" if self.prefix else "")
        names: list[str] = []
        with self._calls("list the backup bucket"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base)
            for page in pages:
                names.extend(self._name(obj["Key"]) for obj in page.get("Contents", []))
        return names

    def _sink(self, key: str, metadata: dict[str, str]) -> _Sink:
        return _S3Upload(self, self._key(key), metadata)

    def _manifests(self, under: str) -> list[str]:
        names = set(self._list(under))
        return [
            n.removesuffix(".json")
            for n in names
            if n.endswith(MANIFEST_SUFFIX) and n.removesuffix(".json") in names
        ]

    def _read(self, name: str) -> bytes | None:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        key = self._key(_safe_name(name))
        with self._calls("read", key):
            try:
                return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                    return None
                raise

    def _exists(self, name: str) -> bool:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        key = self._key(_safe_name(name))
        with self._calls("look up", key):
            try:
                self.client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                    return False
                raise
        return True

    def _resolve(self, key_or_url: str) -> list[str]:
        """A name in the store, the full object key, or ``s3://bucket/key``."""
        if key_or_url.startswith("s3://"):
            bucket, _, key = key_or_url[len("s3://") :].partition("/")
            inside = not self.prefix or key.startswith(self.prefix + "/")
            if bucket != self.bucket or not inside:
                raise BackupNotFound(f"{key_or_url} is not in the backup location {self.describe()}")
            return _candidates(self._name(key))
        found = _candidates(key_or_url)
        if self.prefix and key_or_url.startswith(self.prefix + "/"):
            found += _candidates(self._name(key_or_url))
        return found

    @contextlib.contextmanager
    def _fetch(self, info: BackupInfo) -> Iterator[Path]:
        key = self._key(info.key)
        with tempfile.TemporaryDirectory(prefix="orchestrator-restore-") as tmp:
            path = Path(tmp) / Path(key).name
            with self._calls("download the backup", key):
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
                with path.open("wb") as f:
                    size, digest = _hash_stream(body, f)
            _check_download(info, size, digest)
            yield path


class _S3Upload(_Sink):
    """One multipart upload: parts on worker threads, per-part SHA-256 checksums."""

    def __init__(self, store: S3Store, key: str, metadata: dict[str, str]) -> None:
        self.store = store
        self.key = key
        self.completed = False
        with store._calls("start the upload", key):
            response = store.client.create_multipart_upload(
                Bucket=store.bucket,
                Key=key,
                ChecksumAlgorithm="SHA256",
                ContentType="application/octet-stream",
                Metadata=metadata,
                **store._sse_args(),
            )
        self.upload_id: str = response["UploadId"]
        self.pool = ThreadPoolExecutor(store.concurrency, thread_name_prefix="s3-upload")
        # at most `concurrency` parts are handed to the pool and not yet sent
        self.slots = threading.Semaphore(store.concurrency)
        self.futures: list[Future[tuple[int, str, bytes]]] = []

    def _upload(self, number: int, data: bytes) -> tuple[int, str, bytes]:
        digest = hashlib.sha256(data).digest()
        encoded = base64.b64encode(digest).decode()
        with self.store._calls(f"upload part {number}", self.key):
            response = self.store.client.upload_part(
                Bucket=self.store.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=data,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=encoded,
            )
        echoed = response.get("ChecksumSHA256")
        if echoed is not None and echoed != encoded:
            raise _fail(f"S3 stored part {number} of s3://{self.store.bucket}/{self.key} with another checksum")
        return number, response["ETag"], digest

    def _raise_failed(self) -> None:
        for future in self.futures:
            if future.done() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]

    def write(self, number: int, data: bytes) -> None:
        if number > MAX_PARTS:
            raise _fail(f"the dump needs more than {MAX_PARTS} parts; raise the part size")
        while not self.slots.acquire(timeout=0.5):
            self._raise_failed()
        self._raise_failed()
        future = self.pool.submit(self._upload, number, data)
        future.add_done_callback(lambda _f: self.slots.release())
        self.futures.append(future)

    def finish(self, size: int) -> dict[str, Any]:
        results = sorted(f.result() for f in self.futures)
        self.pool.shutdown()
        if not results:
            raise _fail("pg_dump wrote nothing")
        digests = [digest for _, _, digest in results]
        composite = base64.b64encode(hashlib.sha256(b"".join(digests)).digest()).decode()
        parts = [
            {"PartNumber": n, "ETag": etag, "ChecksumSHA256": base64.b64encode(d).decode()}
            for n, etag, d in results
        ]
        store, key = self.store, self.key
        with store._calls("complete the upload", key):
            store.client.complete_multipart_upload(
                Bucket=store.bucket, Key=key, UploadId=self.upload_id, MultipartUpload={"Parts": parts}
            )
        self.completed = True
        with store._calls("verify the upload", key):
            head = store.client.head_object(Bucket=store.bucket, Key=key, ChecksumMode="ENABLED")
        where = f"s3://{store.bucket}/{key}"
        if head.get("ContentLength") != size:
            raise _fail(f"{where} holds {head.get('ContentLength')} bytes, but pg_dump wrote {size}")
        reported = head.get("ChecksumSHA256")
        if not reported:
            raise _fail(f"{where}: the store reports no SHA-256 checksum, so the upload cannot be verified")
        value, _, count = reported.partition("-")
        if value != composite or (count and int(count) != len(parts)):
            raise _fail(
                f"{where}: the stored checksum {reported} does not match what was sent "
                f"({composite}-{len(parts)})"
            )
        if head.get("ServerSideEncryption") != store.sse:
            raise _fail(
                f"{where} is stored with encryption {head.get('ServerSideEncryption')!r}, not {store.sse!r}"
            )
        return {
            "verified": "size and composite SHA-256 of the parts",
            "parts": len(parts),
            "checksum_sha256": f"{composite}-{len(parts)}",
            "server_side_encryption": store.sse,
        }

    def abort(self) -> str | None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        store = self.store
        try:
            if self.completed:
                store.client.delete_object(Bucket=store.bucket, Key=self.key)
            else:
                store.client.abort_multipart_upload(Bucket=store.bucket, Key=self.key, UploadId=self.upload_id)
        except Exception as exc:  # noqa: BLE001  (best effort; said in the error)
            what = "delete the object" if self.completed else f"abort the multipart upload {self.upload_id}"
            return redact(f"could not {what} ({type(exc).__name__})")
        return None


# ----------------------------------------------------------------------------------------
# streaming pg_dump into a sink
# ----------------------------------------------------------------------------------------


def _part_size(base: int, number: int) -> int:
    return base * 2 ** ((number - 1) // _PARTS_PER_SIZE)


class _Reader(threading.Thread):
    """Reads pg_dump's stdout in parts, into a queue of one, so reading never waits for hashing."""

    def __init__(self, stream: IO[bytes], base_size: int) -> None:
        super().__init__(name="pg_dump-reader", daemon=True)
        self.stream = stream
        self.base = base_size
        self.parts: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=1)
        self.stop = threading.Event()

    def _put(self, item: bytes | BaseException | None) -> bool:
        while not self.stop.is_set():
            try:
                self.parts.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        number = 1
        try:
            while not self.stop.is_set():
                data = self.stream.read(_part_size(self.base, number))
                if not data:
                    break
                if not self._put(data):
                    return
                number += 1
        except BaseException as exc:  # noqa: BLE001  (handed to the consumer)
            self._put(exc)
            return
        self._put(None)

    def next_part(self, timeout: float) -> bytes | None:
        """The next part; None at the end; ``b""`` if none came within ``timeout``."""
        try:
            item = self.parts.get(timeout=timeout)
        except queue.Empty:
            if not self.is_alive() and self.parts.empty():
                raise _fail("the pg_dump reader stopped unexpectedly") from None
            return b""
        if isinstance(item, BaseException):
            raise item
        return item


def _widen_pipe(stream: IO[bytes]) -> None:
    """Let pg_dump run up to 1 MiB ahead while a part is handed over (Linux only)."""
    try:
        import fcntl  # noqa: PLC0415  (not on Windows)
    except ImportError:
        return
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(stream.fileno(), setsize, MiB)


def _pump(
    stream: IO[bytes],
    sink: _Sink,
    base_size: int,
    progress: Progress | None,
    interval: float,
    started: float,
) -> tuple[int, str]:
    """Move pg_dump's output into ``sink``; return (bytes, SHA-256 hex)."""
    _widen_pipe(stream)
    reader = _Reader(stream, base_size)
    reader.start()
    whole = hashlib.sha256()
    size = 0
    number = 0
    last = started
    try:
        while True:
            data = reader.next_part(timeout=0.5)
            if data is None:
                break
            if data:
                whole.update(data)  # releases the GIL: the reader keeps reading meanwhile
                size += len(data)
                number += 1
                sink.write(number, data)
            del data
            now = time.monotonic()  # progress goes on while pg_dump is slow or waits for a lock
            if progress and now - last >= interval:
                last = now
                progress(size, now - started)
    finally:
        reader.stop.set()
    reader.join(timeout=5)
    return size, whole.hexdigest()


def _hash_stream(src: Any, dst: IO[bytes] | None = None) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    while chunk := src.read(MiB):
        digest.update(chunk)
        size += len(chunk)
        if dst is not None:
            dst.write(chunk)
    return size, digest.hexdigest()


def _check_download(info: BackupInfo, size: int, digest: str) -> None:
    if size != info.size or digest != info.sha256:
        raise _fail(
            f"backup {info.url} failed its checksum: it holds {size} bytes with SHA-256 {digest}, "
            f"but its manifest says {info.size} bytes with SHA-256 {info.sha256}; it was changed or "
            "damaged after it was written. Nothing was restored"
        )


# ----------------------------------------------------------------------------------------
# the public functions
# ----------------------------------------------------------------------------------------


def _server(url: DatabaseURL, action: str = "back up") -> tuple[int, str]:
    """(major, version text) of the server, e.g. (18, "18.1")."""
    try:
        with database.connect(url) as conn:
            return conn.info.server_version // 10000, conn.info.parameter_status("server_version") or ""
    except DatabaseUnavailable as exc:
        raise _fail(f"cannot {action}: {exc}") from None


def _program(name: str, major: int) -> tuple[Path, str]:
    """The client program for a server major version, and its version ("18.1")."""
    try:
        path = pgtools.find_program(name, major)
        return path, ".".join(map(str, pgtools.program_version(path)))
    except ToolError as exc:
        raise _fail(str(exc)) from None


def _one_line(exc: BaseException) -> str:
    """pg_dump/pg_restore say what failed over several lines: join them."""
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def create_backup(
    url: DatabaseURL,
    store: Store,
    *,
    environment: str,
    run_id: str,
    schema_version: str | None,
    progress: Progress | None = None,
    progress_interval: float = 2.0,
) -> BackupInfo:
    """Dump the database into ``store`` while pg_dump runs, verify it, write its manifest.

    Checks the store (``head_bucket``) and the server before pg_dump starts, so a missing
    bucket or an unreachable endpoint fails in a second with nothing uploaded.
    ``progress(bytes_so_far, seconds)`` is called from this thread at most every
    ``progress_interval`` seconds and once at the end.  Any failure raises
    :class:`BackupError` and leaves nothing in the store.
    """
    _check_name(environment, "environment")
    _check_name(run_id, "run id")
    store.check()
    major, server_version = _server(url)
    pg_dump, pg_dump_version = _program("pg_dump", major)

    now = datetime.now(timezone.utc)
    key = f"{environment}/{stamp(now)}-{run_id}{DUMP_SUFFIX}"
    created = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    metadata = {
        "orchestrator-format": str(MANIFEST_FORMAT),
        "environment": environment,
        "run-id": run_id,
        "schema-version": schema_version or "",
        "pg-dump-version": pg_dump_version,
        "server-version": server_version,
        "database": url.database,
        "created": created,
    }
    metadata = {k: v.encode("ascii", "replace").decode() for k, v in metadata.items()}
    args = [str(pg_dump), "--format=custom", "--no-password", "--dbname", url.conninfo(search_path=False)]

    started = time.monotonic()
    sink = store._sink(key, metadata)
    try:
        try:
            with pgtools.stream(args, env=url.env()) as proc:
                assert proc.stdout is not None
                size, digest = _pump(proc.stdout, sink, store.part_size, progress, progress_interval, started)
        except ToolError as exc:
            raise _fail(f"backup failed: {_one_line(exc)}") from None
        details = sink.finish(size)
        seconds = round(time.monotonic() - started, 3)
        info = BackupInfo(
            url=store.url_for(key),
            key=key,
            size=size,
            sha256=digest,
            created=created,
            environment=environment,
            run_id=run_id,
            schema_version=schema_version,
            pg_dump_version=pg_dump_version,
            server_version=server_version,
            seconds=seconds,
            database=url.database,
        )
        manifest = {"format": MANIFEST_FORMAT, **asdict(info), **details}
        manifest.pop("url")
        store.put_text(sibling(key, MANIFEST_SUFFIX), json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    except BaseException as exc:
        note = sink.abort()
        if note and isinstance(exc, BackupError):
            raise _fail(f"{exc}; also {note}") from None
        raise
    if progress:
        progress(size, seconds)
    return info


def _info(store: Store, key: str, raw: bytes) -> BackupInfo:
    try:
        data = json.loads(raw)
        return BackupInfo(
            url=store.url_for(key),
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
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise _fail(f"the manifest of {store.url_for(key)} is unreadable ({exc})") from None


def list_backups(store: Store, environment: str) -> list[BackupInfo]:
    """The complete backups of an environment (those with a manifest), newest first."""
    _check_name(environment, "environment")
    found = []
    for key in store._manifests(environment):
        raw = store._read(sibling(key, MANIFEST_SUFFIX))
        if raw is None:
            continue
        try:
            found.append(_info(store, key, raw))
        except BackupError:
            continue  # a damaged manifest is not a usable backup
    return sorted(found, key=lambda i: (i.created, i.key), reverse=True)


def find_backup(store: Store, key_or_url: str) -> BackupInfo:
    """The backup a user named: its key in the store, its full URL/object key, or a path.

    :class:`BackupNotFound` (exit 2) if there is no such complete backup.
    """
    text = key_or_url.strip()
    if not text:
        raise BackupNotFound("no backup named")
    candidates = store._resolve(text)
    for key in candidates:
        try:
            _safe_name(key)
        except BackupNotFound:
            continue
        raw = store._read(sibling(key, MANIFEST_SUFFIX))
        if raw is None:
            if store._exists(key):
                raise BackupNotFound(
                    f"{store.url_for(key)} has no manifest: the backup is incomplete and cannot be restored"
                )
            continue
        if not store._exists(key):
            raise BackupNotFound(f"{store.url_for(key)}: the manifest is there but the dump is missing")
        return _info(store, key, raw)
    raise BackupNotFound(f"no backup {text!r} in {store.describe()}")


def locate(store: Store | None, key_or_url: str) -> tuple[Store, BackupInfo]:
    """The backup a user named, and the store to read it from.

    An ``s3://`` URL is read from the bucket it names: the configured ``store`` if the
    URL is inside it, else the same endpoint, credentials and settings on the named
    bucket.  A path (absolute, or one that exists relative to the working directory) is
    read from that path.  Anything else is a name in ``store`` (``production/...``).
    Outside the store, the two folders above the dump are taken as ``<prefix>`` and
    ``<environment>/`` (the layout backups are written in), so the backup's ``key``
    looks as it would in its own store.  ``store`` may be None (no store configured):
    then only URLs and paths can be named.
    """
    text = key_or_url.strip()
    if not text:
        raise BackupNotFound("no backup named")
    if text.startswith("s3://"):
        bucket, _, key = text[len("s3://") :].partition("/")
        if isinstance(store, S3Store) and bucket == store.bucket and (
            not store.prefix or key.startswith(store.prefix + "/")
        ):
            return store, find_backup(store, text)
        if not bucket or not key.strip("/"):
            raise BackupNotFound(f"{text} names no backup (s3://BUCKET/KEY)")
        prefix, name = _split_key(key.strip("/"))
        if isinstance(store, S3Store):
            other = store.elsewhere(bucket, prefix)
        else:
            other = S3Store(bucket, prefix)
        return other, find_backup(other, name)
    if "://" in text:
        raise BackupNotFound(f"{text}: only s3:// URLs, paths and names in the backup store can be restored")
    path = Path(text).expanduser()
    if path.is_absolute() or path.exists():
        if isinstance(store, LocalStore) and path.resolve().is_relative_to(store.directory):
            return store, find_backup(store, str(path))
        path = path.parent.resolve() / path.name
        folder, name = _split_key(path.as_posix().lstrip("/"))
        other_local = LocalStore(Path("/") / folder)
        return other_local, find_backup(other_local, name)
    if store is None:
        raise BackupNotFound(
            f"{text!r} is not an s3:// URL or a path, and no backup store is configured to look it up in"
        )
    return store, find_backup(store, text)


def _split_key(key: str) -> tuple[str, str]:
    """``a/b/production/x.dump`` -> (``a/b``, ``production/x.dump``)."""
    parts = key.split("/")
    return "/".join(parts[:-2]), "/".join(parts[-2:])


# Run in the restore's transaction before the archive's SQL: empty the database down to
# what a new one has, so that the archive, which pg_dump wrote for an empty database, makes
# it exactly what was dumped.  Whatever the failed run created goes too, including objects
# that depend on restored ones (a foreign key to a restored table, a view over one), which
# ``pg_restore --clean`` cannot drop.  Everything a database holds outside its schemas is
# removed as well where pg_dump would bring it back (event triggers, extensions, foreign
# data wrappers, publications, casts, languages, access methods, large objects,
# database-wide default privileges); OIDs below 16384 are the system's own.  ``public``
# comes back as a new database has it (owner kept; USAGE for PUBLIC; the standard
# comment): pg_dump writes its comment and privileges as changes from that state.
RESTORE_PREAMBLE = r"""
SET client_min_messages = warning;
SET statement_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SELECT set_config('transaction_timeout', '0', false) WHERE current_setting('server_version_num')::int >= 170000;
BEGIN;
DO $orchestrator_restore$
DECLARE
    r record;
    what text;
    v15 constant boolean := current_setting('server_version_num')::int >= 150000;
    public_owner constant text := coalesce(
        (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public'),
        CASE WHEN v15 THEN 'pg_database_owner' ELSE (SELECT quote_ident(rolname) FROM pg_roles WHERE oid = 10) END);
BEGIN
    -- first, so that none fires while the database is emptied and filled
    FOR r IN SELECT e.evtname FROM pg_event_trigger e WHERE NOT EXISTS (
        SELECT FROM pg_depend d
        WHERE d.classid = 'pg_event_trigger'::regclass AND d.objid = e.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('DROP EVENT TRIGGER IF EXISTS %I', r.evtname);
    END LOOP;
    FOR r IN SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
    LOOP
        EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', r.nspname);
    END LOOP;
    FOR r IN SELECT extname FROM pg_extension WHERE oid >= 16384 LOOP
        EXECUTE format('DROP EXTENSION IF EXISTS %I CASCADE', r.extname);
    END LOOP;
    FOR r IN SELECT fdwname FROM pg_foreign_data_wrapper LOOP
        EXECUTE format('DROP FOREIGN DATA WRAPPER IF EXISTS %I CASCADE', r.fdwname);
    END LOOP;
    FOR r IN SELECT pubname FROM pg_publication LOOP
        EXECUTE format('DROP PUBLICATION IF EXISTS %I', r.pubname);
    END LOOP;
    FOR r IN SELECT format('%s AS %s', castsource::regtype, casttarget::regtype) AS pair
             FROM pg_cast WHERE oid >= 16384 LOOP
        EXECUTE format('DROP CAST IF EXISTS (%s) CASCADE', r.pair);
    END LOOP;
    FOR r IN SELECT lanname FROM pg_language WHERE oid >= 16384 LOOP
        EXECUTE format('DROP LANGUAGE IF EXISTS %I CASCADE', r.lanname);
    END LOOP;
    FOR r IN SELECT amname FROM pg_am WHERE oid >= 16384 LOOP
        EXECUTE format('DROP ACCESS METHOD IF EXISTS %I CASCADE', r.amname);
    END LOOP;
    PERFORM lo_unlink(oid) FROM pg_largeobject_metadata;
    FOR r IN
        SELECT d.defaclrole::regrole::text AS role, d.defaclobjtype AS kind,
               (SELECT string_agg(DISTINCT CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END, ', ')
                FROM aclexplode(d.defaclacl) a) AS grantees
        FROM pg_default_acl d WHERE d.defaclnamespace = 0
    LOOP
        what := CASE r.kind WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS'
                WHEN 'T' THEN 'TYPES' WHEN 'n' THEN 'SCHEMAS' WHEN 'L' THEN 'LARGE OBJECTS' END;
        CONTINUE WHEN what IS NULL;
        IF r.grantees IS NOT NULL THEN
            EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %s REVOKE ALL ON %s FROM %s', r.role, what, r.grantees);
        END IF;
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT ALL ON %s TO %s', r.role, what, r.role);
        IF r.kind IN ('f', 'T') THEN
            EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT ALL ON %s TO PUBLIC', r.role, what);
        END IF;
    END LOOP;
    EXECUTE format('CREATE SCHEMA public AUTHORIZATION %s', public_owner);
    IF v15 THEN
        GRANT USAGE ON SCHEMA public TO PUBLIC;
    ELSE
        GRANT ALL ON SCHEMA public TO PUBLIC;
    END IF;
    COMMENT ON SCHEMA public IS 'standard public schema';
END
$orchestrator_restore$;
"""


def restore(url: DatabaseURL, store: Store, info: BackupInfo, *, dry_run: bool = False) -> str:
    """Restore a backup into the database; return the archive's table of contents.

    The dump is downloaded (S3) and its size and SHA-256 checked against the manifest
    before anything else, so a damaged or tampered backup restores nothing.  Then one
    ``psql`` session runs, in one transaction, :data:`RESTORE_PREAMBLE` (which empties
    the database: every schema but the system's, and what else pg_dump dumps) and the
    archive as SQL, streamed from ``pg_restore --no-owner -f -``.  Afterwards the
    database holds exactly the schema and data of the backup, and nothing that was made
    after it.  ``COMMIT`` is sent only once pg_restore has written the whole archive and
    exited 0; any failure (an SQL error, pg_restore, the connection, Ctrl-C) ends the
    session without it, so the database is as it was before.  The password goes to psql
    in ``PGPASSWORD``.  The caller may hold the migration lock (an advisory lock, on
    another connection).  A dry run only runs ``pg_restore --list`` and does not connect
    to the database.
    """
    dump_major = int((info.pg_dump_version or "0").split(".")[0] or 0)
    major = dump_major if dry_run else max(_server(url, "restore")[0], dump_major)
    pg_restore, _ = _program("pg_restore", major)
    with store._fetch(info) as path:
        try:
            toc = pgtools.run([str(pg_restore), "--list", str(path)], env={}).decode("utf-8", "replace")
        except ToolError as exc:
            raise _fail(f"cannot read {info.url}: {_one_line(exc)}") from None
        if dry_run:
            return toc
        psql = pg_restore.with_name("psql" + pg_restore.suffix)  # the same release: it knows its \restrict
        if not (psql.is_file() and os.access(psql, os.X_OK)):
            psql, _ = _program("psql", major)
        source = [str(pg_restore), "--no-owner", "--file=-", str(path)]
        sink = [
            str(psql),
            "--no-psqlrc",
            "--quiet",
            "--no-password",
            "--set=ON_ERROR_STOP=1",
            "--dbname",
            url.conninfo(search_path=False),
            "--file=-",
        ]
        env = {**url.env(), "PGAPPNAME": "orchestrator restore"}
        try:
            pgtools.pipe(source, sink, env=env, head=RESTORE_PREAMBLE.encode(), tail=b"COMMIT;\n")
        except ToolError as exc:
            raise _fail(
                f"restore of {info.url} failed and was rolled back, the database is unchanged: {_sql_error(exc)}"
            ) from None
    return toc


_PSQL_WHERE = re.compile(r"psql:<stdin>:\d+: ")
_KEPT_CONTEXT = re.compile(r'^(?:CONTEXT:\s+)?(COPY \S+, line \d+|SQL statement ".*")')


def _sql_error(exc: ToolError) -> str:
    """A failed restore in one line.

    From the server's first ERROR/FATAL on, if there is one (notices before it are
    noise), without psql's line numbers in the stream.  Of the CONTEXT lines only the
    table and line of a COPY and a statement of the preamble are kept: the others quote
    the data being loaded, which must not end up in a CI log.
    """
    lines = [line.strip() for line in _PSQL_WHERE.sub("", str(exc)).splitlines() if line.strip()]
    first = next((i for i, line in enumerate(lines) if "ERROR:" in line or "FATAL:" in line), 0)
    kept: list[str] = []
    in_context = False
    for line in lines[first:]:
        in_context = line.startswith("CONTEXT:") or (
            in_context and not line.startswith(("ERROR:", "FATAL:", "DETAIL:", "HINT:"))
        )
        if not in_context:
            kept.append(line)
        elif match := _KEPT_CONTEXT.match(line):
            kept.append(f"CONTEXT: {match[1]}")
    if first:
        kept[0] = f"psql: {kept[0]}"
    return "; ".join(kept)


__all__ = [
    "BackupInfo",
    "LocalStore",
    "S3Store",
    "Store",
    "create_backup",
    "find_backup",
    "list_backups",
    "locate",
    "open_store",
    "restore",
    "sibling",
    "stamp",
]
