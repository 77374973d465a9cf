"""The admin's share page, ``/admin/jobs/<id>/shares``, against a real daemon serving output/ itself."""

from __future__ import annotations

import re
import time
from urllib.parse import urlencode

import pytest
import yaml
from daemon_support import basic, http, running_daemon
from maintenance_support import job_with_photos, run_cli

from jobgallery import db, users
from jobgallery.config import load_config

ADMIN, CREW = ("boss", "boss-password-1"), ("crew", "crew-password-1")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("share-admin")
    (folder / "config.yaml").write_text(yaml.safe_dump({"server": {"rebuild_delay_seconds": 0.2}}))
    config = load_config(str(folder / "config.yaml"))
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *ADMIN, admin=True)
        users.add_user(conn, *CREW, admin=False)
        job = job_with_photos(config, conn, count=2)
        assert run_cli(config, "build").returncode == 0
        with running_daemon(folder / "config.yaml") as daemon:
            yield daemon, config, conn, job


def post(url: str, fields: dict, who=ADMIN):
    return http("POST", url, urlencode(fields).encode(), {**FORM, **basic(*who)})


def wait_for(url: str, status: int) -> None:
    deadline = time.monotonic() + 15
    while http("GET", url).status != status:
        assert time.monotonic() < deadline, f"{url} never answered {status}"
        time.sleep(0.1)


def test_an_admin_makes_lists_and_revokes_a_link(site):
    daemon, _, conn, job = site
    page_url = f"{daemon.url}/admin/jobs/{job.id}/shares"
    made = post(page_url, {"days": "3", "note": "for the inspector"})
    assert made.status == 303 and "created=" in made.header("location")
    token = made.header("location").split("created=")[1]
    page = http("GET", page_url, headers=basic(*ADMIN))
    assert page.status == 200 and f"/s/{token}/" in page.text and "for the inspector" in page.text
    wait_for(f"{daemon.url}/s/{token}/", 200)
    assert db.get_share(conn, token).expires_at is not None
    revoked = post(f"{page_url}/{token}/revoke", {})
    assert revoked.status == 303
    assert http("GET", f"{daemon.url}/s/{token}/").status == 404  # gone before the answer
    assert re.search(
        rf"/s/{token}/</span>\s*</td>\s*<td>for the inspector", http("GET", page_url, headers=basic(*ADMIN)).text
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"days": "-2"}, "between 0"),
        ({"days": "soon"}, "number"),
        ({"until": "2001-01-01"}, "in the past"),
        ({"until": "31/12/2099"}, "YYYY-MM-DD"),
        ({"until": "9999-12-31"}, "at most 3650 days"),
        ({"until": "0001-01-01"}, "in the past"),
        ({"until": "10000-01-01"}, "YYYY-MM-DD"),
        ({"days": "1e308"}, "between 0"),
        ({"days": "inf"}, "between 0"),
        ({"days": "nan"}, "between 0"),
        ({"note": "a\x00b"}, "control characters"),
    ],
)
def test_bad_forms_get_400_and_store_nothing(site, fields, message):
    daemon, _, conn, job = site
    before = len(db.list_shares(conn, job.id))
    reply = post(f"{daemon.url}/admin/jobs/{job.id}/shares", fields)
    assert reply.status == 400 and message in reply.json()["error"]
    assert len(db.list_shares(conn, job.id)) == before


def test_crews_and_strangers_are_kept_out(site):
    daemon, _, _, job = site
    url = f"{daemon.url}/admin/jobs/{job.id}/shares"
    assert http("GET", url, headers=basic(*CREW)).status == 403
    assert post(url, {"days": "1"}, who=CREW).status == 403
    assert http("GET", url).status == 401
    cross = http("POST", url, b"days=1", {**FORM, **basic(*ADMIN), "Origin": "https://evil.example"})
    assert cross.status == 403
    assert http("GET", f"{daemon.url}/admin/jobs/999/shares", headers=basic(*ADMIN)).status == 404
    assert post(f"{url}/{'0' * 32}/revoke", {}).status == 404
