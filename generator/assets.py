"""The gallery's CSS and JavaScript, published under content-hashed names.

A name like ``static/gallery.3f2a9c1b7d0e.css`` changes whenever the bytes do,
so Nginx can tell browsers to keep these files forever while HTML pages
always revalidate. A user's template folder may override any of them. The
photo viewer (PhotoSwipe, vendored by ``scripts/vendor.sh``) is published the
same way, its licence beside it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from jobgallery.config import Config
from jobgallery.templating import static_dir

# Source under templates/static/ -> the name it is published under (before its hash).
STATIC_FILES = {
    "gallery.css": "gallery.css",
    "gallery.js": "gallery.js",
    "vendor/photoswipe/photoswipe.esm.min.js": "photoswipe.js",
    "vendor/photoswipe/photoswipe.css": "photoswipe.css",
    "vendor/photoswipe/LICENSE": "photoswipe-licence.txt",
}
STATIC_FOLDER = "static"


def source_dirs(config: Config) -> list[Path]:
    dirs = [static_dir()]
    if config.gallery.templates:
        dirs.insert(0, config.gallery.templates / "static")
    return dirs


def read_asset(config: Config, name: str) -> bytes:
    """The first ``name`` found: the user's override, else ours."""
    for folder in source_dirs(config):
        path = folder / name
        if path.is_file():
            return path.read_bytes()
    raise FileNotFoundError(f"static file {name} is missing from the templates")


def hashed_name(name: str, data: bytes) -> str:
    """``gallery.css`` -> ``static/gallery.<12 hex>.css``."""
    stem, _, suffix = name.rpartition(".")
    digest = hashlib.sha256(data).hexdigest()[:12]
    return f"{STATIC_FOLDER}/{stem}.{digest}.{suffix}"


def collect_assets(config: Config) -> dict[str, tuple[str, bytes]]:
    """Each static file's published path (relative to ``output/``) and bytes, by its published name."""
    assets = {}
    for source, name in STATIC_FILES.items():
        data = read_asset(config, source)
        assets[name] = (hashed_name(name, data), data)
    return assets
