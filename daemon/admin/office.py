"""What every office page shares: the signed-in admin, rendering, notes, refusals, form fields, rebuilds."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from urllib.parse import quote

import bottle

from daemon.admin.notes import Note, Notes
from daemon.connections import ThreadConnections
from daemon.guard import USER_RECORD
from daemon.responses import TITLES, Link, Pages, script_root, sentence
from daemon.scheduler import Rebuilds
from daemon.sessions import CSRF_KEY
from jobgallery import db
from jobgallery.config import Config
from jobgallery.errors import JobGalleryError, NotFound, UsageError

MAX_ID = 2**63 - 1
MAX_FIELD = 10_000
ID = "re:[0-9]{1,19}"
NAME = "re:[A-Za-z0-9._@-]{1,64}"
SECTIONS = (("jobs", "Jobs"), ("crew", "Crew"), ("health", "Health"))


class Office:
    """Settings, connections, pages, rebuilds and notes, with the helpers each page module uses."""

    def __init__(self, config: Config, connections: ThreadConnections, rebuilds: Rebuilds, pages: Pages) -> None:
        self.config = config
        self.connections = connections
        self.rebuilds = rebuilds
        self.pages = pages
        self.notes = Notes()

    @property
    def conn(self) -> sqlite3.Connection:
        return self.connections.get()

    @property
    def user(self) -> db.User:
        return bottle.request.environ[USER_RECORD]

    @property
    def root(self) -> str:
        return script_root(bottle.request.environ)

    def gallery_path(self, job: db.Job) -> str:
        return job.gallery_path(self.config.gallery.public_index)

    # ------------------------------------------------------------ answers

    def page(self, template: str, section: str, **context: object) -> bottle.HTTPResponse:
        """An office page, with the note a redirect left for it (``?note=``)."""
        key = bottle.request.query.get("note", "")
        body = self.pages.render(
            template,
            self.root,
            user=self.user,
            csrf_token=bottle.request.environ.get(CSRF_KEY, ""),
            section=section,
            sections=SECTIONS,
            note=self.notes.take(self.user.name, key) if key else None,
            **context,
        )
        return self.pages.page_response(200, body)

    def done(self, where: str, note: Note) -> bottle.HTTPResponse:
        """303 to ``where`` (a path below the root) with ``note`` waiting there."""
        key = self.notes.leave(self.user.name, note)
        mark = "&" if "?" in where else "?"
        return bottle.HTTPResponse(status=303, Location=f"{self.root}{where}{mark}note={key}")

    def act(self, back: Link, action: Callable[[], bottle.HTTPResponse]) -> bottle.HTTPResponse:
        """Run a form's ``action``; a refusal is a page with its sentence, its status and a link ``back``."""
        try:
            return action()
        except JobGalleryError as exc:
            return self.refused(exc.status, str(exc), back)

    def refused(self, status: int, message: str, back: Link) -> bottle.HTTPResponse:
        link = Link(back.text, f"{self.root}{back.href}")
        body = self.pages.message(
            status, TITLES.get(status, "Not done"), sentence(message), (), [link], self.root, self.csrf
        )
        return self.pages.page_response(status, body)

    @property
    def csrf(self) -> str:
        return bottle.request.environ.get(CSRF_KEY, "")

    def rebuild(self, job_ids: Iterable[int]) -> None:
        """The pages of these jobs (and the index) within seconds."""
        for job_id in sorted(set(job_ids)):
            self.rebuilds.request(job_id, delay=0)


# ---------------------------------------------------------------- form fields


def text(name: str, limit: int = MAX_FIELD) -> str:
    """A form field as text ("" when missing); UsageError when it is absurdly long."""
    value = bottle.request.forms.getunicode(name, default="")
    if value is None:
        raise UsageError("the form's fields must be UTF-8 text")
    if len(value) > limit:
        raise UsageError(f"the field {name!r} is far too long")
    return value


def optional_text(name: str) -> str | None:
    """A field that may be left out altogether (None), as opposed to sent empty."""
    return text(name) if name in bottle.request.forms else None


def ids(name: str) -> list[int]:
    """Every value of a repeated field (checkboxes ``photo``) as ids; UsageError for one that is not."""
    values = bottle.request.forms.getall(name)
    return [number(value, "photo") for value in values]


def number(value: str, what: str) -> int:
    """An id from a path or a form field; UsageError when it is not digits, NotFound when no row can have it."""
    digits = value.strip()
    if not (digits.isascii() and digits.isdigit()):
        raise UsageError(f"choose a {what} from the list")
    significant = digits.lstrip("0")
    if not significant or len(significant) > len(str(MAX_ID)) or int(significant) > MAX_ID:
        raise NotFound(f"there is no such {what}")
    return int(significant)


def quoted(name: str) -> str:
    return quote(name, safe="")
