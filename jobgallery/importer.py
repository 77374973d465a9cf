"""Bulk import: every photo under a folder into one job (``jobgallery import``).

A crew lead copies a phone's or camera's card at the end of the day. The
main process walks the folder, copies each file into the job's folder under
a temp name while hashing it (I/O) and turns away duplicates at once; worker
processes prove the rest are photos and read their EXIF (CPU); the main
process then stores each one exactly as an upload is stored. At most two
files per worker are in flight, so memory and temp space stay bounded
however big the card is.

Hidden files and folders are skipped silently. Files whose names say they
are something else (a Live Photo's video, notes, PDFs, sidecars: see
``file_kinds``) are skipped and listed with what they are, and so is a file
with a name that says nothing whose content is no image at all; neither makes
the import fail. A file named like a photo is always tried and, if it is not
a supported photo (damaged, disguised, RAW, a bomb), refused with its reason.
Symbolic links are refused too, never followed: nothing outside the folder is read.
"""

from __future__ import annotations

import contextlib
import errno
import multiprocessing
import os
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from jobgallery import db, file_kinds, filenames, images, ingest, storage
from jobgallery.config import Config, build_workers
from jobgallery.decode_budget import DECODES
from jobgallery.errors import EmptyUpload, JobGalleryError, UsageError
from jobgallery.workers import start_worker

# Below this many files, starting worker processes costs more than it saves.
POOL_MIN_FILES = 8
IN_FLIGHT_PER_WORKER = 2
SYMLINK_REASON = "a symbolic link: not followed"
NO_IMAGE_REASON = "not a photo (no image inside)"

Checker = Callable[[ingest.Staged], Future]


@dataclass
class Scan:
    """What a walk of the folder found: files to try, others skipped (name, what it is), places it could not read."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    def name(self, path: Path | str) -> str:
        """The path relative to the folder, decoded leniently for reports (a name never stops an import)."""
        return filenames.for_display(filenames.from_file_system(Path(path).relative_to(self.folder).as_posix()))


@dataclass
class ImportReport:
    """Per-file outcome of an import, by name relative to the folder."""

    imported: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


# ---------------------------------------------------------------- finding the files


def is_hidden(name: str) -> bool:
    return name.startswith(".")


def scan(folder: Path) -> Scan:
    """Walk ``folder`` recursively in name order; symbolic links (to files or folders) are refused, not followed.

    A link on a card or in a copied folder may point anywhere on the box (a
    key, another job's photos): nothing outside ``folder`` is read.
    """
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    found = Scan(folder)

    def unreadable(error: OSError) -> None:
        found.refused.append((found.name(error.filename), f"cannot read this folder: {error.strerror}"))

    for root, dirs, files in os.walk(folder, onerror=unreadable):
        linked = [d for d in dirs if not is_hidden(d) and (Path(root) / d).is_symlink()]
        found.refused += [(found.name(Path(root) / d), SYMLINK_REASON) for d in sorted(linked)]
        dirs[:] = sorted(d for d in dirs if not is_hidden(d) and d not in linked)
        for name in sorted(files):
            path = Path(root) / name
            if is_hidden(name):
                continue
            if file_kinds.other_kind(name):
                found.skipped.append((found.name(path), file_kinds.other_kind(name)))
            elif path.is_symlink():
                found.refused.append((found.name(path), SYMLINK_REASON))
            elif path.is_file():
                found.files.append(path)
            else:
                found.refused.append((found.name(path), "not a regular file"))
    return found


# ---------------------------------------------------------------- importing them


def import_files(
    config: Config,
    conn: sqlite3.Connection,
    job_id: int,
    found: Scan,
    details: ingest.Details,
    on_done: Callable[[], object] | None = None,
    derivatives: ingest.Derivatives | None = None,
) -> ImportReport:
    """Ingest every file of ``found`` into job ``job_id``; ``on_done`` is called once per file.

    ``derivatives`` makes each photo's derivatives in the worker that checks it (decode once).
    """
    db.get_job(conn, job_id, live=True)
    run = ImportRun(config, conn, job_id, found, details, on_done or (lambda: None), derivatives)
    fresh = not run.folder.is_dir()
    try:
        with checker(config, len(found.files), derivatives) as check:
            run.all(check, in_flight=IN_FLIGHT_PER_WORKER * worker_count(config, len(found.files)))
    finally:
        if fresh and not run.report.imported:
            ingest.remove_folder_if_empty(run.folder)
    return run.report


class ImportRun:
    """One import's state: the report so far and the files being checked."""

    def __init__(
        self,
        config: Config,
        conn: sqlite3.Connection,
        job_id: int,
        found: Scan,
        details: ingest.Details,
        on_done: Callable[[], object],
        derivatives: ingest.Derivatives | None = None,
    ) -> None:
        self.conn = conn
        self.derivatives = derivatives
        self.job_id = job_id
        self.found = found
        self.details = details
        self.on_done = on_done
        self.folder = storage.job_folder(config.paths.data, job_id)
        self.report = ImportReport(skipped=list(found.skipped), refused=list(found.refused))
        self.pending: dict[Future, tuple[str, ingest.Staged]] = {}

    def all(self, check: Checker, in_flight: int) -> None:
        """Stage each file, hand it to ``check``, store results as they come; no temp left on any exit."""
        try:
            for path in self.found.files:
                self.stage(path, check)
                while len(self.pending) >= in_flight:
                    self.collect(wait(self.pending, return_when=FIRST_COMPLETED).done)
            while self.pending:
                self.collect(wait(self.pending, return_when=FIRST_COMPLETED).done)
        except BrokenProcessPool:
            raise JobGalleryError("a worker process died while checking photos (out of memory?)") from None
        finally:
            for future, (_name, staged) in self.pending.items():
                future.cancel()
                ingest.discard(staged.temp)

    def stage(self, path: Path, check: Checker) -> None:
        """Copy one file in; a duplicate is answered at once, anything else goes to ``check``."""
        name = self.found.name(path)
        staged = self.copy(name, path)
        if staged is None:
            return
        if db.find_by_hash(self.conn, self.job_id, staged.sha256) is not None:
            ingest.discard(staged.temp)
            self.done(self.report.duplicates, name)
            return
        try:
            self.pending[check(staged)] = (name, staged)
        except BaseException:
            ingest.discard(staged.temp)
            raise

    def copy(self, name: str, path: Path) -> ingest.Staged | None:
        """Stage the file; a file whose name says nothing and whose content is no image is skipped instead."""
        try:
            with open_no_follow(path) as stream:
                prefix = stream.read(images.SIGNATURE_BYTES)
                if not file_kinds.says_photo(name) and images.prefix_format(prefix) is None:
                    self.done(self.report.skipped, (name, NO_IMAGE_REASON))
                    return None
                stream.seek(0)
                return ingest.stage(self.folder, stream)
        except EmptyUpload:
            self.refuse(name, "the file is empty")
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                self.refuse(name, SYMLINK_REASON)
                return None
            self.refuse(name, f"cannot read it: {exc.strerror or exc}")
        return None

    def collect(self, finished: set[Future]) -> None:
        for future in sorted(finished, key=list(self.pending).index):
            name, staged = self.pending.pop(future)
            try:
                prepared = future.result()
            except JobGalleryError as exc:
                ingest.discard(staged.temp)
                self.refuse(name, str(exc))
                continue
            except BaseException:
                ingest.discard(staged.temp)
                raise
            result = ingest.store(self.conn, self.job_id, prepared, self.details, self.derivatives)
            self.done(self.report.duplicates if result.duplicate else self.report.imported, name)

    def refuse(self, name: str, reason: str) -> None:
        self.report.refused.append((name, reason))
        self.on_done()

    def done(self, outcome: list, name: object) -> None:
        outcome.append(name)
        self.on_done()


def open_no_follow(path: Path) -> BinaryIO:
    """Open ``path`` for reading unless it is a symbolic link (ELOOP): one put there since the walk is not followed."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")


# ---------------------------------------------------------------- where the checking runs


def worker_count(config: Config, files: int) -> int:
    """``build.workers`` processes (0: one per core), or none for a handful of files."""
    if files < POOL_MIN_FILES:
        return 1
    return max(1, min(build_workers(config), files))


@contextlib.contextmanager
def checker(config: Config, files: int, derivatives: ingest.Derivatives | None = None) -> Iterator[Checker]:
    """A function that starts checking a staged file: in worker processes when it pays, else right here.

    Workers come from ``forkserver``: forking a process that may run threads
    (the daemon's) can deadlock.
    """
    limits = (images.Limits.from_config(config), config.images.master_max_px, derivatives)
    workers = worker_count(config, files)
    if workers == 1:
        yield lambda staged: run_now(ingest.prepare, staged, *limits)
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["jobgallery.ingest", "generator.worker"] if derivatives else ["jobgallery.ingest"])
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=start_worker, initargs=(DECODES.path,))
    try:
        yield lambda staged: pool.submit(ingest.prepare, staged, *limits)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_now(func: Callable, *args) -> Future:
    """Run ``func`` in this process and wrap the outcome as a finished Future."""
    future: Future = Future()
    try:
        future.set_result(func(*args))
    except JobGalleryError as exc:
        future.set_exception(exc)
    return future
