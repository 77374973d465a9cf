"""The plugin around every route: who is asking, may they, and errors as JSON or pages.

For a request to a route whose ``auth`` is ``"user"`` or ``"admin"``:

1. an unsafe request (POST, PUT, PATCH, DELETE) sent by another site is
   refused (403), on every route, the sign-in page included;
2. an ``Authorization: Basic`` header signs in as it always has (throttle,
   cache, scrypt; see ``daemon/auth.py``) and needs no CSRF token: step 1
   is what guards credentials a browser remembers;
3. else the session cookie (``daemon/sessions.py``): an unsafe request must
   carry the session's CSRF token in ``X-CSRF-Token`` or in the form field
   ``csrf_token``, else 403. A multipart upload's field can only be read
   with its body, so routes marked ``csrf_in_form`` check it after reading
   the form and before storing anything (``require_form_csrf``);
4. else nobody is signed in: a browser asking for a page is sent to
   ``/login?next=<this address>`` (303); any other request from a browser
   gets 401 without a Basic challenge (no password prompt pops up over the
   page); scripts get 401 with ``WWW-Authenticate: Basic``, as always.

Routes with ``auth=None`` (health, assets, the sign-in page) skip 2 to 4.
Then the handler runs; our errors become JSON (or a page for browsers);
anything unexpected is logged with its traceback and answered 500
``{"error": "internal error"}``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from urllib.parse import quote, unquote, urlsplit

import bottle

from daemon.accesslog import USER_KEY, request_line
from daemon.auth import Authenticator, AuthError, NotSignedIn, require_admin
from daemon.responses import Pages, expected_fault, script_root, wants_html
from daemon.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    CSRF_KEY,
    Session,
    SessionStore,
    cookie_token,
    csrf_matches,
    has_cookie,
    is_https,
    set_cookie,
)
from jobgallery import db
from jobgallery.errors import JobGalleryError

log = logging.getLogger("daemon.guard")

USER, ADMIN = "user", "admin"
USER_RECORD = "jobgallery.user_record"
PENDING_CSRF = "jobgallery.csrf_pending"
SET_COOKIE = "jobgallery.set_cookie"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SAME_ORIGIN = ("same-origin", "none")
DEFAULT_PORTS = {"http": 80, "https": 443}
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_NEXT = 2000


class CrossSite(AuthError):
    status = 403


class CsrfRefused(AuthError):
    status = 403


CSRF_MESSAGE = "this page is out of date or the request did not come from it: reload the page and try again"


class Guard:
    """Bottle plugin: sign-in per the route's ``auth`` setting, then the handler, then error mapping."""

    name = "guard"
    api = 2

    def __init__(self, auth: Authenticator, sessions: SessionStore, pages: Pages) -> None:
        self.auth = auth
        self.sessions = sessions
        self.pages = pages

    def apply(self, callback: Callable, route: bottle.Route) -> Callable:
        level = route.config.get("auth", USER)
        form_csrf = route.config.get("csrf_in_form", False)

        @functools.wraps(callback)
        def guarded(*args, **kwargs):
            environ = bottle.request.environ
            try:
                self.admit(environ, level, form_csrf)
                return with_cookie(environ, callback(*args, **kwargs))
            except bottle.HTTPResponse as response:
                raise with_cookie(environ, response) from None
            except JobGalleryError as exc:
                headers = getattr(exc, "headers", None)
                return with_cookie(environ, self.pages.error(exc.status, str(exc), environ, headers))
            except Exception as exc:
                fault = expected_fault(exc)
                if fault is not None:
                    log.warning("answered %d to %s: %s", fault.status, request_line(environ), exc)
                    return self.pages.error(fault.status, fault.message, environ, fault.headers)
                log.exception("unexpected error answering %s", request_line(environ))
                return self.pages.error(500, "internal error", environ)

        return guarded

    def admit(self, environ: dict, level: str | None, form_csrf: bool) -> None:
        if cross_site(environ):
            raise CrossSite("requests from other sites are refused")
        if level is None:
            return
        user = self.sign_in(environ, form_csrf)
        environ[USER_KEY] = user.name
        environ[USER_RECORD] = user
        if level == ADMIN:
            require_admin(user)

    def sign_in(self, environ: dict, form_csrf: bool) -> db.User:
        """The user of the Basic header, else of the session cookie; raise when there is neither."""
        address = environ.get("REMOTE_ADDR", "-")
        header = environ.get("HTTP_AUTHORIZATION")
        if header:
            return self.auth.user(header, address)
        session = self.sessions.find(cookie_token(environ))
        if session is None:
            self.auth.refuse_if_throttled(address)
            raise sign_in_needed(environ)
        if environ["REQUEST_METHOD"] not in SAFE_METHODS:
            check_csrf(environ, session, form_csrf)
        environ[CSRF_KEY] = session.csrf_token
        if session.renewed:
            environ[SET_COOKIE] = set_cookie(session.token, self.sessions.max_age, is_https(environ))
        return session.user


def with_cookie(environ: dict, result: object) -> object:
    """The answer, with the renewed session cookie when the session's expiry just moved forward."""
    cookie = environ.get(SET_COOKIE)
    if cookie:
        target = result if isinstance(result, bottle.HTTPResponse) else bottle.response
        target.add_header("Set-Cookie", cookie)
    return result


def sign_in_needed(environ: dict) -> Exception:
    """What to answer a request without any sign-in (see the module docstring, step 4)."""
    if environ["REQUEST_METHOD"] in ("GET", "HEAD") and wants_html(environ):
        location = f"{script_root(environ)}/login?next={quote(here(environ), safe='')}"
        return bottle.HTTPResponse(status=303, Location=location, **{"Cache-Control": "no-store"})
    browser = wants_html(environ) or has_cookie(environ) or "HTTP_SEC_FETCH_MODE" in environ
    return NotSignedIn("sign in first: your session has ended or you are not signed in", challenge=not browser)


def here(environ: dict) -> str:
    """This request's path and query as a local address (WSGI strings are latin-1 stand-ins for bytes)."""
    path = quote((environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "/")).encode("latin-1", "replace"))
    query = environ.get("QUERY_STRING", "")
    return path + (f"?{quote(query.encode('latin-1', 'replace'), safe='=&%+')}" if query else "")


def local_next(value: str | None, root: str) -> str:
    """Where to go after signing in: ``value`` when it is a path on this site, else the upload form."""
    default = f"{root}/upload"
    if not value or len(value) > MAX_NEXT or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(not ch.isprintable() or ch.isspace() for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    path = normalised_path(parts.path)
    return default if path.startswith("//") or "\\" in path else value


def normalised_path(path: str) -> str:
    """``path`` as a browser or proxy may read it: percent-decoded (nested too) and dot segments removed.

    Why: ``/.//evil.com``, ``/..//evil.com`` and ``/%2e%2e//evil.com`` look local but become the
    scheme-relative ``//evil.com`` once a client or a proxy resolves them (RFC 3986, 5.2.4).
    """
    for _ in range(MAX_NEXT):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    kept: list[str] = []
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment in (".", ".."):
            if segment == ".." and kept:
                kept.pop()
            if last:
                kept.append("")
            continue
        kept.append(segment)
    return "/" + "/".join(kept)


# ---------------------------------------------------------------- CSRF


def check_csrf(environ: dict, session: Session, form_csrf: bool) -> None:
    """An unsafe request made with the cookie carries the session's CSRF token, or is refused (403)."""
    sent = environ.get(CSRF_HEADER)
    if sent is None:
        kind = bottle.request.content_type.split(";")[0].strip().lower()
        if kind == "multipart/form-data" and form_csrf:
            environ[PENDING_CSRF] = session
            return
        if kind in FORM_TYPES:
            sent = bottle.request.forms.get(CSRF_FIELD)
    if not csrf_matches(session, sent):
        raise CsrfRefused(CSRF_MESSAGE)


def require_form_csrf(environ: dict, sent: str) -> None:
    """For ``csrf_in_form`` routes, once the multipart form is read: its ``csrf_token`` field must match."""
    session = environ.pop(PENDING_CSRF, None)
    if session is not None and not csrf_matches(session, sent):
        raise CsrfRefused(CSRF_MESSAGE)


# ---------------------------------------------------------------- cross-site requests


def cross_site(environ: dict) -> bool:
    """A browser's post from another site (CSRF): Basic credentials would ride along, so refuse it.

    Browsers say where a request comes from in ``Sec-Fetch-Site`` and, on
    every POST, PUT, PATCH or DELETE, in ``Origin`` (older browsers send only
    that one); a page cannot forge either. Both must say "this site".
    Requests with neither (curl, scripts) carry no ambient credentials and pass.
    """
    if environ["REQUEST_METHOD"] in SAFE_METHODS:
        return False
    if environ.get("HTTP_SEC_FETCH_SITE", "none") not in SAME_ORIGIN:
        return True
    origin = environ.get("HTTP_ORIGIN")
    return origin is not None and not same_host(origin, environ.get("HTTP_HOST", ""))


def same_host(origin: str, host: str) -> bool:
    """Whether ``Origin`` (``scheme://host[:port]``; ``null`` never) names the ``Host`` this request went to.

    A Host without a port matches the origin's host on any port: Nginx's
    ``proxy_set_header Host $host`` passes the name alone, whatever port the
    site listens on. (Browsers that leave Origin to this check, having no
    Sec-Fetch-Site, would then take a page from another port of the same
    host for this site; the ones that send Sec-Fetch-Site call it same-site
    and are refused above.)
    """
    try:
        sent, target = urlsplit(origin), urlsplit(f"//{host}")
        if sent.scheme not in DEFAULT_PORTS or not sent.hostname or sent.path or sent.query or sent.username:
            return False
        if sent.hostname != target.hostname:
            return False
        return target.port is None or target.port == (sent.port or DEFAULT_PORTS[sent.scheme])
    except ValueError:
        return False
