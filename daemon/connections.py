"""One SQLite connection per server thread.

A connection carries its transaction state, so two threads sharing one
would interleave their ``BEGIN IMMEDIATE`` blocks. Each waitress worker
thread (a fixed, small number) opens its own on first use and keeps it.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from jobgallery import db


class ThreadConnections:
    """Hands each thread its own connection to ``path``; ``close_all`` at shutdown."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.local = threading.local()
        self.opened: list[sqlite3.Connection] = []
        self.lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = db.connect(self.path)
            self.local.conn = conn
            with self.lock:
                self.opened.append(conn)
        return conn

    def close_all(self) -> None:
        with self.lock:
            opened, self.opened = self.opened, []
        for conn in opened:
            conn.close()
