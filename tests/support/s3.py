"""S3 over real HTTP: moto in server mode on 127.0.0.1, and buckets on it.

boto3 finds the server the way it would find any S3-compatible endpoint in production:
through ``AWS_ENDPOINT_URL`` (honoured by boto3 >= 1.28), with fake credentials in the
standard environment variables (:func:`variables`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .net import free_port

FAKE_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
FAKE_SECRET_KEY = "moto-secret-" + "wJalrXUtnFEMI-K7MDENG"
REGION = "us-east-1"
# what a deploy machine's environment must not have for the variables below to be all there is
UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_REGION")


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto S3 server on loopback while the block runs; its URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def variables(endpoint: str) -> dict[str, str]:
    """The environment that points boto3 at ``endpoint`` with fake credentials (and nothing else)."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def environment(base: dict[str, str], endpoint: str) -> dict[str, str]:
    """``base`` (an environment) set up as a deploy machine whose S3 is ``endpoint``."""
    env = {k: v for k, v in base.items() if k not in UNSET}
    env.update(variables(endpoint))
    return env


def client(endpoint: str):
    """A boto3 S3 client for ``endpoint``, whatever this process's environment says."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=FAKE_ACCESS_KEY,
                        aws_secret_access_key=FAKE_SECRET_KEY, region_name=REGION)


@dataclass
class Bucket:
    """A bucket on the moto server, and a boto3 client to look inside it."""

    name: str
    endpoint: str
    client: object  # a boto3 S3 client

    @property
    def url(self) -> str:
        return f"s3://{self.name}"

    def keys(self) -> list[str]:
        response = self.client.list_objects_v2(Bucket=self.name)
        return sorted(obj["Key"] for obj in response.get("Contents", []))

    def uploads(self) -> list[dict]:
        """Multipart uploads started and neither completed nor aborted."""
        return self.client.list_multipart_uploads(Bucket=self.name).get("Uploads", [])

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def write(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=body)


def new_bucket(endpoint: str, prefix: str = "backups") -> Bucket:
    """A new, empty bucket with a name of its own."""
    s3 = client(endpoint)
    name = f"{prefix}-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=name)
    return Bucket(name, endpoint, s3)
