"""Who the client is: ``X-Forwarded-For`` and ``X-Forwarded-Proto`` believed from trusted proxies only.

Behind Nginx every request comes from 127.0.0.1, so the sign-in throttle
needs the client's address from ``X-Forwarded-For``, and the session cookie
needs to know from ``X-Forwarded-Proto`` whether the phone used HTTPS. Any
client can send those headers, so they count only when the peer (the TCP
connection's address) is one of ``server.trusted_proxies``: ``auto`` means
none when the daemon faces clients itself (``server.serve_output: true``)
and 127.0.0.1 behind Nginx; else a comma-separated list of addresses or
networks, or ``none``. From anyone else both headers are dropped, so a
local user or an SSH tunnel cannot pick a fresh address per guess.

Nginx's ``$proxy_add_x_forwarded_for`` appends the address it saw to what
the client sent, so only the last entry is the proxy's own word.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

from jobgallery.config import Config, trusted_proxies

PEER_KEY = "jobgallery.peer"
FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO")
SCHEMES = ("http", "https")

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_trusted(peer: str, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in networks)


def last_address(header: str) -> str | None:
    """The last entry of ``X-Forwarded-For`` when it is an IP address, normalised; else None."""
    entry = header.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(entry))
    except ValueError:
        return None


class ForwardedFor:
    """WSGI middleware: ``REMOTE_ADDR`` and ``wsgi.url_scheme`` as a trusted proxy saw them.

    The peer's own address stays in ``environ["jobgallery.peer"]``; the
    forwarded headers never reach the app.
    """

    def __init__(self, app: WSGIApp, config: Config) -> None:
        self.app = app
        self.networks = trusted_proxies(config)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        peer = environ.get("REMOTE_ADDR", "")
        forwarded_for, proto = (environ.pop(name, None) for name in FORWARDED_HEADERS)
        environ[PEER_KEY] = peer
        if is_trusted(peer, self.networks):
            client = last_address(forwarded_for or "")
            if client is not None:
                environ["REMOTE_ADDR"] = client
            scheme = (proto or "").strip().lower()
            if scheme in SCHEMES:
                environ["wsgi.url_scheme"] = scheme
        return self.app(environ, start_response)
