"""Starting and stopping ``jobgallery serve``: the first admin, the banner, signals mid-upload."""

from __future__ import annotations

import errno
import signal
import socket
import subprocess
import time
from pathlib import Path

import photos
import pytest
from conftest import cli_command
from daemon_support import FilePart, basic, http, multipart, running_daemon, stored_files

from daemon.server import StopSignal
from jobgallery import db, storage, users


@pytest.fixture
def config_path(make_config, instance: Path) -> Path:
    make_config()
    return instance / "config.yaml"


# ---------------------------------------------------------------- first start


def test_first_start_creates_an_admin_and_prints_its_password_once(config_path: Path, config) -> None:
    with running_daemon(config_path) as daemon:
        banner = daemon.stdout()
        name = banner.split("user:", 1)[1].split()[0]
        password = banner.split("password:", 1)[1].split()[0]
        assert f"Upload form: {daemon.url}/upload" in banner and f"Gallery:     {daemon.url}/" in banner
        page = http("GET", daemon.url + "/upload", headers=basic(name, password))
        assert page.status == 200
        assert (
            "There are no jobs yet" in page.text and "Create the first job" in page.text and 'name="title"' in page.text
        )
        with db.open_db(config.db_path) as conn:
            users.add_user(conn, "crew", "crew-password-1", admin=False)
        crew_page = http("GET", daemon.url + "/upload", headers=basic("crew", "crew-password-1")).text
        assert "ask your admin to create a job" in crew_page and 'name="title"' not in crew_page
    with running_daemon(config_path) as daemon:
        assert "password" not in daemon.stdout() and "Upload form:" in daemon.stdout()


def test_a_port_in_use_is_a_one_line_error(config_path: Path) -> None:
    with running_daemon(config_path) as daemon:
        second = subprocess.run(
            [*cli_command(), "--config", str(config_path), "serve"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 1
        assert second.stderr.strip() == (
            f"jobgallery: cannot listen on 127.0.0.1:{daemon.port}: Address already in use"
        )


def test_behind_nginx_the_banner_points_at_output(make_config, instance: Path, config) -> None:
    make_config(server__serve_output=False)
    with running_daemon(instance / "config.yaml") as daemon:
        assert f"Gallery:     served by Nginx from {config.paths.output}" in daemon.stdout()
        assert http("GET", daemon.url + "/").status == 404


def test_an_unexpected_error_is_logged_with_its_traceback_and_answered_500(config_path: Path, config) -> None:
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, "crew", "crew-password-1", admin=False)
    with running_daemon(config_path) as daemon:
        assert http("GET", daemon.url + "/api/jobs", headers=basic("crew", "crew-password-1")).status == 200
        with db.open_db(config.db_path) as conn:
            conn.execute("ALTER TABLE job RENAME TO job_moved")  # the daemon's next query fails unexpectedly
        reply = http("GET", daemon.url + "/api/jobs", headers=basic("crew", "crew-password-1"))
        assert reply.status == 500 and reply.json() == {"error": "internal error"}
        assert "Traceback (most recent call last)" in daemon.log() and "no such table: job" in daemon.log()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_idle_daemon_stops_with_exit_0(config_path: Path, sig: int) -> None:
    with running_daemon(config_path) as daemon:
        started = time.monotonic()
        assert daemon.stop(sig) == 0
        assert time.monotonic() - started < 5
        assert "stopped" in daemon.log()


def test_a_signal_after_the_event_loop_closed_is_counted_not_fatal() -> None:
    """A second SIGTERM while the scheduler stops used to write to the closed wake-up pipe: exit 1, not 0."""

    def closed_pipe() -> None:
        raise OSError(errno.EBADF, "Bad file descriptor")

    stop = StopSignal(closed_pipe)
    stop(signal.SIGTERM, None)
    stop(signal.SIGTERM, None)
    assert stop.count == 2 and stop.names == ["SIGTERM", "SIGTERM"]


# ---------------------------------------------------------------- a signal during an upload


def half_sent_upload(port: int, job_id: int, data: bytes) -> tuple[socket.socket, bytes]:
    """Open a connection and send the headers and half the body of an upload; return it and the rest."""
    headers, body = multipart([("description", "mid-stop")], [FilePart("photo.jpg", data)])
    head = (
        f"POST /api/jobs/{job_id}/images HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {basic('crew', 'crew-password-1')['Authorization']}\r\n"
        f"Content-Type: {headers['Content-Type']}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.sendall(head.encode() + body[: len(body) // 2])
    return sock, body[len(body) // 2 :]


def read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def crew_job(config) -> db.Job:
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, "crew", "crew-password-1", admin=False)
        return db.create_job(conn, "Stopping")


def test_sigterm_during_an_upload_lets_it_finish(config_path: Path, config, crew_job: db.Job) -> None:
    data = photos.jpeg_bytes(1600, 1200, seed=1, quality=95)
    with running_daemon(config_path) as daemon:
        sock, rest = half_sent_upload(daemon.port, crew_job.id, data)
        with sock:
            time.sleep(0.3)
            daemon.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert daemon.process.poll() is None, "the daemon must wait for the upload in flight"
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", daemon.port), timeout=5).close()
            sock.sendall(rest)
            answer = read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
        assert daemon.stop() == 0
    with db.open_db(config.db_path) as conn:
        rows = db.list_images(conn, crew_job.id)
    assert [row.description for row in rows] == ["mid-stop"]
    assert stored_files(config.paths.data) == [f"job_{crew_job.id}/{rows[0].filename}"]


def test_sigterm_during_an_upload_whose_client_goes_away_stores_nothing(
    config_path: Path, config, crew_job: db.Job
) -> None:
    data = photos.jpeg_bytes(1600, 1200, seed=2, quality=95)
    with running_daemon(config_path) as daemon:
        sock, _ = half_sent_upload(daemon.port, crew_job.id, data)
        time.sleep(0.3)
        daemon.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        sock.close()
        started = time.monotonic()
        assert daemon.stop() == 0
        assert time.monotonic() - started < 5
    with db.open_db(config.db_path) as conn:
        assert db.list_images(conn, crew_job.id) == []
    assert stored_files(config.paths.data) == []


def test_a_daemon_killed_mid_upload_leaves_nothing_once_running_again(
    config_path: Path, config, crew_job: db.Job
) -> None:
    data = photos.jpeg_bytes(1600, 1200, seed=3, quality=95)
    folder = config.paths.data / "images" / f"job_{crew_job.id}"
    with running_daemon(config_path) as daemon:
        sock, _ = half_sent_upload(daemon.port, crew_job.id, data)
        with sock:
            time.sleep(0.3)
            daemon.send_signal(signal.SIGKILL)
            daemon.process.wait(10)
            daemon.exit_status = daemon.process.returncode
        # The kill may have caught an ingest between its temp file and its row: leave such a file.
        (storage.ensure_dir(folder) / f".tmp-{daemon.process.pid}-0123456789ab").write_bytes(data[: len(data) // 2])
    with running_daemon(config_path):
        assert stored_files(config.paths.data) == []
    with db.open_db(config.db_path) as conn:
        assert db.list_images(conn, crew_job.id) == []
