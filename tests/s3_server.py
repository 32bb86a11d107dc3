"""S3 over real HTTP: moto in server mode on 127.0.0.1, and a fresh bucket per test.

boto3 finds the server the way it would find any S3-compatible endpoint in production:
through ``AWS_ENDPOINT_URL`` (honoured by boto3 >= 1.28), with fake credentials in the
standard environment variables.
"""

from __future__ import annotations

import logging
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

FAKE_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
FAKE_SECRET_KEY = "moto-secret-" + "wJalrXUtnFEMI-K7MDENG"
REGION = "us-east-1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on loopback for the whole session; its URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_env(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Point boto3 at ``endpoint`` with fake credentials, as a deploy machine would be set up."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@dataclass
class Bucket:
    """A fresh bucket on the moto server, and a boto3 client to look inside it."""

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


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A new, empty bucket; boto3 in this process points at the moto server."""
    import boto3

    s3_env(monkeypatch, s3_endpoint)
    client = boto3.client("s3")
    name = f"backups-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=name)
    return Bucket(name, s3_endpoint, client)
