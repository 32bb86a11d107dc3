"""Part sizes that grow mid-upload, through S3 over HTTP (moto server): the small parts
from memory, the larger ones spooled, and the object verified by S3's composite checksum."""

from __future__ import annotations

import hashlib
import io

from support.s3 import Bucket

from orchestrator.backup import MiB, open_store
from orchestrator.backup.stream import pump


def test_parts_grow_mid_upload_and_the_object_verifies(s3_bucket: Bucket, tmp_path):
    store = open_store(f"{s3_bucket.url}/big", root=tmp_path, part_size=5 * MiB, grow_every=2)
    dump = (bytes(range(256)) * (47 * MiB // 256 + 1))[: 47 * MiB + 123]  # 5, 5, 10, 10, then 17 MiB+
    sink = store.sink("production/parts.dump", {"environment": "production"})

    size, digest = pump(io.BufferedReader(io.BytesIO(dump)), sink, store.part_size, None, 60.0, 0.0)
    verified = sink.finish(size)

    key = "big/production/parts.dump"
    parts = [s3_bucket.client.head_object(Bucket=s3_bucket.name, Key=key, PartNumber=n)["ContentLength"]
             for n in range(1, verified["parts"] + 1)]
    assert parts == [5 * MiB, 5 * MiB, 10 * MiB, 10 * MiB, 17 * MiB + 123]
    assert verified["checksum_sha256"].endswith("-5")
    assert (size, digest) == (len(dump), hashlib.sha256(dump).hexdigest())
    assert s3_bucket.read(key) == dump
    assert s3_bucket.uploads() == []


def test_a_failed_upload_leaves_no_object_and_no_spooled_part(s3_bucket: Bucket, tmp_path):
    store = open_store(f"{s3_bucket.url}/big", root=tmp_path, part_size=5 * MiB, grow_every=1)
    sink = store.sink("production/aborted.dump", {})
    sink.write(1, b"x" * (5 * MiB))
    sink.write(2, b"y" * (7 * MiB))  # part 2 (10 MiB) half spooled

    assert sink.abort() is None
    assert s3_bucket.keys() == [] and s3_bucket.uploads() == []
