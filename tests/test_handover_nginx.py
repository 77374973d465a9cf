"""Share links and zips behind the shipped Nginx site: real nginx, a real daemon, real builds."""

from __future__ import annotations

import io
import subprocess
import time
import zipfile

import pytest
import yaml
from conftest import free_port, require_binary
from daemon_support import basic, http, running_daemon
from maintenance_support import job_with_photos, run_cli
from test_nginx import nginx_args, running_nginx, write_config

from jobgallery import clean_copy, db, users
from jobgallery.config import load_config

pytestmark = pytest.mark.nginx
ADMIN = ("boss", "boss-password-1")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A built site with two jobs, the daemon (not serving output/ itself, expiry checked every 2 s), nginx."""
    nginx = require_binary("nginx")
    folder = tmp_path_factory.mktemp("handover-nginx")
    settings = {"server": {"serve_output": False}, "maintenance": {"interval_seconds": 2}}
    (folder / "config.yaml").write_text(yaml.safe_dump(settings))
    config = load_config(str(folder / "config.yaml"))
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *ADMIN, admin=True)
        roof = job_with_photos(config, conn, count=2, title="Roof, 12 Elm St")
        other = job_with_photos(config, conn, count=1, title="Kitchen, 3 Oak Ave", seed=20)
    assert run_cli(config, "build").returncode == 0
    with running_daemon(folder / "config.yaml") as daemon:
        prefix, port = folder / "nginx", free_port()
        conf = write_config(prefix, config.paths.output, port, daemon.port)
        assert subprocess_ok([*nginx_args(nginx, prefix, conf), "-t"])
        with running_nginx(nginx, prefix, conf, port) as url:
            yield {"url": url, "config": config, "roof": roof, "other": other, "daemon": daemon}


def subprocess_ok(command: list[str]) -> bool:
    return subprocess.run(command, capture_output=True).returncode == 0


def share(stack, *args: str) -> str:
    result = run_cli(stack["config"], "share", "add", str(stack["roof"].id), *args)
    assert result.returncode == 0, result.stderr
    return "/" + result.stdout.strip()


def test_a_share_answers_with_the_jobs_photos_and_no_other_job(stack):
    path = share(stack)
    page = http("GET", stack["url"] + path)
    assert page.status == 200 and page.header("cache-control") == "no-cache"
    assert "Roof, 12 Elm St" in page.text and "Kitchen" not in page.text
    assert page.text.count("<img ") == 2
    zipped = http("GET", stack["url"] + path + clean_copy.zip_name(stack["roof"].slug))
    assert zipped.status == 200 and int(zipped.header("content-length")) == len(zipped.body)
    assert len(zipfile.ZipFile(io.BytesIO(zipped.body)).namelist()) == 2
    assert http("GET", stack["url"] + path + clean_copy.zip_name(stack["other"].slug)).status == 404


def test_after_revoke_it_answers_404_at_once_through_nginx(stack):
    path = share(stack)
    zip_path = path + clean_copy.zip_name(stack["roof"].slug)
    assert http("GET", stack["url"] + path).status == 200
    token = path.strip("/").split("/")[1]
    assert run_cli(stack["config"], "share", "revoke", token).returncode == 0
    for address in (path, path + "index.html", zip_path):
        assert http("GET", stack["url"] + address).status == 404, address


def test_an_expired_link_answers_404_after_the_daemons_next_check(stack):
    path = share(stack, "--days", "0.00004")  # about 3.5 s
    assert http("GET", stack["url"] + path).status == 200
    time.sleep(4)
    assert http("GET", stack["url"] + path + clean_copy.zip_name(stack["roof"].slug)).status == 404
    deadline = time.monotonic() + 20
    while http("GET", stack["url"] + path).status != 404:
        assert time.monotonic() < deadline, "the daemon's expiry check never removed the page"
        time.sleep(0.5)
    assert "share-expiry" in stack["daemon"].log()


def test_the_job_pages_zip_passes_through_unbuffered(stack):
    page = http("GET", stack["url"] + "/" + stack["roof"].gallery_path())
    assert f'href="{clean_copy.zip_name(stack["roof"].slug)}"' in page.text
    reply = http("GET", stack["url"] + "/" + stack["roof"].gallery_path() + clean_copy.zip_name(stack["roof"].slug))
    assert reply.status == 200 and reply.header("content-type") == "application/zip"
    assert reply.header("x-accel-buffering") is None  # for Nginx only, not passed on
    assert int(reply.header("content-length")) == len(reply.body)
    assert reply.header("x-content-type-options") == "nosniff"


def test_the_admin_share_page_works_behind_nginx_and_links_to_the_office(stack):
    roof, url = stack["roof"], stack["url"]
    office = http("GET", f"{url}/admin/jobs", headers=basic(*ADMIN))
    assert office.status == 200 and f'href="/admin/jobs/{roof.id}/shares"' in office.text
    page_url = f"{url}/admin/jobs/{roof.id}/shares"
    page = http("GET", page_url, headers=basic(*ADMIN))
    assert page.status == 200 and "Share links: Roof, 12 Elm St" in page.text
    assert f'href="/admin/jobs#job-{roof.id}"' in page.text
    form = {"Content-Type": "application/x-www-form-urlencoded", **basic(*ADMIN)}
    made = http("POST", page_url, b"days=2&note=for+the+insurer", form)
    assert made.status == 303 and made.header("location").startswith(f"/admin/jobs/{roof.id}/shares?created=")
    token = made.header("location").rsplit("=", 1)[1]
    listed = http("GET", page_url, headers=basic(*ADMIN))
    assert f'<a href="http://127.0.0.1:{url.rsplit(":", 1)[1]}/s/{token}/">' in listed.text
    deadline = time.monotonic() + 20
    while http("GET", f"{url}/s/{token}/").status != 200:
        assert time.monotonic() < deadline, "the new link's page was never built"
        time.sleep(0.3)
    revoked = http("POST", f"{page_url}/{token}/revoke", b"", form)
    assert revoked.status == 303 and http("GET", f"{url}/s/{token}/").status == 404
    assert http("GET", page_url).status in (302, 303, 401)
