"""The office's health page: disks and how long they last, last runs and their results, version.

``POST /admin/health`` runs ``PRAGMA integrity_check`` (it reads the whole
database, so only on demand) and shows the page with its result. The figures
are ``jobgallery status``'s (``jobgallery/health.py``).
"""

from __future__ import annotations

import bottle

from daemon.admin.office import Office
from jobgallery import health


def install(app: bottle.Bottle, office: Office) -> None:
    app.route("/admin/health", "GET", lambda: show(office, False), auth="admin")
    app.route("/admin/health", "POST", lambda: show(office, True), auth="admin")


def show(office: Office, integrity: bool) -> bottle.HTTPResponse:
    found = health.gather(office.config, office.conn, integrity=integrity)
    return office.page("admin/health.html", "health", health=found, human=health.human, days_text=health.days_text)
