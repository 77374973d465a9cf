"""The office: admin pages under ``/admin/`` for what an admin does every week, without a shell.

| route                                   | answer                                                   |
|-----------------------------------------|----------------------------------------------------------|
| GET  /admin/                            | 303 to the jobs page                                     |
| GET, POST /admin/jobs                   | jobs (live and archived); create (``daemon/admin/jobs.py``) |
| POST /admin/jobs/<id>/rename|archive|restore | one job                                             |
| GET, POST /admin/jobs/<id>/photos       | a job's photos and trash; edit, move, delete, undo many   |
| GET, POST /admin/photos/<id>            | one photo with its audit trail (``daemon/admin/photos.py``) |
| GET  /admin/photos/<id>/preview         | a small JPEG made from the master (trash included)       |
| GET, POST /admin/crew[/<name>]          | users: add, reset, role, disable, enable, remove         |
| GET, POST /admin/health                 | disks, runs, version; POST runs the integrity check      |

Every route is ``auth=ADMIN`` (a crew user gets the 403 page, someone signed
out the sign-in page), every form is a plain POST carrying the session's CSRF
token, answered 303 to the page it came from (POST-redirect-GET) with a
one-line note of what was done; a refusal is a page with its sentence, its
status and a link back. Changes schedule the affected jobs' rebuilds at once.
"""

from __future__ import annotations

import bottle

from daemon.admin import crew, health, jobs, photos
from daemon.admin.office import Office
from daemon.connections import ThreadConnections
from daemon.responses import Pages
from daemon.scheduler import Rebuilds
from jobgallery.config import Config


def install(
    app: bottle.Bottle, config: Config, connections: ThreadConnections, rebuilds: Rebuilds, pages: Pages
) -> None:
    """Add the office's routes to ``app`` (called once from ``make_app``)."""
    office = Office(config, connections, rebuilds, pages)
    for module in (jobs, photos, crew, health):
        module.install(app, office)
