"""``publish --index``: a small static page at the bucket's root linking every box's prefix.

Several boxes publish into one bucket, each under its own prefix; this page
lists the top-level folders the bucket holds (each box writes it again after
its own publish, so it is current whichever box ran last). Folder names are
read from the bucket, so they are escaped in the text and quoted in links.
"""

from __future__ import annotations

from urllib.parse import quote

from markupsafe import escape

from jobgallery.config import Config
from jobgallery.errors import UsageError
from jobgallery.objectstore.client import Location, make_client, store_errors
from jobgallery.objectstore.headers import cache_control

INDEX_KEY = "index.html"
MAX_SITES = 10_000
KIND_META = "jobgallery"  # x-amz-meta-jobgallery: prefix-index, so a box publishing at the root can tell it
PREFIX_INDEX = "prefix-index"


def write_prefix_index(config: Config, location: Location) -> str:
    """Write ``index.html`` at the root of ``location``'s bucket; return the line saying so."""
    if not location.prefix:
        raise UsageError("publish --index needs publish.prefix: without one this box's own index is the root page")
    client = make_client(config)
    with store_errors(location):
        prefixes = top_level_prefixes(client, location.bucket)
        client.put_object(
            Bucket=location.bucket,
            Key=INDEX_KEY,
            Body=index_page(prefixes, config.gallery.title),
            ContentType="text/html; charset=utf-8",
            CacheControl=cache_control(False, config.publish.page_max_age),
            Metadata={KIND_META: PREFIX_INDEX},
        )
    count = f"{len(prefixes)} site{'' if len(prefixes) == 1 else 's'}"
    return f"publish: wrote s3://{location.bucket}/{INDEX_KEY} linking {count}"


def is_prefix_index(client, location: Location) -> bool:
    """The bucket's root ``index.html`` is the page ``publish --index`` wrote."""
    head = client.head_object(Bucket=location.bucket, Key=INDEX_KEY)
    return head.get("Metadata", {}).get(KIND_META) == PREFIX_INDEX


def top_level_prefixes(client, bucket: str) -> list[str]:
    """The bucket's top-level folder names, sorted, at most MAX_SITES."""
    names: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/"):
        names += [str(item["Prefix"]).rstrip("/") for item in page.get("CommonPrefixes", ())]
        if len(names) >= MAX_SITES:
            break
    return sorted(name for name in names[:MAX_SITES] if name)


def index_page(prefixes: list[str], title: str) -> bytes:
    items = "\n".join(f'<li><a href="{escape(quote(name))}/">{escape(name)}</a></li>' for name in prefixes)
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}: sites</title>
</head>
<body>
<h1>{escape(title)}</h1>
<ul>
{items}
</ul>
</body>
</html>
"""
    return page.encode("utf-8")
