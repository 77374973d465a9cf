"""Reading an upload form and storing its photos: all of them, or none.

Bottle 0.13's ``request.POST`` uses ``MEMFILE_MAX`` both as the size at
which one part moves to a temp file and as the cap on all in-memory parts
together (bottle issue #1470), so three 400 KB photos fail with "Memory
limit reached" whatever it is set to. ``read_form`` runs Bottle's own
multipart parser with the two limits set apart: any part over
``PART_SPOOL_BYTES`` goes to an anonymous temp file, and at most
``FORM_MEMORY_BYTES`` of small parts stay in memory. It reads straight from
the server's input stream, so the body is not copied once more first.

``store_upload`` checks every part before storing any, then ingests them in
order; if one fails, the photos this request already stored are taken out
again (row first, then file), so an error leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

import bottle

from daemon.multipart import MultipartParser
from jobgallery import db, filenames, storage
from jobgallery.config import Config
from jobgallery.errors import BadImage, EmptyUpload, TooLarge, UnsupportedImage, UsageError
from jobgallery.ingest import IngestResult, ingest_stream, remove_folder_if_empty
from jobgallery.location import BrowserLocation, parse_browser_location

log = logging.getLogger("daemon.upload")

MIB = 1024 * 1024
PART_SPOOL_BYTES = 256 * 1024
FORM_MEMORY_BYTES = 4 * MIB
MAX_PARTS = 1000
# Headers are read byte for byte; file names are decoded leniently (jobgallery.filenames), text fields as UTF-8.
HEADER_CHARSET = "latin1"
IMAGE_FIELD = "image"
FILE_ERRORS = (EmptyUpload, UnsupportedImage, BadImage, TooLarge)


@dataclass
class FilePart:
    """One file of the form; ``stream`` is in memory or an unlinked temp file."""

    filename: str
    stream: BinaryIO
    size: int


@dataclass
class UploadForm:
    files: list[FilePart] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def text(self, name: str) -> str:
        return self.fields.get(name, "")


@dataclass(frozen=True)
class Stored:
    """One photo of a successful upload: the name it was sent under and what ingest made of it."""

    sent_as: str
    result: IngestResult

    def as_json(self) -> dict:
        image = self.result.image
        return {"id": image.id, "job_id": image.job_id, "filename": image.filename, "duplicate": self.result.duplicate}


# ---------------------------------------------------------------- reading the form


@contextlib.contextmanager
def read_form(environ: Mapping, limit_bytes: int) -> Iterator[UploadForm]:
    """Parse a multipart body into files and text fields; temp files are closed when the block ends."""
    form = UploadForm()
    try:
        for part in parse_parts(environ, limit_bytes):
            if len(form.files) + len(form.fields) >= MAX_PARTS:
                part.close()
                raise UsageError(f"a form may have at most {MAX_PARTS} fields")
            add_part(form, part)
        yield form
    finally:
        for item in form.files:
            item.stream.close()


def parse_parts(environ: Mapping, limit_bytes: int) -> Iterator:
    content_type, options = bottle._parse_http_header(environ.get("CONTENT_TYPE", ""))[0]
    if content_type != "multipart/form-data" or not options.get("boundary"):
        raise EmptyUpload("no photo was sent: post a multipart form with one or more 'image' files")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > limit_bytes:
        raise TooLarge(f"the upload is larger than {limit_bytes // MIB} MiB")
    parser = MultipartParser(
        environ["wsgi.input"],
        options["boundary"],
        length,
        mem_limit=FORM_MEMORY_BYTES,
        memfile_limit=PART_SPOOL_BYTES,
        charset=HEADER_CHARSET,
    )
    try:
        yield from parser.parse()
    except bottle.MultipartError as exc:
        if "limit" in str(exc):
            raise TooLarge("the form's text fields are too large") from None
        raise UsageError("the upload is not valid form data or was cut short") from None
    except ValueError:
        raise UsageError("the upload is not valid form data: a part's headers are malformed") from None


def add_part(form: UploadForm, part) -> None:
    filename = filenames.sent_name(part.headers.get("Content-Disposition", ""))
    if filename is None:
        form.fields[part.name or ""] = text_value(part)
    elif part.name == IMAGE_FIELD:
        form.files.append(FilePart(filename, part.file, part.size))
    else:
        part.close()


def text_value(part) -> str:
    """A text field's bytes as UTF-8 (headers are read as Latin-1 so that any file name gets through)."""
    try:
        return part.raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"the form field '{filenames.from_header(part.name or '')}' must be UTF-8 text") from None


# ---------------------------------------------------------------- storing the photos


def chosen_files(form: UploadForm) -> list[FilePart]:
    """The files to store; a file input left empty (no name, no bytes) is not a file.

    Raises EmptyUpload when there is none, or when a chosen file has no bytes.
    """
    chosen = [part for part in form.files if part.filename or part.size]
    if not chosen:
        raise EmptyUpload("no photo was sent: choose one or more photos")
    for part in chosen:
        if part.size == 0:
            raise EmptyUpload(f"{part.filename or 'a file'}: the file is empty")
    return chosen


def store_upload(config: Config, conn: sqlite3.Connection, job_id: int, form: UploadForm, user: str) -> list[Stored]:
    """Ingest every photo of the form into the job, or raise and leave nothing stored.

    The form's ``geo_*`` fields (the phone's position) are checked before
    any photo is stored, and ignored when ``upload.browser_location`` is off.
    """
    files = chosen_files(form)
    place = parse_browser_location(form.fields) if config.upload.browser_location else None
    stored: list[Stored] = []
    try:
        for part in files:
            result = ingest_one(config, conn, job_id, part, form, user, place)
            stored.append(Stored(part.filename, result))
    except BaseException:
        undo(config, conn, [item.result.image for item in stored if not item.result.duplicate])
        raise
    return stored


def ingest_one(
    config: Config,
    conn: sqlite3.Connection,
    job_id: int,
    part: FilePart,
    form: UploadForm,
    user: str,
    place: BrowserLocation | None,
) -> IngestResult:
    """One file through ingest; an error about the file's bytes names the file."""
    try:
        return ingest_stream(
            config,
            conn,
            job_id,
            part.stream,
            description=form.text("description"),
            tags=form.text("tags"),
            uploaded_by=user,
            place=place,
        )
    except FILE_ERRORS as exc:
        if not part.filename:
            raise
        raise type(exc)(f"{part.filename}: {exc}") from None


def undo(config: Config, conn: sqlite3.Connection, images: list[db.Image]) -> None:
    """Take out photos stored earlier in a request that failed later: the row, then the file."""
    for image in reversed(images):
        try:
            db.delete_image(conn, image.id)
            storage.remove_file(storage.master_path(config.paths.data, image.job_id, image.filename))
            log.info("job %d: took back %s (a later photo of the same upload failed)", image.job_id, image.filename)
        except Exception:
            log.exception("job %d: could not take back %s; cleanup will remove it", image.job_id, image.filename)
    if images:
        remove_folder_if_empty(storage.job_folder(config.paths.data, images[0].job_id))
