"""The admin's page of a job's share links: ``/admin/jobs/<id>/shares``.

| route                                        | who   | answer                                              |
|----------------------------------------------|-------|-----------------------------------------------------|
| GET  /admin/jobs/<id>/shares                 | admin | the links (address, note, ends, state), a new-link form |
| POST /admin/jobs/<id>/shares                 | admin | a new link (``days`` or ``until``, ``note``): 303   |
| POST /admin/jobs/<id>/shares/<token>/revoke  | admin | ends the link at once: 303 back                     |

The same rules as ``jobgallery share``: a new link's page is made by a
rebuild scheduled at once; a revoked link's folder leaves ``output/`` before
the answer, so it answers 404 when the admin sees the page again. Forms work
without JavaScript and carry the session's CSRF token.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime

import bottle

from daemon.connections import ThreadConnections
from daemon.guard import ADMIN, USER_RECORD
from daemon.responses import Pages, script_root
from daemon.scheduler import Rebuilds
from daemon.sessions import CSRF_KEY
from daemon.sheet import HOST, SCHEMES
from jobgallery import db, shares
from jobgallery.config import Config
from jobgallery.errors import NotFound, UsageError

log = logging.getLogger("daemon.share_admin")

ID = "re:[0-9]{1,18}"
FIELD_MAX = 1000


class ShareAdmin:
    """The handlers of the share page, with what they need: settings, connections, rebuilds, pages."""

    def __init__(self, config: Config, connections: ThreadConnections, rebuilds: Rebuilds, pages: Pages) -> None:
        self.config = config
        self.connections = connections
        self.rebuilds = rebuilds
        self.pages = pages

    def install(self, app: bottle.Bottle) -> None:
        app.route(f"/admin/jobs/<job_id:{ID}>/shares", "GET", self.page, auth=ADMIN)
        app.route(f"/admin/jobs/<job_id:{ID}>/shares", "POST", self.create, auth=ADMIN)
        app.route(f"/admin/jobs/<job_id:{ID}>/shares/<token>/revoke", "POST", self.revoke, auth=ADMIN)

    @property
    def conn(self) -> sqlite3.Connection:
        return self.connections.get()

    def page(self, job_id: str) -> bottle.HTTPResponse:
        job = db.get_job(self.conn, int(job_id))
        root = script_root(bottle.request.environ)
        listed = [
            (share, site_address(bottle.request.environ, share.path)) for share in shares.listed(self.conn, job.id)
        ]
        body = self.pages.render(
            "shares.html",
            root,
            job=job,
            shares=listed,
            share_days=self.config.gallery.share_days,
            csrf_token=bottle.request.environ.get(CSRF_KEY, ""),
            created=bottle.request.query.get("created", ""),
        )
        return self.pages.page_response(200, body)

    def create(self, job_id: str) -> bottle.HTTPResponse:
        job = db.get_job(self.conn, int(job_id), live=True)
        form = bottle.request.forms
        expires = expiry_from_form(form.get("days", ""), form.get("until", ""), self.config.gallery.share_days)
        share = shares.create(self.conn, job.id, expires, form.getunicode("note", default=""), by=admin_name())
        log.info("share link %s… of job %d made by %s", share.token[:8], job.id, admin_name())
        self.rebuilds.request(job.id, delay=0)
        return self.back(job.id, f"?created={share.token}")

    def revoke(self, job_id: str, token: str) -> bottle.HTTPResponse:
        job = db.get_job(self.conn, int(job_id))
        row = db.get_share(self.conn, token) if shares.valid_token(token) else None
        if row is None or row.job_id != job.id:
            raise NotFound("this job has no such share link")
        shares.revoke(self.conn, token)
        shares.unpublish(self.config.paths.output, token)
        log.info("share link %s… of job %d revoked by %s", token[:8], job.id, admin_name())
        self.rebuilds.request(job.id, delay=0)
        return self.back(job.id)

    def back(self, job_id: int, query: str = "") -> bottle.HTTPResponse:
        root = script_root(bottle.request.environ)
        return bottle.HTTPResponse(status=303, Location=f"{root}/admin/jobs/{job_id}/shares{query}")


def admin_name() -> str:
    return bottle.request.environ[USER_RECORD].name


def expiry_from_form(days: str, until: str, default_days: int) -> datetime | None:
    """The form's ``until`` date if given, else its ``days`` (blank: the default); UsageError for nonsense."""
    now = shares.now_utc()
    if len(days) > FIELD_MAX or len(until) > FIELD_MAX:
        raise UsageError("the form's fields are far too long")
    if until.strip():
        return shares.expiry_until(until, now)
    try:
        number = float(days) if days.strip() else float(default_days)
    except ValueError:
        raise UsageError("give the number of days as a number, like 14 (0: the link never ends)") from None
    return shares.expiry_after_days(number, now)


def site_address(environ: dict, path: str) -> str:
    """The link as the admin's browser reached the daemon (``https://host/s/<token>/``), or the bare path."""
    host = environ.get("HTTP_HOST", "")
    scheme = environ.get("wsgi.url_scheme")
    if not HOST.fullmatch(host) or scheme not in SCHEMES:
        return "/" + path
    return f"{scheme}://{host}{script_root(environ)}/{path}"


def share_answers(connections: ThreadConnections) -> Callable[[str], bool]:
    """``token -> bool``: whether a share link answers now, asked of the database per request.

    The serving of ``output/`` uses it so that an expired link's folder stops
    answering the second it expires, before the build that removes it.
    """
    return lambda token: shares.find_active(connections.get(), token) is not None
