"""One SQLite connection per server thread, with a short busy timeout.

A connection carries its transaction state, so two threads sharing one
would interleave their ``BEGIN IMMEDIATE`` blocks. Each waitress worker
thread (a fixed, small number) opens its own on first use and keeps it.

CLI commands wait up to 30 s for a database another process is writing
(``db.BUSY_TIMEOUT_MS``); a request must not: while it waits it holds one
of the few worker threads, and a lock held for minutes would starve them
all. So after opening (and migrating, with the long timeout) each
connection waits only ``server.busy_timeout_seconds``; then SQLite raises
SQLITE_BUSY and the request is answered 503 with ``Retry-After``.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from jobgallery import db


class ThreadConnections:
    """Hands each thread its own connection to ``path``; ``close_all`` at shutdown."""

    def __init__(self, path: Path, busy_timeout_seconds: float = db.BUSY_TIMEOUT_MS / 1000) -> None:
        self.path = path
        self.busy_timeout_ms = max(1, round(busy_timeout_seconds * 1000))
        self.local = threading.local()
        self.opened: list[sqlite3.Connection] = []
        self.lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = db.connect(self.path)
            conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
            self.local.conn = conn
            with self.lock:
                self.opened.append(conn)
        return conn

    def close_all(self) -> None:
        with self.lock:
            opened, self.opened = self.opened, []
        for conn in opened:
            conn.close()
