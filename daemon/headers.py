"""The security headers on every answer of the daemon, the same set Nginx adds to the static site.

In dev mode (``server.serve_output``, the shipped default) there is no Nginx
in front: the daemon's pages, its errors and the ``output/`` files it serves
need the Content Security Policy and the rest as much as Nginx's answers do.
``SECURITY_HEADERS`` is ``nginx/jobgallery-headers.conf`` in Python (a test
compares the two, so they cannot drift apart); ``SecurityHeaders`` puts it
on every answer that passes through the WSGI stack, and the server's own
refusals (413 before reading the body) take it from here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
        "img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(self)"),
)
NAMES = frozenset(name.lower() for name, _ in SECURITY_HEADERS)

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def with_security_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` with ours in place of any of the same name (no header twice)."""
    return [(name, value) for name, value in headers if name.lower() not in NAMES] + list(SECURITY_HEADERS)


class SecurityHeaders:
    """WSGI middleware: every answer of ``app`` carries ``SECURITY_HEADERS``, errors included."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        def start(status: str, headers: list, exc_info=None):
            return start_response(status, with_security_headers(headers), exc_info)

        return self.app(environ, start)
