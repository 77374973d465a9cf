"""Many slow clients at once: idle sockets, request lines cut off, bodies that trickle in.

``slow_connections(port, count)`` opens ``count`` connections to
127.0.0.1:port and keeps them busy for the block: a third say nothing, a
third stop half-way through their headers and a third announce a 1 MB body
and send it a byte at a time (every ``TRICKLE_SECONDS``, on a thread), as
a slowloris would. Every socket is closed when the block ends.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

TRICKLE_SECONDS = 0.5
CUT_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
SLOW_BODY = (
    b"POST /api/jobs/1/images HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 1000000\r\n\r\n"
)


def open_slow(port: int, index: int) -> tuple[socket.socket, bool]:
    """One slow client; returns the socket and whether it should trickle."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    kind = index % 3
    if kind == 1:
        sock.sendall(CUT_HEADERS)
    elif kind == 2:
        sock.sendall(SLOW_BODY + b"x")
    return sock, kind != 0


@contextlib.contextmanager
def slow_connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    opened: list[tuple[socket.socket, bool]] = []
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(TRICKLE_SECONDS):
            for sock, slow in opened:
                if slow:
                    with contextlib.suppress(OSError):
                        sock.send(b"x")

    thread = threading.Thread(target=trickle, daemon=True)
    try:
        for index in range(count):
            opened.append(open_slow(port, index))
        thread.start()
        yield [sock for sock, _ in opened]
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(timeout=5)
        for sock, _ in opened:
            sock.close()
