"""One size limit for embedded ICC profiles in every format: up to it converted, past it refused at upload.

Each master carries Display P3 grown to the size under test (bytes no tag
points at, as a press profile's lookup tables take room), in each accepted
format. At the limit the photo is stored and its derivative converted
through the profile (mean CIE76 at most 2 against LittleCMS); one byte past
it, the upload is refused (422, one sentence) and nothing is stored.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import photos
import pytest
from colour_support import display_p3, mean_delta_e, reference
from daemon_support import FilePart, basic, running_daemon, stored_files, upload
from ingest_support import nothing_stored
from PIL import Image

from generator.derivatives import KINDS, PhotoTask, Recipe, derivative_name, make_photo
from jobgallery import containers, db, images, ingest, storage, users
from jobgallery.errors import BadImage

RECIPE = Recipe(display_size=320, display_quality=90, thumb_size=80, thumb_quality=85)
SIZE = (320, 240)
FORMATS = {"JPEG": {"quality": 95}, "PNG": {}, "WEBP": {"lossless": True}, "HEIF": {"quality": 95}}
REFUSAL = r"ICC profile is larger than 4194304 bytes \(4 MiB\), the most allowed"
CREW = ("crew", "crew-password-1")
# The documented limit (README, limits table).
LIMIT = 4 << 20


def grown_profile(size: int) -> bytes:
    """Display P3 padded to ``size`` bytes, its header's size field saying so."""
    profile = display_p3()
    return struct.pack(">I", size) + profile[4:] + bytes(size - len(profile))


def master(fmt: str, profile_size: int) -> bytes:
    images.enable_heif()
    out = io.BytesIO()
    photos.photo(*SIZE, seed=5).save(out, fmt, icc_profile=grown_profile(profile_size), **FORMATS[fmt])
    return out.getvalue()


def test_the_limit_is_the_one_the_colour_conversion_uses() -> None:
    from generator import colour

    assert colour.MAX_ICC_BYTES is containers.MAX_ICC_BYTES == LIMIT


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_profile_at_the_limit_is_accepted_and_converted(config, conn, tmp_path: Path, fmt: str) -> None:
    """A 400 KB profile was refused in PNG only, a 1.6 MB one in PNG and WebP: the limit was not one rule."""
    data = master(fmt, LIMIT)
    job = db.create_job(conn, "Brochure")
    stored = ingest.ingest_stream(config, conn, job.id, io.BytesIO(data)).image
    path = storage.job_folder(config.paths.data, job.id) / stored.filename
    with Image.open(path) as opened:
        assert len(opened.info["icc_profile"]) == LIMIT
        expected = reference(opened.convert("RGB"), display_p3())
        assert mean_delta_e(opened.convert("RGB"), expected) > 3, "the profile must matter"
    outputs = tuple((kind, derivative_name(stored.id, stored.sha256, kind, RECIPE)) for kind in KINDS)
    task = PhotoTask(stored.id, "m", str(path), str(tmp_path), outputs, RECIPE, images.Limits(50_000_000, 384))
    result = make_photo(task)
    assert result.error is None and result.notes == [], (result.error, result.notes)
    with Image.open(tmp_path / outputs[0][1]) as display:
        assert mean_delta_e(display, expected) <= 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_profile_one_byte_past_the_limit_is_refused(config, conn, fmt: str) -> None:
    job = db.create_job(conn, "Brochure")
    with pytest.raises(BadImage, match=f"^the {images.LABELS[fmt]} image's {REFUSAL}$"):
        ingest.ingest_stream(config, conn, job.id, io.BytesIO(master(fmt, LIMIT + 1)))
    assert nothing_stored(config, conn, job.id)


def test_the_daemon_answers_422_in_one_sentence_for_each_format(make_config) -> None:
    config = make_config()
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *CREW, admin=False)
        job = db.create_job(conn, "Brochure")
        with running_daemon(config.source) as daemon:
            url = f"{daemon.url}/api/jobs/{job.id}/images"
            for fmt in FORMATS:
                data = master(fmt, LIMIT + 1)
                answer = upload(url, [FilePart(f"big.{images.EXTENSIONS[fmt]}", data)], basic(*CREW))
                assert answer.status == 422, (fmt, answer.status)
                assert "ICC profile is larger than" in answer.json()["error"]
        assert db.list_images(conn, job.id) == [] and stored_files(config.paths.data) == []
