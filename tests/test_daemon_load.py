"""Sixteen phones at once: every ~4 MB photo stored, and the daemon stays small.

The phones sign in for the first time all at once, so the password checks
(16 MiB of scrypt each) overlap the uploads. The figures (medians over
rounds, against glibc's own malloc behaviour) come from
``bench/upload_load.py``; this test only holds the line the issue draws:
all 201, all stored, peak RSS under 100 MiB.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from daemon_support import FilePart, Reply, basic, http, multipart, phone_photo, running_daemon, stored_files, upload

from jobgallery import db, users

PHONES = 16
RSS_LIMIT_KIB = 100 * 1024


def test_sixteen_concurrent_phone_photos_are_all_stored_in_under_100_mib(make_config, instance: Path) -> None:
    config = make_config()
    photos = [phone_photo(seed) for seed in range(PHONES)]
    assert min(len(data) for data in photos) > 4_000_000
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, "crew", "crew-password-1", admin=False)
        job = db.create_job(conn, "Busy morning")
        with running_daemon(instance / "config.yaml") as daemon:
            url = f"{daemon.url}/api/jobs/{job.id}/images"

            def send(seed: int) -> int:
                part = FilePart(f"IMG_{seed:04}.jpg", photos[seed], content_type="image/jpeg")
                return upload(url, [part], basic("crew", "crew-password-1")).status

            with ThreadPoolExecutor(PHONES) as pool:
                statuses = list(pool.map(send, range(PHONES)))
            peak = daemon.peak_rss_kib()
        rows = db.list_images(conn, job.id)
    assert statuses == [201] * PHONES
    assert sorted(row.byte_size for row in rows) == sorted(len(data) for data in photos)
    assert len(stored_files(config.paths.data)) == PHONES
    assert peak < RSS_LIMIT_KIB, f"daemon peak RSS {peak / 1024:.1f} MiB"


FIELD_BYTES = 24 * 1000 * 1000
FIELD_RSS_GROWTH_KIB = 40 * 1024


def test_four_concurrent_huge_description_fields_are_refused_without_being_read_whole(
    make_config, instance: Path
) -> None:
    """Four 24 MB ``description`` fields at once: 413 each, nothing stored, and the daemon does not hold them."""
    config = make_config()
    bodies = [multipart_body(FIELD_BYTES, seed) for seed in range(4)]
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, "crew", "crew-password-1", admin=False)
        job = db.create_job(conn, "Long words")
        with running_daemon(instance / "config.yaml") as daemon:
            upload(f"{daemon.url}/api/jobs/{job.id}/images", [], basic("crew", "crew-password-1"))
            before = daemon.peak_rss_kib()
            url = f"{daemon.url}/api/jobs/{job.id}/images"

            def send(body: tuple[dict[str, str], bytes]) -> Reply:
                return http("POST", url, body[1], {**body[0], **basic("crew", "crew-password-1")}, timeout=60)

            with ThreadPoolExecutor(len(bodies)) as pool:
                replies = list(pool.map(send, bodies))
            peak = daemon.peak_rss_kib()
        assert db.list_images(conn, job.id) == []
    growth = peak - before
    assert growth < FIELD_RSS_GROWTH_KIB, f"daemon peak RSS grew by {growth / 1024:.1f} MiB"
    assert [reply.status for reply in replies] == [413] * len(bodies)
    assert all("description" in reply.json()["error"] for reply in replies)
    assert stored_files(config.paths.data) == []


def multipart_body(size: int, seed: int) -> tuple[dict[str, str], bytes]:
    """A form with a ``description`` of ``size`` bytes of text, then a real photo."""
    headers, body = multipart([("description", "x" * size)], [FilePart(f"IMG_{seed}.jpg", phone_photo(seed, 640, 480))])
    return headers, body
