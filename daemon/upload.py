"""Reading an upload form and storing its photos: all of them, or none.

``read_form`` parses the multipart body as it arrives, with
``multipart``'s push parser, and decides what each part may cost before
it is read: a text field (``description``, ``tags``, ``job_id``...) is
refused with 413 as soon as it passes ``FIELD_MAX_BYTES`` (any description
ingest accepts fits, in UTF-8), so a 24 MB "description" costs 8 KB of
memory, not 24 MB; part headers are bounded by the parser (``HEADER_MAX_BYTES``,
``HEADER_MAX_COUNT``) and the number of parts by ``MAX_PARTS``. Photos go to
a spooled temp file that moves to an anonymous file on disk past
``PART_SPOOL_BYTES``, or as soon as the form's parts in memory would pass
``FORM_MEMORY_BYTES``. File parts not named ``image`` are counted and dropped.

``store_upload`` checks every part before storing any, then ingests them in
order; if one fails, the photos this request already stored are taken out
again (row first, then file), so an error leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

import bottle
import multipart

from jobgallery import db, filenames, storage
from jobgallery.config import Config
from jobgallery.errors import BadImage, EmptyUpload, TooLarge, UnsupportedImage, UsageError
from jobgallery.ingest import MAX_DESCRIPTION, IngestResult, ingest_stream, remove_folder_if_empty
from jobgallery.location import BrowserLocation, parse_browser_location

log = logging.getLogger("daemon.upload")

MIB = 1024 * 1024
READ_BYTES = 64 * 1024
PART_SPOOL_BYTES = 256 * 1024
FORM_MEMORY_BYTES = 4 * MIB
# UTF-8 takes at most 4 bytes a character: every description ingest accepts fits.
FIELD_MAX_BYTES = 4 * MAX_DESCRIPTION
# A part's header line may hold a 10 KB file name (names are only metadata: never a reason to refuse a photo).
HEADER_MAX_BYTES = 16 * 1024
HEADER_MAX_COUNT = 8
MAX_PARTS = 1000
# Header bytes are read as they are; file names are decoded leniently (jobgallery.filenames), text fields as UTF-8.
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
    memory: int = 0

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
    """Parse a multipart body into files and text fields; temp files are closed when the block ends.

    Raises EmptyUpload (400) when the body is not multipart, UsageError (400)
    when it is malformed, cut short or not UTF-8, TooLarge (413) when the body
    or one of its text fields is over its limit.
    """
    form = UploadForm()
    try:
        boundary, length = multipart_body(environ, limit_bytes)
        parse_body(environ["wsgi.input"], boundary, length, form)
        yield form
    finally:
        for item in form.files:
            item.stream.close()


def multipart_body(environ: Mapping, limit_bytes: int) -> tuple[str, int]:
    """The boundary and the byte count of a multipart request, checked before a byte of it is read."""
    content_type, options = multipart.parse_options_header(environ.get("CONTENT_TYPE", ""))
    if content_type != "multipart/form-data" or not options.get("boundary"):
        raise EmptyUpload("no photo was sent: post a multipart form with one or more 'image' files")
    length = str(environ.get("CONTENT_LENGTH") or "0").strip()
    if not (length.isascii() and length.isdigit()):
        raise UsageError("the request's Content-Length is not a number")
    if int(length) > limit_bytes:
        raise TooLarge(f"the upload is larger than {limit_bytes // MIB} MiB")
    return options["boundary"], int(length)


def parse_body(stream: BinaryIO, boundary: str, length: int, form: UploadForm) -> None:
    """Feed the body to the push parser chunk by chunk; each part goes to a ``PartReader``."""
    try:
        parser = multipart.PushMultipartParser(
            boundary,
            length,
            max_header_size=HEADER_MAX_BYTES,
            max_header_count=HEADER_MAX_COUNT,
            max_segment_count=MAX_PARTS,
            header_charset=HEADER_CHARSET,
        )
        reader = None
        with parser:
            for chunk in body_chunks(stream, length):
                for event in parser.parse(chunk):
                    reader = take_event(form, reader, event)
    except multipart.ParserLimitReached:
        raise UsageError(f"a form may have at most {MAX_PARTS} parts, each with short headers") from None
    except multipart.MultipartError:
        raise UsageError("the upload is not valid form data or was cut short") from None


def body_chunks(stream: BinaryIO, length: int) -> Iterator[bytes]:
    """``length`` bytes of the body in chunks; stops early when the client stops sending."""
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(READ_BYTES, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def take_event(form: UploadForm, reader: PartReader | None, event: object) -> PartReader | None:
    """One parser event: a new part (its headers), a chunk of its body, or its end (None)."""
    if isinstance(event, multipart.MultipartSegment):
        return PartReader.start(form, event)
    if event is None:
        reader.finish(form)
        return None
    reader.write(form, event)
    return reader


@dataclass
class PartReader:
    """Where one part's bytes go: a bounded buffer for a text field, a spooled file for a photo, or nowhere."""

    name: str
    sink: BinaryIO | bytearray | None
    size: int = 0
    in_memory: bool = True

    @classmethod
    def start(cls, form: UploadForm, segment: multipart.MultipartSegment) -> PartReader:
        filename = filenames.sent_name(segment.header("Content-Disposition", ""))
        if filename is None:
            return cls(segment.name or "", bytearray())
        if segment.name != IMAGE_FIELD:
            return cls(segment.name or "", None)
        spool = tempfile.SpooledTemporaryFile(max_size=PART_SPOOL_BYTES)  # noqa: SIM115 - read_form closes it
        form.files.append(FilePart(filename, spool, 0))
        return cls(segment.name, spool)

    def write(self, form: UploadForm, chunk: bytes) -> None:
        self.size += len(chunk)
        if isinstance(self.sink, bytearray):
            if self.size > FIELD_MAX_BYTES:
                raise TooLarge(f"the form field '{self.name}' is longer than {FIELD_MAX_BYTES} bytes")
            self.sink += chunk
            form.memory += len(chunk)
        elif self.sink is not None:
            self.sink.write(chunk)
            self.spill_if_needed(form, len(chunk))

    def spill_if_needed(self, form: UploadForm, added: int) -> None:
        """Keep the form's parts in memory under ``FORM_MEMORY_BYTES``: past it, this photo moves to disk."""
        if not self.in_memory:
            return
        form.memory += added
        if self.size > PART_SPOOL_BYTES or form.memory > FORM_MEMORY_BYTES:
            self.sink.rollover()
            form.memory -= self.size
            self.in_memory = False

    def finish(self, form: UploadForm) -> None:
        if isinstance(self.sink, bytearray):
            form.fields[self.name] = text_value(self.name, bytes(self.sink))
        elif self.sink is not None:
            self.sink.seek(0)
            form.files[-1].size = self.size


def form_field(environ: Mapping, name: str, limit_bytes: int) -> str | None:
    """One text field of a small form the page posts (url-encoded, or multipart read like an upload's)."""
    content_type, _ = multipart.parse_options_header(environ.get("CONTENT_TYPE", ""))
    if content_type != "multipart/form-data":
        return bottle.request.forms.getunicode(name)
    with read_form(environ, limit_bytes) as form:
        return form.fields.get(name)


def text_value(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"the form field '{filenames.from_header(name)}' must be UTF-8 text") from None


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


def store_upload(
    config: Config,
    conn: sqlite3.Connection,
    job_id: int,
    form: UploadForm,
    user: str,
) -> list[Stored]:
    """Ingest every photo of the form into the job, or raise and leave nothing stored.

    The form's ``geo_*`` fields (the phone's position) are checked before
    any photo is stored, and ignored when ``upload.browser_location`` is off.
    Derivatives are made after, by ``daemon.derive_queue``.
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
