"""An S3 bucket and prefix as the backup store (or any S3-compatible server).

This is the only module that imports boto3 and botocore, and :meth:`S3Store._error` is
the one place their exceptions become the project's: :class:`BackupError`, or
:class:`BackupNotFound` for an object that is not there, with the cause chained and the
text passed through :func:`redact` (the secret key and session token are registered as
secrets when the client is made; access key ids are masked by pattern).

A dump goes up as a multipart upload: up to ``concurrency`` parts upload on worker
threads, and :meth:`_S3Upload.write` takes a new part only when one of them is done, so
memory stays bounded whatever the size of the database.  Part sizes follow a
:class:`~.store.PartSchedule` (8 MiB, doubling every 1,000 parts up to 4 GiB), so a 5 TB
dump fits in S3's 10,000 parts.  A part of one chunk (the first 8 GiB of a dump) is sent
from memory; a larger part is spooled to a temporary file as its chunks arrive, its
SHA-256 computed on the way, and sent from that file: the per-part checksum must be known
before the part is sent, and holding a 4 GiB part in memory is not an option.  At most
``concurrency + 1`` such files exist at once (``TMPDIR``, 0600, removed when sent).  Whatever fails, the upload is aborted (or the completed object deleted), so no
partial object is ever left as a backup; an abort that itself fails is said in the
error, and a bucket lifecycle rule ``AbortIncompleteMultipartUpload`` is the backstop.

How an upload is verified
-------------------------
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
``kms:Decrypt`` on the key, as restoring does anyway.  A store that reports no SHA-256
checksum (some S3-compatible servers) cannot be verified, and the backup fails: it is
then deleted rather than kept unverified.  The manifest also records the SHA-256 of the
whole dump, which :meth:`S3Store.fetch` checks on the downloaded file before pg_restore
runs.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from ..errors import BackupError, BackupNotFound
from ..redaction import redact, register_secret
from .manifest import MANIFEST_SUFFIX, BackupInfo, dump_names
from .store import (
    DEFAULT_GROW_EVERY,
    DEFAULT_PART_SIZE,
    MAX_PARTS,
    PartSchedule,
    Sink,
    Store,
    fail,
    hash_stream,
    newest_first,
    safe_name,
)

_MISSING = ("NoSuchKey", "404", "NotFound")  # how S3 says an object is not there (HEAD has no body)


def aws_session() -> Any:
    """A boto3 session (boto3 is imported here: it takes a while) whose secret key and token
    are registered for redaction before any call can print them."""
    import boto3  # noqa: PLC0415

    session = boto3.session.Session()
    with contextlib.suppress(Exception):  # no credentials yet: the first call says so
        creds = session.get_credentials()
        if creds is not None:
            frozen = creds.get_frozen_credentials()
            register_secret(frozen.secret_key)
            register_secret(frozen.token)
    return session


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
        grow_every: int = DEFAULT_GROW_EVERY,
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
        self.schedule = PartSchedule(part_size, grow_every)
        self.concurrency = concurrency
        self._settings = (max_attempts, connect_timeout, read_timeout)
        self._client_obj: Any = None

    # -- the client and its errors ----------------------------------------------------

    @property
    def client(self) -> Any:
        """The boto3 client, made on first use (importing boto3 takes a while)."""
        if self._client_obj is None:
            from botocore.config import Config  # noqa: PLC0415

            attempts, connect, read = self._settings
            session = aws_session()
            config = Config(
                retries={"mode": "standard", "max_attempts": attempts},
                connect_timeout=connect,
                read_timeout=read,
                max_pool_connections=max(10, self.concurrency + 2),
            )
            # ValueError too: botocore raises it for an endpoint URL it cannot parse
            with self._calls("set up the S3 client", also=(ValueError,)):
                self._client_obj = session.client("s3", config=config)
        return self._client_obj

    @property
    def endpoint(self) -> str:
        """The endpoint URL in use, for messages (``S3`` before the client is made)."""
        return str(getattr(self._client_obj.meta, "endpoint_url", "")) if self._client_obj else "S3"

    @contextlib.contextmanager
    def _calls(
        self,
        action: str,
        key: str | None = None,
        *,
        missing_ok: bool = False,
        also: tuple[type[Exception], ...] = (),
    ) -> Iterator[None]:
        """Turn botocore failures inside the block into the project's errors (see :meth:`_error`).

        ``missing_ok``: an object that is not there raises :class:`BackupNotFound`, for the
        caller to catch, rather than a :class:`BackupError`.
        """
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            yield
        except (BotoCoreError, ClientError, *also) as exc:
            raise self._error(exc, action, key, missing_ok=missing_ok) from exc

    def _error(
        self, exc: Exception, action: str, key: str | None = None, *, missing_ok: bool = False
    ) -> BackupError | BackupNotFound:
        """One clear line for a botocore/boto3 failure; never a credential."""
        from botocore import exceptions as bx  # noqa: PLC0415

        where = f"s3://{self.bucket}/{key}" if key else f"S3 bucket {self.bucket!r}"
        if isinstance(exc, bx.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            if missing_ok and code in _MISSING:
                return BackupNotFound(redact(f"{where} does not exist"))
            if code == "NoSuchBucket" or (key is None and (code in ("404", "NotFound") or status == 404)):
                return fail(f"cannot {action}: S3 bucket {self.bucket!r} does not exist (at {self.endpoint})")
            if code in ("403", "Forbidden", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                return fail(
                    f"cannot {action}: access to {where} denied ({code}); check the AWS credentials "
                    "and the bucket policy"
                )
            if code in ("301", "PermanentRedirect", "AuthorizationHeaderMalformed"):
                region = headers.get("x-amz-bucket-region")
                hint = f" (it is in region {region}: set AWS_REGION)" if region else " (wrong AWS region?)"
                return fail(f"cannot {action}: {where} is in another region{hint}")
            if code.startswith("KMS") or "kms" in code.lower():
                return fail(
                    f"cannot {action}: KMS refused the encryption key ({code}): {error.get('Message', '')}"
                )
            message = error.get("Message") or ""
            return fail(f"cannot {action} ({where}): {code or status} {message}".rstrip())
        if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ConnectionClosedError)):
            return fail(f"cannot {action}: the S3 endpoint {self.endpoint} cannot be reached ({exc})")
        if isinstance(exc, bx.ReadTimeoutError):
            return fail(f"cannot {action}: the S3 endpoint {self.endpoint} did not answer in time")
        if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
            return fail(
                f"cannot {action}: no usable AWS credentials (set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or use an instance/task role)"
            )
        if isinstance(exc, bx.NoRegionError):
            return fail(f"cannot {action}: no AWS region is set (set AWS_REGION or AWS_DEFAULT_REGION)")
        text = str(exc).strip().splitlines()
        return fail(f"cannot {action} ({where}): {text[0] if text else type(exc).__name__}")

    def elsewhere(self, bucket: str, prefix: str) -> S3Store:
        """Another bucket and prefix through the same client (endpoint, credentials) and settings."""
        other = S3Store(
            bucket,
            prefix.strip("/"),
            sse=self.sse,
            kms_key_id=self.kms_key_id,
            part_size=self.part_size,
            grow_every=self.schedule.grow_every,
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
        key = self._key(safe_name(name))
        kind = "application/json" if name.endswith(".json") else "text/plain; charset=utf-8"
        with self._calls("store the text object", key):
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=text.encode("utf-8"), ContentType=kind, **self._sse_args()
            )
        return f"s3://{self.bucket}/{key}"

    def list_texts(self, suffix: str, under: str = "") -> list[str]:
        return newest_first(n for n in self._list(under) if n.endswith(suffix))

    def sink(self, key: str, metadata: dict[str, str]) -> Sink:
        """A multipart upload; ``metadata`` becomes the object's user metadata."""
        return _S3Upload(self, self._key(key), metadata)

    def complete_dumps(self, under: str) -> list[str]:
        names = set(self._list(under))
        return [
            n.removesuffix(".json")
            for n in names
            if n.endswith(MANIFEST_SUFFIX) and n.removesuffix(".json") in names
        ]

    def read(self, name: str) -> bytes | None:
        key = self._key(safe_name(name))
        try:
            with self._calls("read", key, missing_ok=True):
                return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except BackupNotFound:
            return None

    def exists(self, name: str) -> bool:
        key = self._key(safe_name(name))
        try:
            with self._calls("look up", key, missing_ok=True):
                self.client.head_object(Bucket=self.bucket, Key=key)
        except BackupNotFound:
            return False
        return True

    def resolve(self, key_or_url: str) -> list[str]:
        """A name in the store, the full object key, or ``s3://bucket/key``."""
        if key_or_url.startswith("s3://"):
            bucket, _, key = key_or_url[len("s3://") :].partition("/")
            inside = not self.prefix or key.startswith(self.prefix + "/")
            if bucket != self.bucket or not inside:
                raise BackupNotFound(f"{key_or_url} is not in the backup location {self.describe()}")
            return dump_names(self._name(key))
        found = dump_names(key_or_url)
        if self.prefix and key_or_url.startswith(self.prefix + "/"):
            found += dump_names(self._name(key_or_url))
        return found

    @contextlib.contextmanager
    def fetch(self, info: BackupInfo) -> Iterator[Path]:
        """The dump downloaded into a temporary directory, hashed on the way, removed afterwards."""
        key = self._key(info.key)
        with tempfile.TemporaryDirectory(prefix="orchestrator-restore-") as tmp:
            path = Path(tmp) / Path(key).name
            with self._calls("download the backup", key):
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
                with path.open("wb") as f:
                    size, digest = hash_stream(body, f)
            info.check_download(size, digest)
            yield path

    # -- names and settings ---------------------------------------------------------------

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _name(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def _sse_args(self) -> dict[str, str]:
        args = {"ServerSideEncryption": self.sse}
        if self.sse == "aws:kms" and self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
        return args

    def _list(self, under: str) -> list[str]:
        base = self._key(safe_name(under)) + "/" if under else (self.prefix + "/" if self.prefix else "")
        names: list[str] = []
        with self._calls("list the backup bucket"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base)
            for page in pages:
                names.extend(self._name(obj["Key"]) for obj in page.get("Contents", []))
        return names


class _S3Upload(Sink):
    """One multipart upload: parts on worker threads, per-part SHA-256 checksums.

    Chunks are gathered into the part the schedule says comes next (:class:`_Part`); a
    full part is handed to the pool.
    """

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
        self.queued: list[_Part] = []  # every part handed to the pool (closed once sent)
        self.part = _Part(1, store.schedule)

    def write(self, number: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            taken = self.part.add(view)
            view = view[taken:]
            if self.part.full:
                self._send(self.part)
                self.part = _Part(self.part.number + 1, self.store.schedule)

    def _send(self, part: _Part) -> None:
        """Hand a part to the pool once a slot is free (this is where the dump waits for S3)."""
        if part.number > MAX_PARTS:
            part.close()
            raise fail(f"the dump needs more than {MAX_PARTS} parts; raise the part size")
        while not self.slots.acquire(timeout=0.5):
            self._raise_failed()
        try:
            self._raise_failed()
        except BaseException:
            self.slots.release()
            part.close()
            raise
        future = self.pool.submit(self._upload, part)
        future.add_done_callback(lambda _f: self.slots.release())
        self.futures.append(future)
        self.queued.append(part)

    def finish(self, size: int) -> dict[str, Any]:
        if self.part.size:
            self._send(self.part)
        results = sorted(f.result() for f in self.futures)
        self.pool.shutdown()
        if not results:
            raise fail("pg_dump wrote nothing")
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
        self._check(head, size, composite, len(parts))
        return {
            "verified": "size and composite SHA-256 of the parts",
            "parts": len(parts),
            "checksum_sha256": f"{composite}-{len(parts)}",
            "server_side_encryption": store.sse,
        }

    def abort(self) -> str | None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        for part in (*self.queued, self.part):  # those cancelled before they were sent
            part.close()
        store = self.store
        try:
            if self.completed:
                store.client.delete_object(Bucket=store.bucket, Key=self.key)
            else:
                store.client.abort_multipart_upload(
                    Bucket=store.bucket, Key=self.key, UploadId=self.upload_id
                )
        except Exception as exc:  # noqa: BLE001  (best effort while another error is raised; said in it)
            what = "delete the object" if self.completed else f"abort the multipart upload {self.upload_id}"
            return redact(f"could not {what} ({type(exc).__name__})")
        return None

    def _upload(self, part: _Part) -> tuple[int, str, bytes]:
        """Send one part (on a worker thread); return (number, ETag, SHA-256 digest)."""
        number = part.number
        try:
            digest = part.digest()
            encoded = base64.b64encode(digest).decode()
            with self.store._calls(f"upload part {number}", self.key):
                response = self.store.client.upload_part(
                    Bucket=self.store.bucket,
                    Key=self.key,
                    UploadId=self.upload_id,
                    PartNumber=number,
                    Body=part.body(),
                    ContentLength=part.size,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=encoded,
                )
        finally:
            part.close()
        echoed = response.get("ChecksumSHA256")
        if echoed is not None and echoed != encoded:
            raise fail(
                f"S3 stored part {number} of s3://{self.store.bucket}/{self.key} with another checksum"
            )
        return number, response["ETag"], digest

    def _raise_failed(self) -> None:
        """Raise the error of a part that failed to upload, if one did."""
        for future in self.futures:
            if future.done() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]

    def _check(self, head: dict[str, Any], size: int, composite: str, parts: int) -> None:
        """The stored object has the size streamed, the composite checksum sent, the encryption asked for."""
        where = f"s3://{self.store.bucket}/{self.key}"
        if head.get("ContentLength") != size:
            raise fail(f"{where} holds {head.get('ContentLength')} bytes, but pg_dump wrote {size}")
        reported = head.get("ChecksumSHA256")
        if not reported:
            raise fail(f"{where}: the store reports no SHA-256 checksum, so the upload cannot be verified")
        value, _, count = reported.partition("-")
        if value != composite or (count and int(count) != parts):
            raise fail(
                f"{where}: the stored checksum {reported} does not match what was sent ({composite}-{parts})"
            )
        stored_sse = head.get("ServerSideEncryption")
        if stored_sse != self.store.sse:
            raise fail(f"{where} is stored with encryption {stored_sse!r}, not {self.store.sse!r}")


class _Part:
    """One part being gathered: in memory if it is one chunk, else in a temporary file.

    The SHA-256 is computed as the bytes arrive, so a spooled part is written once and
    read once (by the upload).
    """

    def __init__(self, number: int, schedule: PartSchedule) -> None:
        self.number = number
        self.target = schedule.size(number)
        self.size = 0
        self.hash = hashlib.sha256()  # of a spooled part, as it is written
        self.chunks: list[bytes] = []
        self.file: IO[bytes] | None = (
            tempfile.TemporaryFile(prefix="orchestrator-part-")  # noqa: SIM115  (closed by close())
            if self.target > schedule.chunk
            else None
        )

    @property
    def full(self) -> bool:
        return self.size >= self.target

    def add(self, data: memoryview) -> int:
        """Take as much of ``data`` as the part still needs; return how many bytes that was."""
        taken = data[: self.target - self.size]
        if self.file is None:
            whole = isinstance(taken.obj, bytes) and taken.nbytes == len(taken.obj)
            self.chunks.append(taken.obj if whole else taken.tobytes())  # no copy of a whole chunk
        else:
            self.hash.update(taken)
            try:
                self.file.write(taken)
            except OSError as exc:
                raise fail(f"cannot spool part {self.number} to a temporary file: {exc.strerror}") from exc
        self.size += len(taken)
        return len(taken)

    def digest(self) -> bytes:
        """The part's SHA-256 (of a part in memory computed here, on the upload's worker thread)."""
        if self.file is None:
            return hashlib.sha256(self.body()).digest()
        return self.hash.digest()

    def body(self) -> bytes | IO[bytes]:
        """What to send: the bytes, or the spooled file rewound."""
        if self.file is None:
            return self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.file.flush()
        self.file.seek(0)
        return self.file

    def close(self) -> None:
        """Let go of the bytes (removes the temporary file)."""
        self.chunks = []
        if self.file is not None:
            self.file.close()
