"""One boto3 S3 client made from the ``publish.*`` settings, and boto's errors said in one line.

The endpoint, region and addressing style come from the configuration; the
credentials are looked up by the AWS SDK the standard way (``AWS_ACCESS_KEY_ID``
and friends, ``~/.aws/credentials``, ``AWS_PROFILE``, an instance role), so
they never sit in ``config.yaml``. Retries use botocore's "standard" mode:
exponential backoff with jitter on throttling, 5xx answers and dropped
connections, ``publish.max_attempts`` tries per request.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

from jobgallery.config import BUCKET_NAME, Config, is_key_prefix
from jobgallery.errors import StoreError, UsageError

DEFAULT_TIMEOUTS = (10.0, 60.0)  # (connect, read) seconds: the CLI's and the timers' runs
DAEMON_TIMEOUTS = (3.0, 15.0)  # the daemon's runs after a rebuild: a stalled store gives up sooner


@dataclass(frozen=True)
class Location:
    """A bucket and a prefix inside it (no leading or trailing ``/``; empty for the bucket's root)."""

    bucket: str
    prefix: str = ""

    def key(self, relative: str) -> str:
        """The object key of a path relative to the prefix."""
        return f"{self.prefix}/{relative}" if self.prefix else relative

    @property
    def folder(self) -> str:
        """The prefix as a listing wants it: ``depot/`` (so ``depot2/`` is not included), or empty."""
        return f"{self.prefix}/" if self.prefix else ""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse_location(text: str) -> Location:
    """``s3://BUCKET/PREFIX`` as a Location; UsageError for anything else."""
    match = re.fullmatch(r"s3://([^/]+)/?(.*?)/?", text)
    if not match or not BUCKET_NAME.fullmatch(match[1]) or not is_key_prefix(match[2]):
        raise UsageError(f"{text!r} is not an address like s3://my-bucket/depot-north")
    return Location(match[1], match[2])


def publish_location(config: Config) -> Location:
    """Where ``publish`` mirrors to; UsageError when ``publish.bucket`` is not set."""
    if not config.publish.bucket:
        raise UsageError("publish.bucket is not set in the configuration")
    return Location(config.publish.bucket, config.publish.prefix)


def make_client(config: Config, timeouts: tuple[float, float] = DEFAULT_TIMEOUTS):
    """A thread-safe boto3 S3 client for the configured endpoint; credentials found by the SDK.

    Made once per set of settings and kept: building one loads botocore's
    service model, about 0.4 s on a small box, which the daemon would pay on
    every publish.
    """
    settings = config.publish
    return cached_client(
        settings.endpoint_url, settings.region, settings.path_style, settings.max_attempts, settings.threads, timeouts
    )


@functools.lru_cache(maxsize=4)
def cached_client(
    endpoint_url: str, region: str, path_style: bool, max_attempts: int, threads: int, timeouts: tuple[float, float]
):
    boto_config = BotoConfig(
        retries={"mode": "standard", "max_attempts": max_attempts},
        s3={"addressing_style": "path" if path_style else "auto"},
        connect_timeout=timeouts[0],
        read_timeout=timeouts[1],
        max_pool_connections=max(10, threads * 2),
    )
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url or None, region_name=region or None, config=boto_config)


BOTO_ERRORS = (BotoCoreError, ClientError)


@contextlib.contextmanager
def store_errors(location: Location) -> Iterator[None]:
    """Turn boto's exceptions into a StoreError of one sentence naming the bucket."""
    try:
        yield
    except BOTO_ERRORS as exc:
        raise StoreError(describe(exc, location)) from None


def describe(exc: Exception, location: Location) -> str:
    """One sentence for a boto exception: missing credentials, the store's refusal, or no answer."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return "no credentials for object storage: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "an error")
        message = " ".join(str(error.get("Message") or "").split())[:200]
        return f"{location} answered {code}{': ' + message if message else ''}"
    return f"{location} could not be reached: {' '.join(str(exc).split())[:300]}"
