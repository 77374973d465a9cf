"""What a bucket holds under a prefix: the ground truth publish and backup compare against.

A listing is one request per thousand keys and says each object's size and
ETag. It is read afresh on every run rather than trusted from a record of an
earlier one, because another box, a half-finished run or a person with the
console may have changed the bucket since.

An ETag is the MD5 of the bytes only for an object sent in one piece; a
multipart upload's ETag is the MD5 of its parts' MD5s with ``-N`` appended,
so it can only be compared with a local MD5 when it has no ``-``. For the
others ``object_sha256`` reads the SHA-256 we store in each object's
metadata.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jobgallery.objectstore.client import Location

PLAIN_ETAG = re.compile(r"[0-9a-f]{32}")
SHA256 = re.compile(r"[0-9a-f]{64}")
SHA_META = "sha256"  # x-amz-meta-sha256 on every object we write


@dataclass(frozen=True)
class Stored:
    """One object as a listing shows it."""

    size: int
    etag: str  # without the quotes

    @property
    def md5(self) -> str | None:
        """The MD5 of the bytes, when the ETag is one (a single-part upload)."""
        return self.etag if PLAIN_ETAG.fullmatch(self.etag) else None


def list_objects(client, location: Location, under: str = "") -> dict[str, Stored]:
    """Every object below ``location`` (and ``under`` inside it): key relative to the prefix -> Stored."""
    start = location.folder + under
    found: dict[str, Stored] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=start):
        for item in page.get("Contents", ()):
            key = str(item["Key"])
            found[key[len(location.folder) :]] = Stored(int(item["Size"]), str(item.get("ETag", "")).strip('"').lower())
    return found


def object_sha256(client, location: Location, relative: str) -> str | None:
    """The SHA-256 stored with an object, or None when it has none (or a malformed one)."""
    head = client.head_object(Bucket=location.bucket, Key=location.key(relative))
    value = str(head.get("Metadata", {}).get(SHA_META, "")).lower()
    return value if SHA256.fullmatch(value) else None


def stored_cache_control(client, location: Location, relative: str) -> str:
    """The Cache-Control an object is served with ("" when it has none)."""
    head = client.head_object(Bucket=location.bucket, Key=location.key(relative))
    return str(head.get("CacheControl", ""))
