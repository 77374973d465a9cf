"""Signing in through ``/login`` in tests, over plain HTTP or in a browser page.

reply = sign_in(daemon.url, "crew", "crew-password-1")
headers = cookie(session_token(reply))           # {"Cookie": "jobgallery_session=..."}
page_headers = {**headers, "X-CSRF-Token": csrf_of(http("GET", daemon.url + "/upload", headers=headers))}

sign_in_page(page, daemon.url, {"username": "crew", "password": "crew-password-1"})
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from daemon_support import Reply, http

COOKIE = "jobgallery_session"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def sign_in(url: str, name: str, password: str, headers: dict[str, str] | None = None, next_path: str = "") -> Reply:
    """POST the sign-in form (with ``next`` when given); the reply itself, redirects not followed."""
    fields = {"username": name, "password": password, **({"next": next_path} if next_path else {})}
    return http("POST", url + "/login", urlencode(fields).encode(), {**FORM, **(headers or {})})


def session_token(reply: Reply) -> str:
    """The session token a sign-in's ``Set-Cookie`` carries."""
    values = [value for value in reply.header_values("set-cookie") if value.startswith(COOKIE + "=")]
    assert len(values) == 1, reply.header_list
    return values[0].split(";", 1)[0].split("=", 1)[1]


def cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={token}"}


def csrf_of(page: Reply) -> str:
    """The CSRF token a page of the daemon carries in ``<meta name="csrf-token">``."""
    found = re.search(r'<meta name="csrf-token" content="([^"]*)">', page.text)
    assert found, page.text[:300]
    return found.group(1)


def sign_in_page(page, url: str, credentials: dict[str, str], next_path: str = "") -> None:
    """Sign in through the form in a Playwright page; the page ends where the daemon sent it."""
    page.goto(url + "/login" + (f"?{urlencode({'next': next_path})}" if next_path else ""))
    page.fill("#username", credentials["username"])
    page.fill("#password", credentials["password"])
    with page.expect_navigation():
        page.click("button.go")
