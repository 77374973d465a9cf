"""One-time sign-in links for a crew member's phone: ``/login/link/<token>`` (``jobgallery/signin_links.py``).

| route                  | answer                                                              |
|------------------------|---------------------------------------------------------------------|
| GET  /login/link/<t>   | a page with one button, "Sign in as NAME"; 404 page when it is used |
|                        | up, expired or unknown                                              |
| POST /login/link/<t>   | uses the link: 303 to the upload form with the session cookie       |

The GET changes nothing, so a messaging app that fetches the link to show
a preview does not use it up; the phone's owner presses the button. Posts
from other sites are refused by the guard, as on ``/login``.
"""

from __future__ import annotations

import logging

import bottle

from daemon.connections import ThreadConnections
from daemon.responses import Pages, script_root
from daemon.sessions import SessionStore, is_https, set_cookie
from jobgallery import signin_links
from jobgallery.errors import NotFound

log = logging.getLogger("daemon.signin_link")

TOKEN = "re:[A-Za-z0-9_-]{43}"
USED_UP = "this sign-in link was used already, has expired or was never made; ask the office for a new one"


class LinkSignIn:
    def __init__(self, connections: ThreadConnections, sessions: SessionStore, pages: Pages) -> None:
        self.connections = connections
        self.sessions = sessions
        self.pages = pages

    def install(self, app: bottle.Bottle) -> None:
        app.route(f"/login/link/<token:{TOKEN}>", "GET", self.page, auth=None)
        app.route(f"/login/link/<token:{TOKEN}>", "POST", self.use, auth=None)

    def page(self, token: str) -> bottle.HTTPResponse:
        name = signin_links.holder(self.connections.get(), token)
        if name is None:
            raise NotFound(USED_UP)
        root = script_root(bottle.request.environ)
        body = self.pages.render("login_link.html", root, name=name, action=f"{root}/login/link/{token}")
        return self.pages.page_response(200, body)

    def use(self, token: str) -> bottle.HTTPResponse:
        environ = bottle.request.environ
        user = signin_links.redeem(self.connections.get(), token)
        if user is None:
            raise NotFound(USED_UP)
        session = self.sessions.start(user, environ.get("REMOTE_ADDR", "-"), environ.get("HTTP_USER_AGENT", ""))
        log.info("signed in with a one-time link: %s from %s", user.name, environ.get("REMOTE_ADDR", "-"))
        root = script_root(environ)
        response = bottle.HTTPResponse(status=303, Location=f"{root}/upload", **{"Cache-Control": "no-store"})
        response.add_header("Set-Cookie", set_cookie(session.token, self.sessions.max_age, is_https(environ)))
        return response
