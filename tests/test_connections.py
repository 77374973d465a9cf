"""Idle and slow connections cannot take the daemon off the air.

waitress holds at most ``server.connection_limit`` connections; with its
own default (100) 101 idle sockets stopped it accepting, so ``/healthz``
timed out. Here 200 slow clients (idle, cut-off headers, trickling bodies)
stay connected while a health check and a real upload are answered, and an
idle socket is closed after ``server.channel_timeout_seconds``. The same
with Nginx in front is in ``tests/test_nginx.py``.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import photos
from connection_support import slow_connections
from daemon_support import FilePart, basic, http, running_daemon, upload

from jobgallery import db, users

SLOW_CLIENTS = 200
CREW = ("crew", "crew-password-1")


def test_two_hundred_slow_connections_leave_room_for_health_checks_and_uploads(make_config, instance: Path) -> None:
    config = make_config()
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *CREW, admin=False)
        job = db.create_job(conn, "Busy line")
        with running_daemon(instance / "config.yaml") as daemon:
            with slow_connections(daemon.port, SLOW_CLIENTS):
                started = time.monotonic()
                health = http("GET", daemon.url + "/healthz", timeout=10)
                waited = time.monotonic() - started
                part = FilePart("IMG_0001.jpg", photos.jpeg_bytes(640, 480, seed=3), content_type="image/jpeg")
                stored = upload(f"{daemon.url}/api/jobs/{job.id}/images", [part], basic(*CREW))
            assert health.status == 200 and health.json() == {"status": "ok"}
            assert waited < 5, f"/healthz took {waited:.1f} s beside {SLOW_CLIENTS} slow clients"
            assert stored.status == 201, stored.body
        assert len(db.list_images(conn, job.id)) == 1


def test_an_idle_connection_is_closed_after_the_channel_timeout(make_config, instance: Path) -> None:
    make_config(**{"server.channel_timeout_seconds": 2})
    with running_daemon(instance / "config.yaml") as daemon:
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as idle:
            started = time.monotonic()
            assert idle.recv(1) == b""
            closed_after = time.monotonic() - started
        assert 1.5 <= closed_after < 6, f"closed after {closed_after:.1f} s"
        assert http("GET", daemon.url + "/healthz").status == 200
