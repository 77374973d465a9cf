"""The Content-Type and Cache-Control each published object carries, as the shipped Nginx site sends them.

Files named by their content (derivatives, hashed CSS and JS) never change
under their name, so browsers and CDNs may keep them for a year without
asking. Everything else (pages above all) may be kept ``publish.page_max_age``
seconds and is then revalidated, so a new photo or a removed job shows up
within that time.
"""

from __future__ import annotations

import mimetypes

IMMUTABLE = "public, max-age=31536000, immutable"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".pdf": "application/pdf",
    ".zip": "application/zip",
}


def content_type(relative: str) -> str:
    """By the name's suffix, as Nginx's mime.types would; unknown kinds are plain bytes."""
    suffix = relative[relative.rfind(".") :].lower() if "." in relative.rsplit("/", 1)[-1] else ""
    return TYPES.get(suffix) or mimetypes.guess_type(relative)[0] or "application/octet-stream"


def cache_control(immutable: bool, page_max_age: int) -> str:
    """A year for content-named files; a short life and revalidation for the rest."""
    if immutable:
        return IMMUTABLE
    return f"public, max-age={page_max_age}, must-revalidate"


def is_page(relative: str) -> bool:
    """Pages link to the other files, so they go up after them and before anything is deleted."""
    return relative.endswith(".html")
