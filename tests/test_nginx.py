"""The shipped Nginx site, run for real: headers, caching, gzip, dotfiles, the proxied daemon, 413, CSP in Chromium.

nginx runs as an ordinary process with its own prefix on a free loopback
port; the site file is the shipped one with only its paths and ports
substituted (each substitution must match, so a change to the shipped file
that breaks it fails here).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import photos
import pytest
import yaml
from conftest import free_port, require_binary
from connection_support import slow_connections
from daemon_support import FilePart, basic, http, running_daemon, upload
from maintenance_support import job_with_photos, run_cli
from session_support import sign_in, sign_in_page

from jobgallery import db, users
from jobgallery.config import SETTINGS_BY_KEY, load_config

pytestmark = pytest.mark.nginx

REPO = Path(__file__).resolve().parent.parent
SITE = REPO / "nginx" / "jobgallery.conf"
HEADERS = REPO / "nginx" / "jobgallery-headers.conf"
PROXY = REPO / "nginx" / "jobgallery-proxy.conf"
LIMIT_MB = SETTINGS_BY_KEY["server.max_upload_mb"].default

WRAPPER = """{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {site};
}}
"""


def substituted(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        assert text.count(old) >= 1, f"the shipped config no longer contains {old!r}"
        text = text.replace(old, new)
    return text


def write_config(prefix: Path, output: Path, port: int, daemon_port: int) -> Path:
    """The shipped site and snippets with test paths and ports, wrapped in a minimal nginx.conf."""
    (prefix / "tmp").mkdir(parents=True)
    proxy = prefix / "jobgallery-proxy.conf"
    proxy.write_text(substituted(PROXY.read_text(), {"127.0.0.1:8080": f"127.0.0.1:{daemon_port}"}))
    site = prefix / "jobgallery.conf"
    site.write_text(
        substituted(
            SITE.read_text(),
            {
                "listen 80;": f"listen 127.0.0.1:{port};",
                "listen [::]:80;": "",
                "root /var/lib/jobgallery/output;": f"root {output};",
                "/etc/nginx/snippets/jobgallery-headers.conf": str(HEADERS),
                "/etc/nginx/snippets/jobgallery-proxy.conf": str(proxy),
            },
        )
    )
    conf = prefix / "nginx.conf"
    # As root, workers would switch to "nobody", who cannot enter pytest's private temp folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(WRAPPER.format(user=user, prefix=prefix, site=site))
    return conf


def nginx_args(nginx: str, prefix: Path, conf: Path) -> list[str]:
    return [nginx, "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "error.log")]


@contextlib.contextmanager
def running_nginx(nginx: str, prefix: Path, conf: Path, port: int):
    subprocess.run(nginx_args(nginx, prefix, conf), check=True, capture_output=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([*nginx_args(nginx, prefix, conf), "-s", "quit"], capture_output=True)
        pid_file = prefix / "nginx.pid"
        deadline = time.monotonic() + 10
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A built site, a real daemon (not serving output/ itself) and nginx in front of both."""
    nginx = require_binary("nginx")
    folder = tmp_path_factory.mktemp("nginx-stack")
    settings = {"server": {"serve_output": False, "rebuild_delay_seconds": 0.5}}
    (folder / "config.yaml").write_text(yaml.safe_dump(settings))
    config = load_config(str(folder / "config.yaml"))
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, count=2, title="Roof, 12 Elm St")
        users.add_user(conn, "crew", "crew-pass-1", admin=False)
        images = db.list_images(conn, job.id)
    assert run_cli(config, "build").returncode == 0
    with running_daemon(folder / "config.yaml") as daemon:
        prefix = folder / "nginx"
        port = free_port()
        conf = write_config(prefix, config.paths.output, port, daemon.port)
        check = subprocess.run([*nginx_args(nginx, prefix, conf), "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        with running_nginx(nginx, prefix, conf, port) as url:
            yield {"url": url, "config": config, "job": job, "images": images, "daemon": daemon, "check": check}


def security_headers_present(reply) -> None:
    assert reply.header("x-content-type-options") == "nosniff"
    assert "default-src 'none'" in reply.header("content-security-policy")
    assert "script-src 'self'" in reply.header("content-security-policy")
    assert reply.header("x-frame-options") == "DENY"


def test_nginx_t_passes(stack):
    assert "syntax is ok" in stack["check"].stderr and "test is successful" in stack["check"].stderr


def test_pages_revalidate_and_carry_the_headers(stack):
    page_path = "/" + stack["job"].gallery_path()
    for path in ("/", page_path, page_path + "index.html"):
        reply = http("GET", stack["url"] + path)
        assert reply.status == 200, path
        assert reply.header("content-type").startswith("text/html")
        assert reply.header("cache-control") == "no-cache"
        assert reply.header("etag") and reply.header("last-modified")
        security_headers_present(reply)
    assert "Roof, 12 Elm St" in http("GET", stack["url"] + "/").text
    moved = http("GET", stack["url"] + page_path.rstrip("/"))
    assert moved.status == 301 and moved.header("location") == page_path


def linked_files(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"#]+\.(?:jpg|css|js))"', html)


def test_content_addressed_files_are_cached_for_good(stack):
    page_path = "/" + stack["job"].gallery_path()
    files = linked_files(http("GET", stack["url"] + page_path).text)
    assert any(f.endswith(".jpg") for f in files) and any(f.endswith(".css") for f in files)
    for name in files:
        reply = http("GET", stack["url"] + page_path + name)
        assert reply.status == 200, name
        assert reply.header("cache-control") == "public, max-age=31536000, immutable"
        security_headers_present(reply)


def test_gzip_for_text(stack):
    page_path = "/" + stack["job"].gallery_path()
    css = next(f for f in linked_files(http("GET", stack["url"] + page_path).text) if f.endswith(".css"))
    for path in (page_path, page_path + css):
        reply = http("GET", stack["url"] + path, headers={"Accept-Encoding": "gzip"})
        assert reply.header("content-encoding") == "gzip", path
        assert gzip.decompress(reply.body)


def test_dotfiles_and_missing_files(stack):
    manifest = http("GET", stack["url"] + "/.jobgallery-manifest.json")
    assert manifest.status == 404
    security_headers_present(manifest)
    missing = http("GET", stack["url"] + "/jobs/nothing-here.jpg")
    assert missing.status == 404 and missing.header("cache-control") is None
    assert http("GET", stack["url"] + "/jobgallery.db").status == 404


def test_symlinks_in_output_are_never_followed(stack, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the web")
    output = stack["config"].paths.output
    (output / "leak.txt").symlink_to(secret)
    (output / "leakdir").symlink_to(tmp_path, target_is_directory=True)
    try:
        for path in ("/leak.txt", "/leakdir/secret.txt"):
            reply = http("GET", stack["url"] + path)
            assert reply.status in (403, 404) and b"not for the web" not in reply.body
    finally:
        (output / "leak.txt").unlink()
        (output / "leakdir").unlink()


def test_only_the_daemons_paths_are_proxied(stack):
    health = http("GET", stack["url"] + "/healthz")
    assert health.status == 200 and health.json() == {"status": "ok"}
    security_headers_present(health)
    refused = http("GET", stack["url"] + "/upload")
    assert refused.status == 401 and refused.header("www-authenticate").startswith("Basic")
    jobs = http("GET", stack["url"] + "/api/jobs", headers=basic("crew", "crew-pass-1"))
    assert jobs.status == 200 and jobs.json()["jobs"][0]["title"] == "Roof, 12 Elm St"
    assert http("POST", stack["url"] + "/1/other").status in (404, 405)
    office = http("GET", stack["url"] + "/admin/jobs", headers={"Accept": "text/html"})
    assert office.status == 303 and office.header("location") == "/login?next=%2Fadmin%2Fjobs"
    link = http("GET", stack["url"] + "/login/link/" + "A" * 43, headers={"Accept": "text/html"})
    assert link.status == 404 and "ask the office for a new one" in link.text


def test_sign_in_through_nginx_and_a_spoofed_forwarded_header_does_not_help(stack):
    """Nginx appends the address it saw and sets the scheme itself: only those reach the daemon's throttle."""
    form = http("GET", stack["url"] + "/login")
    assert form.status == 200 and 'action="/login"' in form.text
    spoofed = {"X-Forwarded-Proto": "https"}
    statuses = [
        sign_in(stack["url"], "crew", "guess", {**spoofed, "X-Forwarded-For": f"10.8.{i}.1"}).status for i in range(11)
    ]
    assert statuses == [401] * 11
    blocked = sign_in(stack["url"], "crew", "crew-pass-1", {"X-Forwarded-For": "10.8.99.1"})
    assert blocked.status == 429
    time.sleep(int(blocked.header("retry-after")) + 0.2)
    reply = sign_in(stack["url"], "crew", "crew-pass-1", spoofed)
    assert reply.status == 303 and "Secure" not in reply.header("set-cookie")
    out = http("POST", stack["url"] + "/logout", b"", {"Cookie": reply.header("set-cookie").split(";")[0]})
    assert out.status == 403  # reached the daemon, which wants the session's CSRF token


def test_upload_through_nginx_reaches_the_daemon_and_the_page(stack):
    job = stack["job"]
    part = FilePart("new.jpg", photos.jpeg_bytes(500, 400, seed=77), content_type="image/jpeg")
    reply = upload(f"{stack['url']}/api/jobs/{job.id}/images", [part], basic("crew", "crew-pass-1"))
    assert reply.status == 201, reply.text
    stored = reply.json()["images"][0]["filename"]
    seed = FilePart("seed.jpg", photos.jpeg_bytes(300, 200, seed=78), content_type="image/jpeg")
    legacy = upload(f"{stack['url']}/{job.id}/add_image", [seed], basic("crew", "crew-pass-1"))
    assert legacy.status == 200 and legacy.json()["success"] is True
    deadline = time.monotonic() + 15
    page = "/" + job.gallery_path()
    while time.monotonic() < deadline and http("GET", stack["url"] + page).text.count('loading="lazy"') < 4:
        time.sleep(0.2)
    assert http("GET", stack["url"] + page).text.count('loading="lazy"') == 4
    assert (stack["config"].paths.data / "images" / f"job_{job.id}" / stored).is_file()


def test_oversized_body_gets_413_before_the_daemon(stack):
    """Only the headers and a first chunk are sent: nginx answers from Content-Length alone."""
    port = int(stack["url"].rsplit(":", 1)[1])
    length = LIMIT_MB * 1024 * 1024 + 1
    request = (
        (
            f"POST /api/jobs/{stack['job'].id}/images HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {length}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        + b"--x\r\n"
        + b"\0" * 1024
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        head, body = read_answer(sock)
    assert head.startswith(b"HTTP/1.1 413")
    assert b"application/json" in head and b"nosniff" in head
    assert yaml.safe_load(body)["error"] == f"the upload is larger than {LIMIT_MB} MiB"
    assert " 413 " not in stack["daemon"].log(), "the daemon never saw the oversized request"


def read_answer(sock: socket.socket) -> tuple[bytes, bytes]:
    """Status line and headers, then exactly Content-Length bytes (nginx keeps the socket open a while)."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def test_shipped_limits_match_the_default_config():
    site = SITE.read_text()
    assert f"client_max_body_size {LIMIT_MB}m;" in site
    assert f"larger than {LIMIT_MB} MiB" in site
    assert f"127.0.0.1:{SETTINGS_BY_KEY['server.port'].default};" in PROXY.read_text()
    assert "proxy_request_buffering on;" in PROXY.read_text()


# ---------------------------------------------------------------- the CSP, in a browser


@pytest.mark.browser
def test_gallery_and_upload_form_satisfy_the_csp(stack, tmp_path, browser):
    photo = tmp_path / "from-phone.jpg"
    photo.write_bytes(photos.jpeg_bytes(640, 480, seed=99))
    context = browser.new_context()
    try:
        page = context.new_page()
        violations: list[str] = []
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        sign_in_page(page, stack["url"], {"username": "crew", "password": "crew-pass-1"})
        assert page.url == stack["url"] + "/upload"

        page.goto(stack["url"] + "/" + stack["job"].gallery_path())
        page.click("a.photo-link >> nth=0")
        shown = '.pswp__item[aria-hidden="false"] img.pswp__img:not(.pswp__img--placeholder)'
        page.wait_for_selector(shown)
        page.wait_for_function(f"document.querySelector('{shown}').naturalWidth > 0")
        assert page.evaluate("getComputedStyle(document.querySelector('.pswp')).position") == "fixed", "its CSS loaded"

        page.goto(stack["url"] + "/upload")
        page.set_input_files("#photos", str(photo))
        page.click("button.go")
        page.wait_for_selector("#queue [data-state=done]", timeout=15000)
        assert violations == []
    finally:
        context.close()


def test_proxied_answers_carry_each_security_header_once(stack):
    from http.client import HTTPConnection
    from urllib.parse import urlsplit

    parts = urlsplit(stack["url"])
    conn = HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", "/api/jobs", headers=basic("crew", "crew-pass-1"))
        answer = conn.getresponse()
        answer.read()
        names = [name.lower() for name, _ in answer.getheaders()]
    finally:
        conn.close()
    assert answer.status == 200
    for name in ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy"):
        assert names.count(name) == 1, (name, names)


def test_the_upload_forms_app_files_pass_through_nginx(stack, browser):
    """Favicon, manifest and service worker reach the daemon; the worker may control /upload behind the proxy."""
    worker = http("GET", stack["url"] + "/upload/sw.js")
    assert worker.status == 200 and worker.header("service-worker-allowed") == "/upload"
    manifest = http("GET", stack["url"] + "/upload/manifest.webmanifest")
    assert manifest.status == 200 and manifest.json()["start_url"] == "/upload"
    icon = http("GET", stack["url"] + manifest.json()["icons"][0]["src"])
    assert icon.status == 200 and icon.body.startswith(b"\x89PNG")
    favicon = http("GET", stack["url"] + "/favicon.ico")
    assert favicon.status == 200 and favicon.header("content-type") == "image/vnd.microsoft.icon"
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in_page(page, stack["url"], {"username": "crew", "password": "crew-pass-1"})
        assert page.evaluate("() => navigator.serviceWorker.ready.then(r => r.scope)") == stack["url"] + "/upload"
    finally:
        context.close()


def test_two_hundred_slow_clients_at_nginx_leave_health_checks_and_uploads_working(stack):
    """Idle sockets, cut-off headers and trickling bodies at the front door; the daemon never sees them."""
    port = int(stack["url"].rsplit(":", 1)[1])
    with slow_connections(port, 200):
        started = time.monotonic()
        health = http("GET", stack["url"] + "/healthz", timeout=10)
        waited = time.monotonic() - started
        part = FilePart("IMG_0200.jpg", photos.jpeg_bytes(640, 480, seed=200), content_type="image/jpeg")
        stored = upload(f"{stack['url']}/api/jobs/{stack['job'].id}/images", [part], basic("crew", "crew-pass-1"))
        direct = http("GET", stack["daemon"].url + "/healthz", timeout=10)
    assert health.status == 200 and waited < 5, (health.status, waited)
    assert stored.status == 201, stored.body
    assert direct.status == 200
