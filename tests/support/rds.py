"""RDS over real HTTP: the moto server of :mod:`.s3` serves RDS too; instances and
clusters made on it for a test (only snapshots are taken of them: the database itself
is the embedded PostgreSQL)."""

from __future__ import annotations

import secrets

from .s3 import FAKE_ACCESS_KEY, FAKE_SECRET_KEY, REGION


def client(endpoint: str):
    """A boto3 RDS client for ``endpoint``, whatever this process's environment says."""
    import boto3

    return boto3.client("rds", endpoint_url=endpoint, aws_access_key_id=FAKE_ACCESS_KEY,
                        aws_secret_access_key=FAKE_SECRET_KEY, region_name=REGION)


def new_instance(endpoint: str) -> str:
    """A new PostgreSQL DB instance on the moto server; its identifier."""
    ident = f"app-db-{secrets.token_hex(3)}"
    client(endpoint).create_db_instance(DBInstanceIdentifier=ident, Engine="postgres", DBInstanceClass="db.t3.micro",
                                        AllocatedStorage=20, MasterUsername="app",
                                        MasterUserPassword=secrets.token_hex(12))
    return ident


def new_cluster(endpoint: str) -> str:
    """A new Aurora PostgreSQL cluster on the moto server; its identifier."""
    ident = f"app-cluster-{secrets.token_hex(3)}"
    client(endpoint).create_db_cluster(DBClusterIdentifier=ident, Engine="aurora-postgresql", MasterUsername="app",
                                       MasterUserPassword=secrets.token_hex(12))
    return ident


def tags(endpoint: str, arn: str) -> dict[str, str]:
    """A resource's tags, as a mapping."""
    found = client(endpoint).list_tags_for_resource(ResourceName=arn)["TagList"]
    return {t["Key"]: t["Value"] for t in found}
