"""The sign-in page: ``GET /login`` (the form), ``POST /login`` (starts a session), ``POST /logout``.

| route        | answer                                                                  |
|--------------|-------------------------------------------------------------------------|
| GET  /login  | the form (``templates/login.html``); 303 to ``next`` when signed in     |
| POST /login  | ``username``, ``password``, optional ``next`` (a local path): 303 to    |
|              | ``next`` (default ``/upload``) with the session cookie; 401 and the     |
|              | form again on a wrong password; 429 with ``Retry-After`` when throttled |
| POST /logout | ends the session (CSRF token required), clears the cookie, 303 /login  |

The password check is the one HTTP Basic uses (``Authenticator.verify``):
the same throttle per address and network, the same cache, the same limit
on concurrent scrypt checks. Posts from other sites are refused by the guard
before these handlers run (no signing a phone into someone else's account).
"""

from __future__ import annotations

import logging

import bottle

from daemon.auth import Authenticator, Credentials, NotSignedIn, TooManyAttempts
from daemon.guard import CSRF_MESSAGE, CsrfRefused, local_next
from daemon.responses import Pages, script_root, sentence
from daemon.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    SessionStore,
    clear_cookie,
    cookie_token,
    csrf_matches,
    is_https,
    set_cookie,
)

log = logging.getLogger("daemon.signin")

WRONG = "Wrong user name or password."


def redirect(location: str) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(status=303, Location=location, **{"Cache-Control": "no-store"})


class SignIn:
    """The handlers of the sign-in page, with the password check and the session store they share."""

    def __init__(self, auth: Authenticator, sessions: SessionStore, pages: Pages) -> None:
        self.auth = auth
        self.sessions = sessions
        self.pages = pages

    def install(self, app: bottle.Bottle) -> None:
        app.route("/login", "GET", self.form, auth=None)
        app.route("/login", "POST", self.sign_in, auth=None)
        app.route("/logout", "POST", self.sign_out, auth=None)

    def form(self) -> bottle.HTTPResponse:
        environ = bottle.request.environ
        target = local_next(bottle.request.query.getunicode("next"), script_root(environ))
        if self.sessions.find(cookie_token(environ)) is not None:
            return redirect(target)
        return self.page(200, target)

    def page(
        self, status: int, target: str, name: str = "", message: str = "", headers: dict | None = None
    ) -> bottle.HTTPResponse:
        root = script_root(bottle.request.environ)
        days = self.sessions.lifetime.days
        body = self.pages.render("login.html", root, next=target, username=name, message=message, session_days=days)
        return self.pages.page_response(status, body, headers)

    def sign_in(self) -> bottle.HTTPResponse:
        environ = bottle.request.environ
        forms = bottle.request.forms
        name = (forms.getunicode("username") or "").strip()
        password = forms.getunicode("password") or ""
        target = local_next(forms.getunicode("next"), script_root(environ))
        address = environ.get("REMOTE_ADDR", "-")
        try:
            user = self.auth.verify(Credentials(name, password), address)
        except TooManyAttempts as exc:
            return self.page(429, target, name, sentence(str(exc)), exc.headers)
        except NotSignedIn:
            log.info("sign-in refused: %r from %s", name[:64], address)
            return self.page(401, target, name, WRONG)
        session = self.sessions.start(user, address, environ.get("HTTP_USER_AGENT", ""))
        log.info("signed in: %s from %s", user.name, address)
        response = redirect(target)
        response.add_header("Set-Cookie", set_cookie(session.token, self.sessions.max_age, is_https(environ)))
        return response

    def sign_out(self) -> bottle.HTTPResponse:
        environ = bottle.request.environ
        session = self.sessions.find(cookie_token(environ))
        if session is not None:
            sent = environ.get(CSRF_HEADER) or bottle.request.forms.get(CSRF_FIELD)
            if not csrf_matches(session, sent):
                raise CsrfRefused(CSRF_MESSAGE)
            self.sessions.end(session)
            log.info("signed out: %s", session.user.name)
        response = redirect(f"{script_root(environ)}/login")
        response.add_header("Set-Cookie", clear_cookie(is_https(environ)))
        return response
