"""A running daemon never builds with settings config.yaml no longer holds: real daemon, real builds."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import yaml
from daemon_support import basic, http, running_daemon
from maintenance_support import job_with_photos, run_cli

from jobgallery import db, users
from jobgallery.config import load_config

ADMIN = ("boss", "boss-password-1")


def wait_for_log(daemon, text: str) -> None:
    deadline = time.monotonic() + 20
    while text not in daemon.log():
        assert time.monotonic() < deadline, f"the daemon never logged {text!r}"
        time.sleep(0.2)


def test_after_public_index_is_switched_off_the_daemon_refuses_to_build_until_restarted(tmp_path):
    source = tmp_path / "config.yaml"
    source.write_text(yaml.safe_dump({"server": {"rebuild_delay_seconds": 0.2}}))
    config = load_config(str(source))
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *ADMIN, admin=True)
        job = job_with_photos(config, conn, count=1)
    assert run_cli(config, "build").returncode == 0
    public, private = (config.paths.output / job.gallery_path(flag) for flag in (True, False))
    with running_daemon(source) as daemon:
        wait_for_log(daemon, f"settings from {source.resolve()}")
        settings = yaml.safe_load(source.read_text())
        settings.setdefault("gallery", {})["public_index"] = False
        source.write_text(yaml.safe_dump(settings))
        assert run_cli(load_config(str(source)), "build").returncode == 0
        assert private.is_dir() and not public.exists()
        index = (config.paths.output / "index.html").read_text()
        form = {"Content-Type": "application/x-www-form-urlencoded", **basic(*ADMIN)}
        made = http("POST", f"{daemon.url}/admin/jobs/{job.id}/shares", urlencode({"days": "1"}).encode(), form)
        assert made.status == 303  # asks for a rebuild of the job at once
        wait_for_log(daemon, "changed since the daemon started; not building with the old settings: restart")
        assert private.is_dir() and not public.exists()
        status = run_cli(config, "status")
        assert status.returncode == 1 and "not building with the old settings" in status.stdout + status.stderr
        assert (config.paths.output / "index.html").read_text() == index
    with running_daemon(source) as daemon:
        token = made.header("location").rsplit("=", 1)[1]
        deadline = time.monotonic() + 20
        while http("GET", f"{daemon.url}/s/{token}/").status != 200:
            assert time.monotonic() < deadline, "the restarted daemon never built the new link's page"
            time.sleep(0.2)
        assert private.is_dir() and not public.exists()
