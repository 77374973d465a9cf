"""Answers in the shape each client wants: JSON for scripts, readable pages for browsers.

The API (everything under ``/api/``) and the seed's ``/<id>/add_image``
always answer JSON, errors included (``{"error": "<one readable sentence>"}``),
whatever Accept says: scripts and the upload form's XHR read them. The
browser-facing addresses (``/upload`` and what is below it, the dev-mode
``output/`` files, unknown paths outside ``/api/``) answer a browser that
asks for ``text/html`` with a page (``templates/message.html``), and
everyone else with the same JSON; never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import bottle

from jobgallery import storage
from jobgallery.config import Config
from jobgallery.templating import make_environment, static_dir

ASSETS = ("upload.css", "sheet.css", "shares.css", "admin.css")
# Every file below these folders of templates/static is served too: the form's scripts, icons, vendored libraries.
ASSET_FOLDERS = ("upload", "vendor")
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"

TITLES = {
    400: "Please check the form and try again",
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    413: "Upload too large",
    415: "Not a supported photo",
    422: "Photo cannot be read",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Try again shortly",
}
BUSY_RETRY_SECONDS = 5
FULL_RETRY_SECONDS = 60


@dataclass(frozen=True)
class Link:
    """A link shown under a message: where to go next."""

    text: str
    href: str


@dataclass(frozen=True)
class Row:
    """One line of a result list (a stored photo, usually)."""

    text: str
    note: str = ""


# The API's own paths, and the seed's upload route: JSON only.
JSON_ONLY_PATH = re.compile(r"/api(/|$)|/[0-9]+/add_image$")


def json_only(environ: Mapping) -> bool:
    return JSON_ONLY_PATH.match(environ.get("PATH_INFO", "")) is not None


def wants_html(environ: Mapping) -> bool:
    """A browser (it lists ``text/html`` in Accept) at a browser-facing address; never on the API."""
    accept = environ.get("HTTP_ACCEPT", "")
    return "text/html" in accept and not accept.startswith(JSON_TYPE) and not json_only(environ)


def json_body(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def json_response(data: object, status: int = 200, headers: Mapping[str, str] | None = None) -> bottle.HTTPResponse:
    response = bottle.HTTPResponse(json_body(data), status, **(headers or {}))
    response.content_type = JSON_TYPE
    return response


def empty_response(status: int = 204) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(b"", status)


class Pages:
    """Renders the daemon's HTML pages with the shared, autoescaping Jinja2 environment.

    Our CSS and JS are linked as ``/upload/static/<name>?v=<hash>``: the hash
    changes with the content, so phones may cache them for good. ``name`` is
    the path below ``templates/static`` (``upload/form.js``); only the files
    listed in ``versions`` are ever served.
    """

    def __init__(self, config: Config) -> None:
        self.env = make_environment(config)
        self.versions = {name: hashlib.sha256(path.read_bytes()).hexdigest()[:12] for name, path in asset_files()}

    def asset_url(self, name: str, root: str) -> str:
        return f"{root}/upload/static/{name}?v={self.versions[name]}"

    def render(self, template: str, root: str, **context: object) -> bytes:
        page = self.env.get_template(template)
        context.setdefault("csrf_token", "")
        return page.render(root=root, asset=lambda name: self.asset_url(name, root), **context).encode("utf-8")

    def message(
        self,
        status: int,
        title: str,
        text: str,
        rows: Iterable[Row] = (),
        links: Iterable[Link] = (),
        root: str = "",
        csrf_token: str = "",
    ) -> bytes:
        """A readable page for a result or an error (``templates/message.html``)."""
        return self.render(
            "message.html",
            root,
            csrf_token=csrf_token,
            status=status,
            title=title,
            text=text,
            rows=list(rows),
            links=list(links),
            error=status >= 400,
        )

    def page_response(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> bottle.HTTPResponse:
        response = bottle.HTTPResponse(body, status, **(headers or {}))
        response.content_type = HTML_TYPE
        response.set_header("Cache-Control", "no-store")
        return response

    def error_body(self, status: int, message: str, html: bool, root: str = "") -> tuple[str, bytes]:
        """Content type and body of an error; shared with the server's own refusals (413 before reading)."""
        if not html:
            return JSON_TYPE, json_body({"error": message})
        if status == 401:
            links = [Link("Sign in", f"{root}/login")]
        else:
            links = [Link("Back to the upload form", f"{root}/upload")]
        if status == 404:
            links.append(Link("All galleries", f"{root}/"))
        body = self.message(status, TITLES.get(status, "Error"), sentence(message), links=links, root=root)
        return HTML_TYPE, body

    def error(
        self, status: int, message: str, environ: Mapping, headers: Mapping[str, str] | None = None
    ) -> bottle.HTTPResponse:
        """An error answer in JSON or HTML, as the request's Accept header asks."""
        content_type, body = self.error_body(status, message, wants_html(environ), script_root(environ))
        response = bottle.HTTPResponse(body, status, **(headers or {}))
        response.content_type = content_type
        response.set_header("Cache-Control", "no-store")
        return response


def asset_files() -> list[tuple[str, Path]]:
    """``(name below templates/static, path)`` of every file the daemon serves from there."""
    base = static_dir()
    found = [(name, base / name) for name in ASSETS]
    for folder in ASSET_FOLDERS:
        files = sorted(path for path in (base / folder).rglob("*") if path.is_file())
        found += [(path.relative_to(base).as_posix(), path) for path in files]
    return found


@dataclass(frozen=True)
class Fault:
    """An exception that is not a bug: what to answer (a 4xx, or 503 and when to try again)."""

    status: int
    message: str
    retry_after: int | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


def expected_fault(exc: BaseException) -> Fault | None:
    """What to tell the client about ``exc`` when it is not a bug in the daemon; None when it is.

    Passing faults answer 503 with ``Retry-After``, and nothing was stored:
    SQLite says SQLITE_BUSY/SQLITE_LOCKED when another process held the
    database past the busy timeout, SQLITE_FULL when the disk filled during
    a write; the filesystem says ENOSPC or EDQUOT. The upload form and
    scripts retry after the wait. A UnicodeDecodeError comes from the
    client's bytes (Bottle's form parser decodes part headers as UTF-8 and
    raises): 400.
    """
    if isinstance(exc, UnicodeDecodeError):
        return Fault(400, "the request's form fields and headers must be UTF-8 text")
    if isinstance(exc, sqlite3.OperationalError):
        name = getattr(exc, "sqlite_errorname", "") or ""
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            message = f"the database is busy with other work; try again in {BUSY_RETRY_SECONDS} seconds"
            return Fault(503, message, BUSY_RETRY_SECONDS)
        if name.startswith("SQLITE_FULL"):
            return disk_full()
    if storage.is_disk_full(exc):
        return disk_full()
    return None


def disk_full() -> Fault:
    minutes = FULL_RETRY_SECONDS // 60
    message = f"the server's disk is full, so nothing was stored; try again in {minutes} minute or later"
    return Fault(503, message, FULL_RETRY_SECONDS)


def script_root(environ: Mapping) -> str:
    """The prefix the daemon is mounted under ("" normally), for links on pages."""
    return environ.get("SCRIPT_NAME", "").rstrip("/")


def sentence(message: str) -> str:
    """An API message ("job 4 does not exist") as a sentence on a page ("Job 4 does not exist.")."""
    text = message.strip()
    if not text:
        return text
    first_word = text.split(" ", 1)[0].rstrip(":,")
    if not any(mark in first_word for mark in "./_"):  # a file name keeps its own spelling
        text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."
