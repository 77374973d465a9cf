"""Dev mode: the daemon serves ``output/`` at ``/`` so galleries work without Nginx.

Only GET and HEAD of an existing file (or a folder's ``index.html``) are
answered here; everything else falls through to the app, so the daemon's
own routes and its JSON 404s are unchanged. Never served: dotfiles (and so
temp files), anything outside ``output/`` (``..``, symlinks leading out).
A share link's folder (``s/<token>/``) is served only while its link is
active, asked per request: an expired link stops answering here at once, not
at the next build that removes its folder.
HTML is revalidated on every visit; every other file name in ``output/`` is
content-addressed, so those are cached for a year. The security headers
(``daemon/headers.py``) are added around the whole daemon, these files included.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Callable, Iterable
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

HTML_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=31536000, immutable"
EXTRA_TYPES = {
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".heic": "image/heic",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".woff2": "font/woff2",
    ".webmanifest": "application/manifest+json",
}
TEXT_TYPES = ("text/", "application/json", "application/manifest+json", "image/svg+xml")
APP_PATHS = ("/upload", "/healthz", "/api")
SHARES_PREFIX = "/s/"

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    kind = EXTRA_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"{kind}; charset=utf-8" if kind.startswith(TEXT_TYPES) else kind


def resolve(root: Path, url_path: str) -> Path | None:
    """The file under ``root`` that ``url_path`` names, or None when it must not be served."""
    parts = [part for part in url_path.split("/") if part]
    if any(part.startswith(".") or "\\" in part or "\0" in part for part in parts):
        return None
    target = root.joinpath(*parts)
    try:
        real = target.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not real.is_relative_to(root):
        return None
    if real.is_dir():
        real = real / "index.html"
    return real if real.is_file() else None


def is_app_path(path: str) -> bool:
    """The daemon's own addresses are never looked up in ``output/``."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in APP_PATHS)


def decode_path(environ: dict) -> str:
    """PATH_INFO arrives as latin-1 per WSGI; file names on disk are UTF-8."""
    raw = environ.get("PATH_INFO", "/")
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return ""


def share_token(path: str) -> str | None:
    """The token of a share link's address (``/s/<token>/...``), else None."""
    if not path.startswith(SHARES_PREFIX):
        return None
    return path[len(SHARES_PREFIX) :].split("/", 1)[0]


class OutputFiles:
    """WSGI middleware: answer from ``root`` when it holds the requested file, else call ``app``.

    ``share_active(token) -> bool`` says whether a share link answers now; its
    folder's files are passed to ``app`` (which answers 404) when it does not.
    """

    def __init__(self, app: WSGIApp, root: Path, share_active: Callable[[str], bool]) -> None:
        self.app = app
        self.root = root.resolve()
        self.share_active = share_active

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = decode_path(environ)
        if method not in ("GET", "HEAD") or not path or is_app_path(path):
            return self.app(environ, start_response)
        token = share_token(path)
        if token is not None and not self.share_active(token):
            return self.app(environ, start_response)
        target = resolve(self.root, path)
        if target is None:
            return self.app(environ, start_response)
        if target.name == "index.html" and not path.endswith("/") and not path.endswith("index.html"):
            return redirect(environ, start_response)
        return serve_file(environ, start_response, target)


def redirect(environ: dict, start_response: Callable) -> Iterable[bytes]:
    """A folder without its slash: relative links on its page need the slash."""
    location = quote(environ.get("SCRIPT_NAME", "") + decode_path(environ) + "/")
    query = environ.get("QUERY_STRING")
    start_response("301 Moved Permanently", [("Location", location + (f"?{query}" if query else ""))])
    return [b""]


def not_modified(environ: dict, mtime: float) -> bool:
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if not since:
        return False
    try:
        return int(mtime) <= parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError):
        return False


def serve_file(environ: dict, start_response: Callable, target: Path) -> Iterable[bytes]:
    # Open first and stat the open file: a build may replace the name at any moment.
    handle = open(target, "rb")  # noqa: SIM115 - closed below or by the server's file wrapper
    stat = os.fstat(handle.fileno())
    headers = [
        ("Last-Modified", formatdate(stat.st_mtime, usegmt=True)),
        ("Cache-Control", HTML_CACHE if target.suffix.lower() in (".html", ".htm") else ASSET_CACHE),
    ]
    if not_modified(environ, stat.st_mtime):
        handle.close()
        start_response("304 Not Modified", headers)
        return [b""]
    headers += [("Content-Type", content_type(target)), ("Content-Length", str(stat.st_size))]
    start_response("200 OK", headers)
    if environ["REQUEST_METHOD"] == "HEAD":
        handle.close()
        return [b""]
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(handle, 64 * 1024)
    return file_chunks(handle)


def file_chunks(handle) -> Iterable[bytes]:
    with handle:
        while chunk := handle.read(64 * 1024):
            yield chunk
