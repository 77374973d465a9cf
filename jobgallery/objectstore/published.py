"""What this box has published, kept in ``data/.published.json``: whose objects, which headers, gone since when.

Three things the bucket's listing cannot say, recorded after every publish::

    {"format": 1, "location": "s3://bucket/prefix",
     "objects": {"jobs/3-roof/index.html": "public, max-age=60, must-revalidate", ...},
     "unreferenced": {"jobs/3-roof/17-thumb-ab12.jpg": 1764420000.0, ...}}

``objects``: each key (relative to the prefix) this box sent, with the
Cache-Control it was sent with ("" when unknown), so a content-named file
matched by its size is still sent again when its headers are wrong.
``unreferenced``: when (Unix time) a key was first found missing from
``output/``, just after the pages that stopped naming it were sent; it is
deleted once ``publish.page_max_age`` has passed, so a viewer holding an old
page from a cache still finds its images.

A record of another location, or one that cannot be read, counts as empty:
every key's headers are then checked with a HEAD request once, and a key
this box never recorded is deleted only when the prefix is the box's own
(a non-empty ``publish.prefix``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from jobgallery import storage

RECORD_NAME = ".published.json"
FORMAT = 1


@dataclass
class Published:
    """The record of one location; see the module docstring."""

    location: str
    objects: dict[str, str] = field(default_factory=dict)
    unreferenced: dict[str, float] = field(default_factory=dict)


def record_path(data_dir: Path) -> Path:
    return data_dir / RECORD_NAME


def read_record(data_dir: Path, location: str) -> Published:
    """The record of ``location``; an empty one when there is none, it is of another location, or unreadable."""
    empty = Published(location)
    try:
        body = json.loads(record_path(data_dir).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return empty
    if not isinstance(body, dict) or body.get("format") != FORMAT or body.get("location") != location:
        return empty
    objects, unreferenced = body.get("objects"), body.get("unreferenced")
    if not isinstance(objects, dict) or not isinstance(unreferenced, dict):
        return empty
    return Published(
        location,
        {str(key): value for key, value in objects.items() if isinstance(value, str)},
        {
            str(key): float(value)
            for key, value in unreferenced.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        },
    )


def write_record(data_dir: Path, record: Published) -> None:
    body = {"format": FORMAT, "location": record.location, "objects": record.objects}
    body["unreferenced"] = record.unreferenced
    storage.atomic_write(record_path(data_dir), json.dumps(body, sort_keys=True).encode("utf-8"))
