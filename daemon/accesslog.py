"""One log line per request, and the last line of defence against a traceback reaching a client.

The line: client address, user (``-`` when not signed in), method and
path, status, response size and time taken, e.g.
``10.0.0.7 crew "POST /api/jobs/3/images" 201 154B 0.412s``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable

log = logging.getLogger("daemon.access")

USER_KEY = "jobgallery.user"
WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
ErrorBody = Callable[[int, str, dict], tuple[str, bytes]]


def printable(text: str) -> str:
    """Client-chosen text for a log line: a decoded ``%0a`` in a path must not start a fake line."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


def request_line(environ: dict) -> str:
    path = environ.get("PATH_INFO", "/").encode("latin-1", "replace").decode("utf-8", "replace")
    return printable(f"{environ.get('REQUEST_METHOD', '-')} {environ.get('SCRIPT_NAME', '')}{path}")


class AccessLog:
    """WSGI middleware that logs every request once it has been answered."""

    def __init__(self, app: WSGIApp, error_body: ErrorBody) -> None:
        self.app = app
        self.error_body = error_body

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.monotonic()
        seen: dict[str, str] = {}

        def capture(status: str, headers: list, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            seen["length"] = next((v for k, v in headers if k.lower() == "content-length"), "-")
            return start_response(status, headers, exc_info)

        try:
            result = self.app(environ, capture)
        except Exception:
            log.exception("unexpected error answering %s", request_line(environ))
            content_type, body = self.error_body(500, "internal error", environ)
            headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
            capture("500 Internal Server Error", headers, sys.exc_info())
            result = [body]
        log.info(
            '%s %s "%s" %s %sB %.3fs',
            environ.get("REMOTE_ADDR", "-"),
            environ.get(USER_KEY, "-"),
            request_line(environ),
            seen.get("status", "-"),
            seen.get("length", "-"),
            time.monotonic() - started,
        )
        return result
