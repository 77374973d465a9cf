"""A real S3-compatible server for the tests: moto in server mode on 127.0.0.1.

The server runs in the test process (moto's ``ThreadedMotoServer``), so the
buckets outlive a ``stop()`` and are there again after ``start()`` on the
same port: a test can cut the store off in the middle of a publish and bring
it back. Commands under test reach it over real HTTP with boto3, as they
would reach Amazon S3 or MinIO; credentials are the AWS SDK's standard
environment variables, set for the test.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import boto3
from conftest import free_port
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}
names = itertools.count(1)


class S3Server:
    """moto's S3 on a loopback port; ``stop()`` closes the port so clients are refused at once."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: ThreadedMotoServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        self.server._server.server_close()  # shutdown() alone leaves the socket accepting into its backlog

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION)

    def new_bucket(self, prefix: str = "site") -> str:
        name = f"{prefix}-{next(names)}"
        self.client().create_bucket(Bucket=name)
        return name


def publish_settings(server: S3Server, bucket: str, prefix: str = "depot-north", **more) -> dict:
    """``make_config`` overrides that point publish.* at the test server."""
    return {
        "publish__bucket": bucket,
        "publish__prefix": prefix,
        "publish__endpoint_url": server.endpoint,
        "publish__region": REGION,
        "publish__path_style": True,
        **more,
    }


def bucket_objects(client, bucket: str, prefix: str = "") -> dict[str, dict]:
    """Every object: key -> {"size", "etag"}."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            found[item["Key"]] = {"size": item["Size"], "etag": item["ETag"]}
    return found


def site_files(output: Path) -> dict[str, bytes]:
    """What publish must mirror: every file under output/ but dotfiles, by path relative to it."""
    files = {}
    for path in sorted(output.rglob("*")):
        relative = path.relative_to(output).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in relative.split("/")):
            files[relative] = path.read_bytes()
    return files
