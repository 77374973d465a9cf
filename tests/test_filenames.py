"""A file name is only metadata: whatever a phone, a card reader or a script sends, the photo is stored."""

from __future__ import annotations

import html
import os
import re
import subprocess
from pathlib import Path

import photos
import pytest
import yaml
from conftest import cli_command, nest
from daemon_support import Daemon, basic, http, running_daemon

from jobgallery import db, filenames, importer, ingest, users
from jobgallery.config import Config, load_config

CREW = ("crew", "crew-password-1")
HTML_ACCEPT = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
LONG = "x" * 10_000 + ".jpg"
SHOWN_LONG = "x" * (filenames.MAX_SHOWN - 1) + "…"

# The Content-Disposition parameters after ``form-data; name="image"`` and the name the result page must show.
SENT_NAMES = {
    "latin-1 bytes": (b'; filename="caf\xe9.jpg"', "café.jpg"),
    "invalid UTF-8": (b'; filename="\xff\xfe\xfd.jpg"', "ÿþý.jpg"),
    "UTF-8": ('; filename="屋根 café.jpg"'.encode(), "屋根 café.jpg"),
    "RFC 5987 only": (b"; filename*=UTF-8''%E5%B1%8B%E6%A0%B9.jpg", "屋根.jpg"),
    "RFC 5987 beside a plain one": (b"; filename=\"roof.jpg\"; filename*=UTF-8''%C3%BCber.jpg", "über.jpg"),
    "RFC 2231 in Latin-1": (b"; filename*=iso-8859-1'de'%FCber.jpg", "über.jpg"),
    "RFC 5987 with invalid UTF-8": (b"; filename*=UTF-8''%FF%FE.jpg", "ÿþ.jpg"),
    "RFC 5987 with an unknown charset": (b"; filename*=klingon''roof.jpg", "roof.jpg"),
    "percent-encoded as browsers do": (b'; filename="caf%C3%A9 %22quoted%22.jpg"', 'café "quoted".jpg'),
    "control characters": (b'; filename="a\x01b\x1bc\x7f\td.jpg"', "abcd.jpg"),
    "NUL": (b'; filename="a\x00b.jpg"', "ab.jpg"),
    "bare CR and LF": (b'; filename="a\rb\nc.jpg"', "abc.jpg"),
    "bidi override": ('; filename="invoice\u202egpj.exe"'.encode(), "invoicegpj.exe"),
    "zero-width and isolates": ('; filename="\u2067roof\u200b.jpg\u2069"'.encode(), "roof.jpg"),
    "path separators": (b'; filename="../../etc/passwd"', "passwd"),
    "a Windows path": (b'; filename="C:\\Users\\me\\roof.jpg"', "roof.jpg"),
    "only a path": (b'; filename="../"', ""),
    "empty": (b'; filename=""', ""),
    "10 KB long": (f'; filename="{LONG}"'.encode(), SHOWN_LONG),
    "semicolon inside the quotes": (b'; filename="roof; north.jpg"', "roof; north.jpg"),
    "unclosed quote": (b'; filename="unclosed.jpg', "unclosed.jpg"),
    "escaped quote": (b'; filename="say \\"cheese\\".jpg"', 'say "cheese".jpg'),
}


def body_with(
    disposition_tail: bytes, data: bytes, job_id: int, description: bytes = b""
) -> tuple[dict[str, str], bytes]:
    """A multipart form as a client sends it: the job, a description, one photo under the given name."""
    boundary = b"----names"
    parts = [
        b'Content-Disposition: form-data; name="job_id"\r\n\r\n' + str(job_id).encode(),
        b'Content-Disposition: form-data; name="description"\r\n\r\n' + description,
        b'Content-Disposition: form-data; name="image"'
        + disposition_tail
        + b"\r\nContent-Type: image/jpeg\r\n\r\n"
        + data,
    ]
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts) + b"--" + boundary + b"--\r\n"
    return {"Content-Type": "multipart/form-data; boundary=" + boundary.decode()}, body


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("names")
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(nest({"server.rebuild_delay_seconds": 60})), encoding="utf-8")
    config = load_config(str(config_path))
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *CREW, admin=False)
        job = db.create_job(conn, "Names")
        with running_daemon(config_path) as daemon:
            yield daemon, conn, job


def shown_names(page: str) -> list[str]:
    return [html.unescape(name) for name in re.findall(r'<span class="name">(.*?)</span>', page)]


@pytest.mark.parametrize("case", list(SENT_NAMES))
def test_any_name_sent_with_a_photo_is_stored_and_shown_decoded(site: tuple[Daemon, object, db.Job], case) -> None:
    daemon, conn, job = site
    tail, shown = SENT_NAMES[case]
    before = len(db.list_images(conn, job.id))
    seed = 100 + list(SENT_NAMES).index(case)
    headers, body = body_with(tail, photos.jpeg_bytes(64, 48, seed=seed), job.id)
    reply = http("POST", daemon.url + "/upload", body, {**headers, **HTML_ACCEPT, **basic(*CREW)})
    assert reply.status == 201, reply.body[:300]
    rows = db.list_images(conn, job.id)
    assert len(rows) == before + 1
    new = max(rows, key=lambda row: row.id)
    assert shown_names(reply.text) == [shown or new.filename]


def test_the_api_stores_photos_whatever_their_names(site: tuple[Daemon, object, db.Job]) -> None:
    daemon, _conn, job = site
    for number, (tail, _shown) in enumerate(SENT_NAMES.values()):
        headers, body = body_with(tail, photos.jpeg_bytes(64, 48, seed=300 + number), job.id)
        reply = http("POST", f"{daemon.url}/api/jobs/{job.id}/images", body, {**headers, **basic(*CREW)})
        assert reply.status == 201 and not reply.json()["images"][0]["duplicate"], reply.body[:300]


def test_text_fields_must_still_be_utf8(site: tuple[Daemon, object, db.Job]) -> None:
    daemon, conn, job = site
    before = len(db.list_images(conn, job.id))
    headers, body = body_with(b'; filename="caf.jpg"', photos.jpeg_bytes(64, 48, seed=400), job.id, b"caf\xe9")
    reply = http("POST", f"{daemon.url}/api/jobs/{job.id}/images", body, {**headers, **basic(*CREW)})
    assert reply.status == 400 and "UTF-8" in reply.json()["error"]
    assert len(db.list_images(conn, job.id)) == before


def test_a_disposition_without_a_file_name_is_a_clear_400(site: tuple[Daemon, object, db.Job]) -> None:
    daemon, conn, job = site
    before = len(db.list_images(conn, job.id))
    headers, body = body_with(b"; filename;;", photos.jpeg_bytes(64, 48, seed=401), job.id)
    body = body.replace(b'form-data; name="image"', b"form-data; name=image")
    reply = http("POST", f"{daemon.url}/api/jobs/{job.id}/images", body, {**headers, **basic(*CREW)})
    assert reply.status == 400 and "'image'" in reply.json()["error"]  # a text field of photo bytes: not UTF-8
    assert len(db.list_images(conn, job.id)) == before


# ---------------------------------------------------------------- import from a card


# File system names (bytes: a card written by another system) and how the import reports them.
CARD_NAMES = {
    b"caf\xe9.jpg": "café.jpg",
    b"\xff\xfe.jpg": "ÿþ.jpg",
    "屋根.jpg".encode(): "屋根.jpg",
    b"line\nbreak.jpg": "linebreak.jpg",
    b"tab\there.jpg": "tabhere.jpg",
    "invoice\u202egpj.jpg".encode(): "invoicegpj.jpg",
    b"-rf.jpg": "-rf.jpg",
    b"  spaced  .jpg": "spaced .jpg",
    b"y" * 250 + b".jpg": "y" * (filenames.MAX_SHOWN - 1) + "…",
    b"sub\xe9/inner.jpg": "subé/inner.jpg",
}


def card_with_hostile_names(folder: Path) -> None:
    for number, name in enumerate(CARD_NAMES):
        path = os.path.join(os.fsencode(folder), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(photos.jpeg_bytes(64, 48, seed=500 + number))
    with open(os.path.join(os.fsencode(folder), b"notes\xe9.jpg"), "wb") as handle:  # named as a photo: refused
        handle.write(b"not a photo\n")


def test_import_stores_every_photo_whatever_its_name(config: Config, conn, tmp_path: Path) -> None:
    job = db.create_job(conn, "Card")
    card_with_hostile_names(tmp_path / "card")
    found = importer.scan(tmp_path / "card")
    report = importer.import_files(config, conn, job.id, found, ingest.clean_details("", ""))
    assert sorted(report.imported) == sorted(CARD_NAMES.values())
    assert [name for name, _reason in report.refused] == ["notesé.jpg"]
    assert len(db.list_images(conn, job.id)) == len(CARD_NAMES)


@pytest.mark.parametrize(("encoding", "refused"), [("utf-8", "notesé.jpg"), ("ascii", "notes?.jpg")])
def test_the_import_command_reports_names_in_any_terminal_encoding(
    config: Config, conn, tmp_path: Path, encoding: str, refused: str
) -> None:
    job = db.create_job(conn, "Card")
    card_with_hostile_names(tmp_path / "card")
    result = subprocess.run(
        [*cli_command(), "--config", str(config.source), "import", str(tmp_path / "card"), "--job", str(job.id)],
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONIOENCODING": encoding},
    )
    lines = result.stdout.decode(encoding).splitlines()
    assert result.returncode == 1, result.stderr
    assert lines[0].startswith(f"refused {refused}: ")
    assert lines[-2] == f"imported {len(CARD_NAMES)}, duplicates 0, refused 1"
    assert re.match(r"build: \d+ photos processed, \d+ skipped, 0 failed", lines[-1])  # the import published them
    assert len(db.list_images(conn, job.id)) == len(CARD_NAMES)
