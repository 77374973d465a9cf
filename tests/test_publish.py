"""``jobgallery publish``: output/ mirrored into a real S3-compatible server (moto) over HTTP.

Every check reads the bucket back through boto3: keys, bytes, Content-Type
and Cache-Control, what a second run sends, the order of uploads and
deletes, and what a store cut off half-way leaves behind.
"""

from __future__ import annotations

import json
import posixpath
import re
import shutil
import socket
import subprocess
import time

import photos
import pytest
from conftest import cli_command
from daemon_support import FilePart, basic, running_daemon, upload
from maintenance_support import add_photos, job_with_photos, run_cli
from s3_support import CREDENTIALS, S3Server, bucket_objects, publish_settings, site_files

from generator.build import build_site
from generator.manifest import load_manifest
from jobgallery import db, users
from jobgallery.locks import maintenance_lock

IMMUTABLE = "public, max-age=31536000, immutable"
PAGE = "public, max-age=60, must-revalidate"
SUMMARY = re.compile(r"publish: ([\d,]+) uploaded, ([\d,]+) deleted, ([\d,]+) unchanged in [\d.]+ s")
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8"}
TYPES |= {".js": "text/javascript; charset=utf-8", ".jpg": "image/jpeg", ".pdf": "application/pdf"}
TYPES |= {".webp": "image/webp", ".txt": "text/plain; charset=utf-8"}


@pytest.fixture
def site(s3, make_config):
    """A built site of one job with three photos, and a bucket of its own on the test server."""
    bucket = s3.new_bucket()
    config = make_config(**publish_settings(s3, bucket))
    with db.open_db(config.db_path) as conn:
        job_with_photos(config, conn, count=3)
    build_site(config)
    return config


def publish(config, *args: str) -> tuple[int, int, int]:
    """Run ``jobgallery publish ARGS``; its counts (uploaded, deleted, unchanged), after checking it worked."""
    result = run_cli(config, "publish", *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    match = SUMMARY.fullmatch(result.stdout.splitlines()[-1])
    assert match, result.stdout
    return tuple(int(group.replace(",", "")) for group in match.groups())


def dry_run(config) -> set[str]:
    """The keys ``publish --dry-run`` says it would upload or delete."""
    result = run_cli(config, "publish", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("publish (dry run): ")
    return set(result.stdout.splitlines()[:-1])


def assert_mirror(s3, config, lingering: frozenset[str] = frozenset()) -> None:
    """The bucket's prefix holds exactly output/ (dotfiles left out): same keys, same bytes, right headers.

    ``lingering``: keys no page names any more, kept until caches of the old pages expire.
    """
    client, bucket, prefix = s3.client(), config.publish.bucket, config.publish.prefix
    files = site_files(config.paths.output)
    stored = bucket_objects(client, bucket, prefix + "/")
    assert set(stored) == {f"{prefix}/{relative}" for relative in files} | lingering
    for relative, data in files.items():
        answer = client.get_object(Bucket=bucket, Key=f"{prefix}/{relative}")
        assert answer["Body"].read() == data, relative
        assert answer["ContentType"] == TYPES[relative[relative.rfind(".") :]], relative
        page = f"public, max-age={config.publish.page_max_age}, must-revalidate"
        assert answer["CacheControl"] == (page if relative.endswith(".html") else IMMUTABLE), relative


def test_publish_mirrors_every_file_with_its_bytes_and_headers(s3, site):
    files = site_files(site.paths.output)
    # two pages; CSS, JS, the viewer's JS and CSS and its licence; six derivatives of each photo; the report
    assert len(files) == 2 + 5 + 3 * 6 + 1
    assert (site.paths.output / ".jobgallery-manifest.json").is_file()

    assert publish(site) == (len(files), 0, 0)

    assert_mirror(s3, site)
    assert publish(site) == (0, 0, len(files)), "a second run sends nothing"


def test_one_new_photo_sends_only_its_files_and_the_pages_that_show_it(s3, site):
    publish(site)
    with db.open_db(site.db_path) as conn:
        (image,) = add_photos(site, conn, 1, 1, seed=50)
    build_site(site)
    before = bucket_objects(s3.client(), site.publish.bucket)

    planned = dry_run(site)

    assert bucket_objects(s3.client(), site.publish.bucket) == before, "--dry-run changes nothing"
    job_folder = next(p for p in (site.paths.output / "jobs").iterdir())
    new_files = sorted(p.name for p in job_folder.glob(f"{image.id}-*"))
    assert len(new_files) == 6
    pages = ["depot-north/index.html", f"depot-north/jobs/{job_folder.name}/index.html"]
    expected = {f"would upload depot-north/jobs/{job_folder.name}/{name}" for name in new_files}
    reports = {line.split()[1] for line in planned if line.endswith(".pdf")}
    assert reports == {"upload"}  # the job's report shows the new photo: a new name; the old one waits
    assert {line for line in planned if not line.endswith(".pdf")} == expected | {
        f"would upload {page}" for page in pages
    }
    assert publish(site) == (9, 0, len(before) - 3)
    assert_mirror(s3, site, frozenset(key for key in before if key.endswith(".pdf")))


def test_a_deleted_photos_files_leave_only_once_its_old_page_has_expired_from_caches(s3, site, make_config):
    site = make_config(**publish_settings(s3, site.publish.bucket), publish__page_max_age=10)
    client = s3.client()
    client.put_bucket_versioning(Bucket=site.publish.bucket, VersioningConfiguration={"Status": "Enabled"})
    publish(site)
    with db.open_db(site.db_path) as conn:
        image = db.list_images(conn, 1)[0]
        db.delete_image(conn, image.id)
    build_site(site)
    files = dict(bucket_objects(client, site.publish.bucket))

    assert publish(site) == (3, 0, 17)  # pages and the new report up
    replaced = time.monotonic()
    assert publish(site) == (0, 0, 20), "the old page may still be cached: its images stay"
    assert set(files) <= set(bucket_objects(client, site.publish.bucket))
    time.sleep(max(0.0, replaced + 10.5 - time.monotonic()))
    assert publish(site) == (0, 7, 20)  # derivatives and the old report gone

    assert_mirror(s3, site)
    versions = client.list_object_versions(Bucket=site.publish.bucket)
    markers = [m for m in versions["DeleteMarkers"] if re.search(rf"/{image.id}-[\w-]+\.(jpg|webp)$", m["Key"])]
    assert len(markers) == 6
    page = next(v for v in versions["Versions"] if v["Key"].endswith("-roof-12-elm-st/index.html") and v["IsLatest"])
    assert all((marker["LastModified"] - page["LastModified"]).total_seconds() >= 10 for marker in markers)


def test_a_large_file_goes_up_in_parts_and_is_then_recognised_by_its_checksum(s3, make_config):
    bucket = s3.new_bucket()
    config = make_config(**publish_settings(s3, bucket, publish__multipart_mb=5))
    build_site(config)
    big = config.paths.output / "reports" / "site.pdf"
    big.parent.mkdir()
    big.write_bytes(bytes(range(256)) * (6 * 4096))  # 6 MiB
    publish(config)
    key = "depot-north/reports/site.pdf"
    head = s3.client().head_object(Bucket=bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-2"), "sent in two parts"
    assert head["ContentType"] == "application/pdf" and head["CacheControl"] == PAGE

    assert publish(config)[0] == 0, "a multipart ETag is not an MD5, yet the unchanged file is not sent again"

    big.write_bytes(bytes(reversed(range(256))) * (6 * 4096))  # same size, other bytes
    assert publish(config)[0] == 1
    assert s3.client().get_object(Bucket=bucket, Key=key)["Body"].read() == big.read_bytes()


def test_dotfiles_and_temp_files_never_leave_the_box(s3, site):
    (site.paths.output / ".secret").write_text("no")
    (site.paths.output / "jobs" / ".hidden").mkdir()
    (site.paths.output / "jobs" / ".hidden" / "page.html").write_text("no")
    (site.paths.output / ".tmp-123-abc.html").write_text("half")
    publish(site)
    keys = set(bucket_objects(s3.client(), site.publish.bucket))
    assert not [key for key in keys if "/." in key]
    assert_mirror(s3, site)


def test_boxes_share_a_bucket_under_their_own_prefixes_and_the_index_links_them(s3, make_config):
    bucket = s3.new_bucket()
    north = make_config(**publish_settings(s3, bucket, prefix="depot-north"))
    build_site(north)
    publish(north)
    north_keys = bucket_objects(s3.client(), bucket, "depot-north/")
    south = make_config(**publish_settings(s3, bucket, prefix="depot-north-2"))  # its name starts like the other's
    build_site(south)
    result = run_cli(south, "publish", "--index")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"publish: wrote s3://{bucket}/index.html linking 2 sites"
    assert bucket_objects(s3.client(), bucket, "depot-north/") == north_keys, "one box never touches another's"
    answer = s3.client().get_object(Bucket=bucket, Key="index.html")
    page = answer["Body"].read().decode()
    assert '<a href="depot-north/">depot-north</a>' in page and '<a href="depot-north-2/">' in page
    assert answer["ContentType"] == "text/html; charset=utf-8" and answer["CacheControl"] == PAGE


def test_index_escapes_prefixes_it_reads_from_the_bucket(s3, make_config):
    bucket = s3.new_bucket()
    s3.client().put_object(Bucket=bucket, Key='<img src=x onerror=alert(1)>"x/index.html', Body=b"hostile")
    config = make_config(**publish_settings(s3, bucket))
    build_site(config)
    assert run_cli(config, "publish", "--index").returncode == 0
    page = s3.client().get_object(Bucket=bucket, Key="index.html")["Body"].read().decode()
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;&#34;x</a>" in page


# ---------------------------------------------------------------- cut off half-way


def page_links(html: str) -> set[str]:
    """Every local URL a page refers to (src, href, srcset), without query or fragment."""
    found = set()
    for attribute, value in re.findall(r'\b(src|href|srcset)="([^"]*)"', html):
        parts = [item.split()[0] for item in value.split(",") if item.strip()] if attribute == "srcset" else [value]
        found.update(p.split("#")[0].split("?")[0] for p in parts if p and not re.match(r"[a-z]+:|#|//", p))
    return {link for link in found if link}


def assert_consistent(client, bucket: str, prefix: str) -> None:
    """Every page in the bucket refers only to files and pages that are there (the daemon's paths aside)."""
    keys = set(bucket_objects(client, bucket, prefix + "/"))
    pages = [key for key in keys if key.endswith(".html")]
    assert pages
    for key in pages:
        html = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        for link in page_links(html):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(key), link))
            if link.endswith("/"):
                assert f"{target}/index.html" in keys, f"{key} links to a missing page {target}/"
            elif posixpath.splitext(link)[1] in (".jpg", ".webp", ".png", ".css", ".js"):
                assert target in keys, f"{key} links to a missing file {target}"


def test_a_store_cut_off_mid_publish_leaves_a_whole_site_and_the_next_run_completes_it(s3, make_config):
    server = S3Server()
    server.start()
    try:
        bucket = server.new_bucket()
        settings = publish_settings(server, bucket, publish__threads=1, publish__max_attempts=2)
        config = make_config(**settings, publish__page_max_age=0)
        with db.open_db(config.db_path) as conn:
            job = job_with_photos(config, conn, count=3)
            build_site(config)
            publish(config)
            add_photos(config, conn, job.id, 40, size=(320, 240), seed=100)
            db.delete_image(conn, db.list_images(conn, job.id)[0].id)
        build_site(config)
        first = len(bucket_objects(server.client(), bucket))
        command = [*cli_command(), "--config", str(config.source), "publish"]
        running = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while len(bucket_objects(server.client(), bucket)) < first + 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        server.stop()
        out, err = running.communicate(timeout=120)
        assert running.returncode == 1, out + err
        assert err.count("\n") == 1 and "publish stopped after" in err and "next publish completes it" in err

        server.start()
        stored = bucket_objects(server.client(), bucket)
        assert first + 10 <= len(stored) < first + 120, "stopped half-way through the new files"
        assert_consistent(server.client(), bucket, "depot-north")

        uploaded, deleted, _ = publish(config)
        assert uploaded > 0 and deleted == 6 + 1  # the deleted photo's derivatives and the old report
        assert_mirror(server, config)
    finally:
        server.stop()


# ---------------------------------------------------------------- bad settings and stores


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("publish__bucket", "no/slashes", "publish.bucket"),
        ("publish__bucket", "a", "publish.bucket"),
        ("publish__prefix", "../up", "publish.prefix"),
        ("publish__prefix", "/abs", "publish.prefix"),
        ("publish__prefix", "a//b", "publish.prefix"),
        ("publish__prefix", ".hidden", "publish.prefix"),
        ("publish__endpoint_url", "ftp://store", "publish.endpoint_url"),
        ("publish__endpoint_url", "http://host/ path", "publish.endpoint_url"),
        ("publish__multipart_mb", 4, "publish.multipart_mb"),
    ],
)
def test_bad_publish_settings_stop_with_one_line(instance, key, value, named):
    import yaml

    section, name = key.split("__")
    (instance / "config.yaml").write_text(yaml.safe_dump({section: {name: value}}))
    result = subprocess.run(
        [*cli_command(), "--config", str(instance / "config.yaml"), "publish"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and named in result.stderr


def test_publish_without_a_bucket_is_a_usage_error_unless_asked_to_skip(config):
    result = run_cli(config, "publish")
    assert result.returncode == 2 and "publish.bucket is not set" in result.stderr
    skipped = run_cli(config, "publish", "--if-configured")
    assert skipped.returncode == 0 and skipped.stdout == "publish: publish.bucket is not set; nothing to do\n"


def test_an_unbuilt_site_is_never_mirrored_over_a_published_one(s3, site):
    publish(site)
    before = bucket_objects(s3.client(), site.publish.bucket)
    (site.paths.output / "index.html").unlink()
    result = run_cli(site, "publish")
    assert result.returncode == 2 and "run jobgallery build first" in result.stderr
    assert bucket_objects(s3.client(), site.publish.bucket) == before


def test_index_needs_a_prefix(s3, make_config):
    config = make_config(**publish_settings(s3, s3.new_bucket(), prefix=""))
    build_site(config)
    result = run_cli(config, "publish", "--index")
    assert result.returncode == 2 and "publish.prefix" in result.stderr


@pytest.mark.parametrize("problem", ["no such bucket", "no server", "no credentials"])
def test_a_store_that_cannot_be_used_is_one_line_and_changes_nothing(s3, make_config, monkeypatch, problem):
    bucket = s3.new_bucket()
    settings = publish_settings(s3, bucket)
    if problem == "no such bucket":
        settings["publish__bucket"] = "not-there"
    elif problem == "no server":
        settings["publish__endpoint_url"] = "http://127.0.0.1:9"
        settings["publish__max_attempts"] = 1
    else:
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        monkeypatch.delenv("AWS_SESSION_TOKEN")
    config = make_config(**settings)
    build_site(config)
    result = run_cli(config, "publish")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert bucket_objects(s3.client(), bucket) == {}


# ---------------------------------------------------------------- the daemon


def test_the_daemon_publishes_after_each_rebuild(s3, make_config, instance):
    bucket = s3.new_bucket()
    config = make_config(**publish_settings(s3, bucket), server__rebuild_delay_seconds=0.2)
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, "crew", "crew-pass-1", admin=False)
        job = db.create_job(conn, "Roof, 12 Elm St")
    with running_daemon(instance / "config.yaml") as daemon:
        reply = upload(
            f"{daemon.url}/api/jobs/{job.id}/images",
            [FilePart("a.jpg", photos.jpeg_bytes(640, 480, seed=1))],
            basic("crew", "crew-pass-1"),
        )
        assert reply.status == 201
        page = f"depot-north/{job.gallery_path(True)}index.html"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and b"-thumb-" not in object_or_empty(s3.client(), bucket, page):
            time.sleep(0.2)
        assert b"-thumb-" in object_or_empty(s3.client(), bucket, page), daemon.log()
        assert "publish: done" in daemon.log()
    assert_mirror(s3, config)


def test_derivatives_an_upload_wrote_before_any_build_named_them_are_sent_as_immutable(s3, site):
    """An upload writes its derivatives at once; a publish that runs before the next build must still know them."""
    from generator.ingest_output import IngestDerivatives
    from jobgallery.ingest import ingest_path

    publish(site)
    incoming = site.paths.data.parent / "early.jpg"
    incoming.write_bytes(photos.jpeg_bytes(640, 480, seed=77))
    with db.open_db(site.db_path) as conn:
        image = ingest_path(site, conn, 1, incoming, derivatives=IngestDerivatives.from_config(site)).image
    made = sorted(site.paths.output.glob(f"jobs/*/{image.id}-*"))
    assert made and not load_manifest(site.paths.output).photos.get(str(image.id)), "made by the upload, not a build"

    publish(site)

    client = s3.client()
    for path in made:
        key = f"{site.publish.prefix}/{path.relative_to(site.paths.output).as_posix()}"
        assert client.head_object(Bucket=site.publish.bucket, Key=key)["CacheControl"] == IMMUTABLE, key


def object_or_empty(client, bucket: str, key: str) -> bytes:
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        return b""


def test_the_daemons_rebuilds_never_wait_for_a_stalled_store(make_config, instance, monkeypatch):
    """The store accepts connections and never answers: the box's own pages still follow each upload."""
    for name, value in CREDENTIALS.items():  # so the publish really reaches the store and waits on it
        monkeypatch.setenv(name, value)
    stalled = socket.socket()
    stalled.bind(("127.0.0.1", 0))
    stalled.listen(64)
    try:
        settings = publish_settings(S3Server(), "site-stalled", publish__max_attempts=1)
        settings["publish__endpoint_url"] = f"http://127.0.0.1:{stalled.getsockname()[1]}"
        config = make_config(**settings, server__rebuild_delay_seconds=0.2)
        with db.open_db(config.db_path) as conn:
            users.add_user(conn, "crew", "crew-pass-1", admin=False)
            job = db.create_job(conn, "Roof, 12 Elm St")
        page = config.paths.output / f"{job.gallery_path(True)}index.html"
        with running_daemon(instance / "config.yaml") as daemon:
            for seed in (1, 2, 3):
                reply = upload(
                    f"{daemon.url}/api/jobs/{job.id}/images",
                    [FilePart(f"p{seed}.jpg", photos.jpeg_bytes(320, 240, seed=seed))],
                    basic("crew", "crew-pass-1"),
                )
                assert reply.status == 201
                deadline = time.monotonic() + 8
                while time.monotonic() < deadline and thumbs(page) < seed:
                    time.sleep(0.1)
                assert thumbs(page) == seed, daemon.log()
            assert "publish: started" in daemon.log()
            stalled.settimeout(10)
            caller, _ = stalled.accept()  # the publish is there, waiting for an answer that never comes
            caller.close()
            assert "Found credentials in environment variables" in daemon.log()
    finally:
        stalled.close()


def thumbs(page) -> int:
    """How many photos a built job page shows (0 before it is built)."""
    try:
        return len(set(re.findall(r"(\d+)-thumb-", page.read_text())))  # its JPEG and WebP thumbnails: one photo
    except FileNotFoundError:
        return 0


def test_files_a_build_adds_while_publish_waits_for_it_get_their_own_headers(s3, site, make_config, tmp_path):
    """The manifest is read once publish holds the lock, with the files it describes."""
    publish(site)
    settings = publish_settings(s3, site.publish.bucket)
    with db.open_db(site.db_path) as conn:
        add_photos(site, conn, db.list_jobs(conn)[0].id, 2, seed=40)
    newer = make_config(**settings, paths__data=str(site.paths.data), paths__output=str(tmp_path / "newer"))
    build_site(newer)
    make_config(**settings)
    command = [*cli_command(), "--config", str(site.source), "publish"]
    with maintenance_lock(site.paths.data):
        running = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)  # the command starts and waits for the lock
        shutil.copytree(newer.paths.output, site.paths.output, dirs_exist_ok=True)
    out, err = running.communicate(timeout=120)
    assert running.returncode == 0, out + err
    client = s3.client()
    for relative in load_manifest(site.paths.output).derivative_paths():
        head = client.head_object(Bucket=site.publish.bucket, Key=f"depot-north/{relative}")
        assert head["CacheControl"] == IMMUTABLE, relative


def test_a_content_named_file_sent_with_a_pages_headers_is_sent_again(s3, site):
    publish(site)
    client, bucket = s3.client(), site.publish.bucket
    names = sorted(load_manifest(site.paths.output).derivative_paths())
    for relative in names[:2]:  # as a publish racing a build used to leave them
        data = (site.paths.output / relative).read_bytes()
        client.put_object(Bucket=bucket, Key=f"depot-north/{relative}", Body=data, CacheControl=PAGE)
    record = site.paths.data / ".published.json"
    kept = json.loads(record.read_text())
    record.unlink()  # a box restored without it asks the store

    uploaded, _, _ = publish(site)

    assert uploaded == 2
    assert_mirror(s3, site)
    data = (site.paths.output / names[0]).read_bytes()
    client.put_object(Bucket=bucket, Key=f"depot-north/{names[0]}", Body=data, CacheControl=PAGE)
    kept["objects"][names[0]] = PAGE  # what a racing run would have recorded sending
    record.write_text(json.dumps(kept))
    assert publish(site)[0] == 1
    assert_mirror(s3, site)


def test_a_box_at_the_buckets_root_never_touches_other_sites_or_the_index(s3, make_config):
    bucket = s3.new_bucket()
    north = make_config(**publish_settings(s3, bucket, prefix="depot-north"))
    build_site(north)
    assert run_cli(north, "publish", "--index").returncode == 0
    before = {key: value["etag"] for key, value in bucket_objects(s3.client(), bucket).items()}
    root = make_config(**publish_settings(s3, bucket, prefix=""))
    build_site(root)

    result = run_cli(root, "publish")

    assert result.returncode == 2 and "give each box a publish.prefix" in result.stderr
    assert result.stderr.count("\n") == 1
    assert {key: value["etag"] for key, value in bucket_objects(s3.client(), bucket).items()} == before
    for key in before:
        if key.startswith("depot-north/"):
            s3.client().delete_object(Bucket=bucket, Key=key)
    result = run_cli(root, "publish")
    assert result.returncode == 2 and "publish --index wrote" in result.stderr
    assert s3.client().get_object(Bucket=bucket, Key="index.html")["ETag"] == before["index.html"]


def test_a_box_at_the_buckets_root_deletes_only_what_it_published(s3, make_config):
    bucket = s3.new_bucket()
    s3.client().put_object(Bucket=bucket, Key="notes.txt", Body=b"the owner's")
    root = make_config(**publish_settings(s3, bucket, prefix="", publish__page_max_age=0))
    with db.open_db(root.db_path) as conn:
        job_with_photos(root, conn, count=2)
        build_site(root)
        publish(root)
        db.delete_image(conn, db.list_images(conn, 1)[0].id)
    build_site(root)

    assert publish(root)[1] == 7  # its six derivatives and the old report
    keys = set(bucket_objects(s3.client(), bucket))
    assert "notes.txt" in keys
    assert keys - {"notes.txt"} == set(site_files(root.paths.output))


def test_the_daemons_expiry_check_publishes_after_it_removes_an_expired_links_page(s3, make_config, instance):
    bucket = s3.new_bucket()
    config = make_config(**publish_settings(s3, bucket), maintenance__interval_seconds=1)
    with db.open_db(config.db_path) as conn:
        job_with_photos(config, conn, count=1)
    build_site(config)
    with running_daemon(instance / "config.yaml") as daemon:
        result = run_cli(config, "share", "add", "1", "--days", "0.00004")  # about 3.5 s
        assert result.returncode == 0, result.stderr
        page = f"depot-north/{result.stdout.strip()}index.html"
        assert b"<img " in object_or_empty(s3.client(), bucket, page)
        after_expiry = re.compile(r"share-expiry: done[^\n]*files removed[^\n]*\n[^\n]*publish: started")
        deadline = time.monotonic() + 25
        while not after_expiry.search(daemon.log()):
            assert time.monotonic() < deadline, daemon.log()
            time.sleep(0.3)
        folder = page.removesuffix("index.html")
        while bucket_objects(s3.client(), bucket, folder):  # page, report and photos: not left for caches
            assert time.monotonic() < deadline, daemon.log()
            time.sleep(0.3)


def test_a_revoked_links_files_leave_the_bucket_when_revoke_returns(s3, make_config):
    bucket = s3.new_bucket()
    config = make_config(**publish_settings(s3, bucket))
    with db.open_db(config.db_path) as conn:
        job_with_photos(config, conn, count=2)
    build_site(config)
    added = run_cli(config, "share", "add", "1")
    folder = f"depot-north/{added.stdout.strip()}"
    assert len(bucket_objects(s3.client(), bucket, folder)) >= 3, "page, report and photos published"

    assert run_cli(config, "share", "revoke", added.stdout.strip().split("/")[1]).returncode == 0

    assert bucket_objects(s3.client(), bucket, folder) == {}
    assert bucket_objects(s3.client(), bucket, "depot-north/jobs/"), "the job's own files stay"
