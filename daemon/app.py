"""The daemon's routes: the HTTP surface of CONTRACT.md, and the upload form.

| route                              | who   | answer                                          |
|------------------------------------|-------|-------------------------------------------------|
| GET    /healthz                    | any   | ``{"status": "ok"}``                            |
| GET    /upload                     | user  | the upload form (HTML)                          |
| POST   /upload                     | user  | the form's own post (job in ``job_id``)         |
| POST   /upload/jobs                | admin | the form's "create job": 303 to the new job     |
| GET    /upload/static/<path>       | none  | the form's CSS, JS, icons and vendored files    |
| GET    /upload/sw.js               | none  | the form's service worker (daemon/shell.py)     |
| GET    /upload/manifest.webmanifest| none  | the form's web app manifest                     |
| GET    /favicon.ico                | none  | the site's icon                                 |
| GET    /api/jobs                   | user  | live jobs, newest first                         |
| POST   /api/jobs                   | admin | creates a job from JSON ``{"title"}``           |
| POST   /api/jobs/<id>/images       | user  | stores one or more ``image`` parts              |
| POST   /<id>/add_image             | user  | the seed's form: one ``image``                  |
| DELETE /api/images/<id>            | admin | 204, to the trash; the job's page is rebuilt    |
| POST   /api/jobs/<id>/known        | user  | which of ``{"sha256": [...]}`` the job stores   |
| GET    /upload/jobs/<id>/sheet     | admin | the printable job sheet with its QR code        |
| GET, POST /login, POST /logout     | any   | the sign-in page (``daemon/signin.py``)         |
| GET, POST /admin/...               | admin | the office (``daemon/admin/``)                  |
| GET, POST /login/link/<token>      | any   | a one-time sign-in link (``daemon/signin_link.py``) |

``/api/...`` and ``/<id>/add_image`` answer JSON only, errors included.
``/upload...`` answers a browser (``Accept: text/html``) with pages and
everyone else with JSON (see ``daemon/responses.py``).

Every handler is wrapped by ``Guard`` (``daemon/guard.py``): it signs the
user in (HTTP Basic or the session cookie), refuses cross-site posts and
unsafe requests without the session's CSRF token, and turns our errors into
JSON (or a page for browsers). Ids in paths and forms are checked before
any query: SQLite's ids are 1 to 2**63-1, and a longer number names nothing.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Callable, Iterable

import bottle

from daemon import admin, responses, shell
from daemon.accesslog import AccessLog, request_line
from daemon.auth import Authenticator
from daemon.connections import ThreadConnections
from daemon.derive_queue import DeriveQueue
from daemon.downloads import Downloads
from daemon.forwarded import ForwardedFor
from daemon.guard import ADMIN, USER_RECORD, Guard, require_form_csrf
from daemon.headers import SecurityHeaders
from daemon.responses import Link, Pages, Row, json_response, script_root, wants_html
from daemon.scheduler import Rebuilds
from daemon.sessions import CSRF_FIELD, CSRF_KEY, SessionStore
from daemon.share_admin import ShareAdmin, share_answers
from daemon.sheet import qr_svg, upload_address
from daemon.signin import SignIn
from daemon.signin_link import LinkSignIn
from daemon.static import OutputFiles
from daemon.upload import Stored, form_field, read_form, store_upload
from jobgallery import db, jobs, trash
from jobgallery.config import Config
from jobgallery.errors import NotFound, TooLarge, UsageError
from jobgallery.templating import static_dir

log = logging.getLogger("daemon.app")

MIB = 1024 * 1024
# Bottle reads url-encoded and JSON bodies up to this size into memory; see daemon/upload.py for multipart.
FORM_BODY_MAX = MIB
JSON_BODY_MAX = 64 * 1024
MAX_HASHES = 500
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
MAX_ID = 2**63 - 1
ID = "re:[0-9]+"

BOTTLE_MESSAGES = {
    400: "the request could not be understood",
    404: "there is nothing at this address",
    413: "the request body is too large",
    500: "internal error",
}


def current_user() -> db.User:
    return bottle.request.environ[USER_RECORD]


def csrf_token() -> str:
    """The signed-in session's CSRF token for the page being rendered; empty when the request used Basic."""
    return bottle.request.environ.get(CSRF_KEY, "")


def root() -> str:
    return script_root(bottle.request.environ)


# ---------------------------------------------------------------- the routes


class UploadDaemon:
    """The handlers, with what they share: settings, connections, pages and the rebuild queue."""

    def __init__(
        self, config: Config, connections: ThreadConnections, rebuilds: Rebuilds, pages: Pages, queue: DeriveQueue
    ) -> None:
        self.config = config
        self.connections = connections
        self.rebuilds = rebuilds
        self.pages = pages
        self.limit = config.server.max_upload_mb * MIB
        self.queue = queue

    def install(self, app: bottle.Bottle) -> None:
        app.route("/healthz", "GET", self.healthz, auth=None)
        app.route("/upload", "GET", self.upload_form)
        app.route("/upload", "POST", self.upload_form_post, csrf_in_form=True)
        app.route("/upload/jobs", "POST", self.create_job_from_form, auth=ADMIN)
        app.route("/upload/static/<name:path>", "GET", self.asset, auth=None)
        app.route("/upload/sw.js", "GET", lambda: shell.worker_response(root()), auth=None)
        app.route("/upload/manifest.webmanifest", "GET", self.app_manifest, auth=None)
        app.route("/favicon.ico", "GET", shell.favicon_response, auth=None)
        app.route("/api/jobs", "GET", self.list_jobs)
        app.route("/api/jobs", "POST", self.create_job, auth=ADMIN)
        app.route(f"/api/jobs/<job_id:{ID}>/images", "POST", self.upload_images, csrf_in_form=True)
        app.route(f"/<job_id:{ID}>/add_image", "POST", self.add_image, csrf_in_form=True)
        app.route(f"/api/images/<image_id:{ID}>", "DELETE", self.delete_image, auth=ADMIN)
        app.route(f"/api/jobs/<job_id:{ID}>/known", "POST", self.known_hashes)
        app.route(f"/upload/jobs/<job_id:{ID}>/sheet", "GET", self.job_sheet, auth=ADMIN)

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's own connection."""
        return self.connections.get()

    def gallery_path(self, job: db.Job) -> str:
        return job.gallery_path(self.config.gallery.public_index)

    # ------------------------------------------------------------ pages

    def healthz(self) -> bottle.HTTPResponse:
        return json_response({"status": "ok"})

    def upload_form(self) -> bottle.HTTPResponse:
        live = db.list_jobs(self.conn, live_only=True)
        body = self.pages.render(
            "upload.html",
            root(),
            user=current_user(),
            csrf_token=csrf_token(),
            jobs=[(job, self.gallery_path(job)) for job in live],
            selected=query_id("job"),
            created=bottle.request.query.get("created") == "1",
            max_upload_mb=self.config.server.max_upload_mb,
            max_bytes=self.limit,
            browser_location=self.config.upload.browser_location,
        )
        return self.pages.page_response(200, body)

    def job_sheet(self, job_id: str) -> bottle.HTTPResponse:
        """The printable sheet with the QR code of ``/upload?job=ID`` (``daemon/sheet.py``)."""
        job = db.get_job(self.conn, row_id(job_id, "job"), live=True)
        address = upload_address(bottle.request.environ, job.id)
        body = self.pages.render(
            "sheet.html", root(), job=job, address=address, qr=qr_svg(address), csrf_token=csrf_token()
        )
        return self.pages.page_response(200, body)

    def asset(self, name: str) -> bottle.HTTPResponse:
        version = self.pages.versions.get(name)
        if version is None:
            raise NotFound(f"there is no file named {name!r} here")
        response = bottle.static_file(name, root=str(static_dir()))
        fresh = bottle.request.query.get("v") == version
        response.set_header("Cache-Control", "private, max-age=31536000, immutable" if fresh else "no-cache")
        return response

    def app_manifest(self) -> bottle.HTTPResponse:
        return shell.manifest_response(root(), lambda name: self.pages.asset_url(name, root()))

    # ------------------------------------------------------------ jobs

    def list_jobs(self) -> bottle.HTTPResponse:
        live = db.list_jobs(self.conn, live_only=True)
        listed = [
            {"id": job.id, "title": job.title, "image_count": job.image_count, "gallery_path": self.gallery_path(job)}
            for job in live
        ]
        return json_response({"jobs": listed})

    def create_job(self) -> bottle.HTTPResponse:
        job = self.new_job(read_json_title())
        return json_response({"id": job.id, "title": job.title, "gallery_path": self.gallery_path(job)}, 201)

    def create_job_from_form(self) -> bottle.HTTPResponse:
        """The upload page's "create job" form (works without JavaScript): back to the form, job chosen."""
        job = self.new_job(form_field(bottle.request.environ, "title", FORM_BODY_MAX))
        return bottle.HTTPResponse(status=303, Location=f"{root()}/upload?job={job.id}&created=1")

    def new_job(self, title: object) -> db.Job:
        job = jobs.create_job(self.conn, title, current_user().name)
        log.info("job %d created: %r by %s", job.id, job.title, current_user().name)
        self.rebuilds.request(job.id, delay=0)
        return job

    # ------------------------------------------------------------ photos

    def upload_images(self, job_id: str) -> bottle.HTTPResponse:
        job_number = row_id(job_id, "job")
        db.get_job(self.conn, job_number, live=True)
        with self.rebuilds.storing_into(job_number):  # from the first byte: the burst's next photo is coming
            _, stored = self.receive(lambda form: job_number)
        return json_response({"images": [item.as_json() for item in stored]}, upload_status(stored))

    def known_hashes(self, job_id: str) -> bottle.HTTPResponse:
        """Which of the SHA-256 hashes a page has queued the job already stores: those need not be sent."""
        job_number = row_id(job_id, "job")
        db.get_job(self.conn, job_number, live=True)
        return json_response({"known": db.known_hashes(self.conn, job_number, read_hashes())})

    def upload_form_post(self) -> bottle.HTTPResponse:
        job, stored = self.receive(lambda form: form_job_id(form.text("job_id")))
        if wants_html(bottle.request.environ):
            return self.upload_page(job, stored, upload_status(stored))
        return json_response({"images": [item.as_json() for item in stored]}, upload_status(stored))

    def add_image(self, job_id: str) -> bottle.HTTPResponse:
        job_number = row_id(job_id, "job")
        db.get_job(self.conn, job_number, live=True)
        _, stored = self.receive(lambda form: job_number)
        return json_response({"success": True, "filename": stored[0].result.image.filename})

    def receive(self, which_job: Callable) -> tuple[db.Job, list[Stored]]:
        """Read the form, store its photos in the job it names, log them, schedule the rebuild."""
        user = current_user()
        with read_form(bottle.request.environ, self.limit) as form:
            require_form_csrf(bottle.request.environ, form.text(CSRF_FIELD))
            job = db.get_job(self.conn, which_job(form), live=True)
            with self.rebuilds.storing_into(job.id):
                stored = store_upload(self.config, self.conn, job.id, form, user.name)
                for item in stored:
                    if not item.result.duplicate:
                        self.queue.put(item.result.image)
        for item in stored:
            log_photo(job, item, user.name)
        if any(not item.result.duplicate for item in stored):
            self.rebuilds.request(job.id)
        return job, stored

    def upload_page(self, job: db.Job, stored: list[Stored], status: int) -> bottle.HTTPResponse:
        new = sum(not item.result.duplicate for item in stored)
        rows = [Row(item.sent_as or item.result.image.filename, photo_note(item)) for item in stored]
        links = [
            Link("Upload more photos", f"{root()}/upload?job={job.id}"),
            Link("Open the job's gallery", f"{root()}/{self.gallery_path(job)}"),
        ]
        text = f"{plural(new, 'photo')} stored in “{job.title}”; the gallery shows them within seconds."
        title = "Photos stored" if new else "Already uploaded"
        body = self.pages.message(status, title, text, rows, links, root(), csrf_token())
        return self.pages.page_response(status, body)

    def delete_image(self, image_id: str) -> bottle.HTTPResponse:
        image = db.get_image(self.conn, row_id(image_id, "photo"))
        if image.trashed:
            raise NotFound(f"image {image.id} is already deleted")
        trash.trash_photos(self.conn, [image.id], current_user().name)  # undo in the office for trash_days
        log.info("photo deleted: job %d, %s, by %s", image.job_id, image.filename, current_user().name)
        self.rebuilds.request(image.job_id)
        return responses.empty_response(204)

    # ------------------------------------------------------------ bottle's own errors (404, 405, ...)

    def bottle_error(self, error: bottle.HTTPError) -> bytes:
        environ = bottle.request.environ
        if error.traceback:
            log.error("unexpected error answering %s\n%s", request_line(environ), error.traceback)
        if error.status_code == 405:
            message = f"this address does not accept {environ.get('REQUEST_METHOD')} requests"
        else:
            message = BOTTLE_MESSAGES.get(error.status_code, "the request could not be handled")
        content_type, body = self.pages.error_body(error.status_code, message, wants_html(environ), root())
        bottle.response.content_type = content_type
        return body


# ---------------------------------------------------------------- small readers and formatters


def is_digits(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes "²" and "٣", which ``int`` refuses or reads."""
    return text.isascii() and text.isdigit()


def in_id_range(digits: str) -> bool:
    """Whether a string of digits is an id SQLite can hold, without ``int`` on 5,000 digits."""
    significant = digits.lstrip("0")
    return 0 < len(significant) <= len(str(MAX_ID)) and int(significant) <= MAX_ID


def row_id(digits: str, what: str) -> int:
    """ASCII digits (from a route or a form) as an id; NotFound (404) when no row can have it."""
    if not in_id_range(digits):
        raise NotFound(f"there is no such {what}")
    return int(digits.lstrip("0"))


def query_id(name: str) -> int | None:
    """An id from the query string, or None when it is missing or can name nothing."""
    value = bottle.request.query.get(name, "").strip()
    return int(value) if is_digits(value) and in_id_range(value) else None


def form_job_id(value: str) -> int:
    digits = value.strip()
    if not is_digits(digits):
        raise UsageError("choose the job the photos belong to")
    return row_id(digits, "job")


def upload_status(stored: list[Stored]) -> int:
    """201 when anything new was stored, 200 when every photo was a duplicate."""
    return 200 if all(item.result.duplicate for item in stored) else 201


def read_json_object(example: str) -> dict:
    """The request's JSON object (the API takes JSON only); UsageError naming ``example`` for anything else."""
    request = bottle.request
    kind = request.content_type.split(";")[0].strip().lower()
    if kind != "application/json":
        raise UsageError(f"send JSON, like {example}")
    if request.content_length > JSON_BODY_MAX:
        raise TooLarge("the JSON body is far too large")
    try:
        data = json.loads(request.body.read(JSON_BODY_MAX))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise UsageError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise UsageError(f"send a JSON object, like {example}")
    return data


def read_json_title() -> object:
    """The new job's title from a JSON object (the form has its own route)."""
    return read_json_object('{"title": "Roof, 12 Elm St"}').get("title")


def read_hashes() -> list[str]:
    """``{"sha256": ["<64 hex>", ...]}`` (at most ``MAX_HASHES``) as distinct lowercase hashes, in order."""
    hashes = read_json_object('{"sha256": ["<64 hex digits>", ...]}').get("sha256")
    if not isinstance(hashes, list) or not all(isinstance(item, str) for item in hashes):
        raise UsageError('"sha256" must be a list of SHA-256 hashes as hex strings')
    if len(hashes) > MAX_HASHES:
        raise UsageError(f"ask about at most {MAX_HASHES} hashes at once")
    if not all(SHA256_HEX.fullmatch(item) for item in hashes):
        raise UsageError("each hash must be 64 hexadecimal digits (a SHA-256)")
    return list(dict.fromkeys(item.lower() for item in hashes))


def photo_note(item: Stored) -> str:
    return "was already in this job" if item.result.duplicate else "stored"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def log_photo(job: db.Job, item: Stored, user: str) -> None:
    image = item.result.image
    what = "photo already stored" if item.result.duplicate else "photo stored"
    log.info(
        "%s: job %d, %s (sent as %r), %d bytes, %dx%d, by %s",
        what,
        job.id,
        image.filename,
        item.sent_as,
        image.byte_size,
        image.width,
        image.height,
        user,
    )


# ---------------------------------------------------------------- assembly


def make_app(
    config: Config, connections: ThreadConnections, rebuilds: Rebuilds, pages: Pages, queue: DeriveQueue
) -> Callable[[dict, Callable], Iterable]:
    """The whole WSGI application: security headers, access log, dev-mode ``output/`` files, then the routes.

    ``queue`` makes uploads' derivatives; the caller stops it before closing ``connections``.
    """
    bottle.BaseRequest.MEMFILE_MAX = FORM_BODY_MAX
    daemon = UploadDaemon(config, connections, rebuilds, pages, queue)
    auth = Authenticator(connections.get)
    sessions = SessionStore(connections.get, config.server.session_days)
    app = bottle.Bottle()
    app.install(Guard(auth, sessions, pages))
    daemon.install(app)
    SignIn(auth, sessions, pages).install(app)
    Downloads(config, connections).install(app)
    ShareAdmin(config, connections, rebuilds, pages).install(app)
    admin.install(app, config, connections, rebuilds, pages)
    LinkSignIn(connections, sessions, pages).install(app)
    app.default_error_handler = daemon.bottle_error
    wsgi = OutputFiles(app, config.paths.output, share_answers(connections)) if config.server.serve_output else app
    return SecurityHeaders(ForwardedFor(AccessLog(wsgi, error_renderer(pages)), config))


def error_renderer(pages: Pages) -> Callable[[int, str, dict], tuple[str, bytes]]:
    """``(status, message, environ) -> (content type, body)`` for errors raised outside the routes."""

    def render(status: int, message: str, environ: dict) -> tuple[str, bytes]:
        return pages.error_body(status, message, wants_html(environ), script_root(environ))

    return render
