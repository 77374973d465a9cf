"""All SQL lives here: the schema, its migrations and every query.

The daemon and CLI commands run by systemd timers write at the same time, so
every connection uses WAL, a busy timeout and ``synchronous=FULL`` (a commit
that acknowledges an upload survives a power cut), and every write starts
with ``BEGIN IMMEDIATE`` so that two writers queue instead of failing.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import sqlite3
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from jobgallery import capture_time
from jobgallery.errors import NotFound, UnsafePath
from jobgallery.storage import create_private_file, ensure_dir

BUSY_TIMEOUT_MS = 30_000
R = TypeVar("R")

# Each entry moves the schema one version forward; never edit a released one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE job (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        title TEXT NOT NULL,
        slug TEXT NOT NULL,
        token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        archived_at TEXT
    );
    CREATE TABLE job_image (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id INTEGER NOT NULL REFERENCES job (id),
        filename TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        timestamp TEXT NOT NULL,
        location TEXT,
        tags TEXT NOT NULL DEFAULT '',
        sha256 TEXT NOT NULL,
        byte_size INTEGER NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        taken_at TEXT,
        uploaded_by TEXT,
        compressed_at TEXT,
        UNIQUE (job_id, sha256),
        UNIQUE (job_id, filename)
    );
    CREATE INDEX job_image_order ON job_image (job_id, taken_at, id);
    CREATE TABLE user (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        is_admin INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    """,
    # When a job last came back from its archive: activity, so archive --due leaves it alone for a while.
    "ALTER TABLE job ADD COLUMN restored_at TEXT",
    # Browser sessions: only a hash of each token is kept, so a copy of the database signs nobody in.
    """
    CREATE TABLE session (
        token_hash TEXT PRIMARY KEY,
        user_name TEXT NOT NULL REFERENCES user (name) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        address TEXT NOT NULL DEFAULT '',
        user_agent TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX session_user ON session (user_name, expires_at);
    """,
    # Where a photo's position came from: its own EXIF ('camera') or the phone's browser ('browser').
    """
    ALTER TABLE job_image ADD COLUMN location_source TEXT;
    ALTER TABLE job_image ADD COLUMN location_accuracy_m REAL;
    UPDATE job_image SET location_source = 'camera' WHERE location IS NOT NULL;
    """,
    # The capture time's UTC offset ("+01:00") when the photo says; taken_at stays the wall time there.
    "ALTER TABLE job_image ADD COLUMN taken_offset TEXT",
    # Share links: a job handed out for a while under an unguessable token (jobgallery/shares.py).
    """
    CREATE TABLE share (
        token TEXT PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES job (id),
        note TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        created_by TEXT,
        expires_at TEXT,
        revoked_at TEXT
    );
    CREATE INDEX share_job ON share (job_id);
    """,
    # How to send each master without its metadata (jobgallery/clean_copy.py), kept so a zip starts at once.
    """
    CREATE TABLE download_plan (
        image_id INTEGER PRIMARY KEY REFERENCES job_image (id) ON DELETE CASCADE,
        identity TEXT NOT NULL,
        plan TEXT NOT NULL
    );
    """,
    # The office: trash (a deleted photo keeps its master for a while), old slugs of renamed jobs,
    # the audit trail, disabled users and their last sign-in, the results of builds, backups, archives,
    # and one-time sign-in links for a crew member's phone (only a hash of each token).
    """
    ALTER TABLE job_image ADD COLUMN deleted_at TEXT;
    ALTER TABLE job_image ADD COLUMN deleted_by TEXT;
    CREATE INDEX job_image_trash ON job_image (deleted_at) WHERE deleted_at IS NOT NULL;
    CREATE TABLE job_alias (
        job_id INTEGER NOT NULL REFERENCES job (id),
        slug TEXT NOT NULL,
        renamed_at TEXT NOT NULL,
        PRIMARY KEY (job_id, slug)
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        user_name TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        job_id INTEGER,
        image_id INTEGER,
        subject TEXT
    );
    CREATE INDEX audit_image ON audit (image_id, id);
    CREATE INDEX audit_job ON audit (job_id, id);
    ALTER TABLE user ADD COLUMN disabled_at TEXT;
    ALTER TABLE user ADD COLUMN last_sign_in_at TEXT;
    CREATE TABLE run (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        task TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        ok INTEGER NOT NULL,
        summary TEXT NOT NULL
    );
    CREATE INDEX run_task ON run (task, id);
    CREATE TABLE signin_link (
        token_hash TEXT PRIMARY KEY,
        user_name TEXT NOT NULL REFERENCES user (name) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        created_by TEXT NOT NULL
    );
    """,
)


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class Job:
    id: int
    title: str
    slug: str
    token: str
    created_at: str
    archived_at: str | None
    image_count: int = 0

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    def gallery_path(self, public_index: bool = True) -> str:
        """Path of the job's page under ``output/``; private sites add an unguessable token.

        The row's slug and token become a folder name, so a row that was not
        made by ``create_job`` (a crafted database) raises UnsafePath here.
        """
        name = self.slug if public_index else self.token
        if not (valid_slug(self.slug) and valid_token(self.token)) or type(self.id) is not int:
            raise UnsafePath(f"job {self.id!r} has a slug or token that is not a plain name: {name[:80]!r}")
        return f"jobs/{self.id}-{name}/"


@dataclass(frozen=True)
class Image:
    id: int
    job_id: int
    filename: str
    description: str
    timestamp: str
    location: str | None
    tags: str
    sha256: str
    byte_size: int
    width: int
    height: int
    taken_at: str | None
    uploaded_by: str | None
    compressed_at: str | None
    location_source: str | None = None
    location_accuracy_m: float | None = None
    taken_offset: str | None = None
    deleted_at: str | None = None

    @property
    def trashed(self) -> bool:
        return self.deleted_at is not None

    @property
    def tag_list(self) -> list[str]:
        return split_tags(self.tags)


@dataclass(frozen=True)
class User:
    name: str
    password_hash: str
    is_admin: bool
    created_at: str
    disabled_at: str | None = None
    last_sign_in_at: str | None = None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    @property
    def role(self) -> str:
        return "admin" if self.is_admin else "crew"


def record(cls: type[R], row: sqlite3.Row | None) -> R | None:
    """A row as its record type, ignoring columns the record does not name (added by later migrations)."""
    if row is None:
        return None
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in dict(row).items() if k in names})


def valid_id(value: int) -> bool:
    """Ids SQLite can hold; a larger number from a URL names nothing rather than overflowing."""
    return 0 < value < 2**63


def now_iso() -> str:
    """UTC time stamp as stored in every ``*_at`` column."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def split_tags(text: str) -> list[str]:
    return [t for t in (part.strip() for part in (text or "").split(",")) if t]


def normalize_tags(text: str | None) -> str:
    """Comma-separated, trimmed, de-duplicated tags in their first-seen order."""
    seen: dict[str, None] = {}
    for tag in split_tags(text or ""):
        seen.setdefault(tag, None)
    return ",".join(seen)


MAX_SLUG = 40
SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
TOKEN_BYTES = 12
TOKEN_PATTERN = re.compile(rf"[0-9a-f]{{{2 * TOKEN_BYTES}}}")


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:MAX_SLUG].rstrip("-") or "job"


def valid_slug(slug: object) -> bool:
    """A slug as ``slugify`` makes them: lower-case ASCII words joined by single hyphens."""
    return isinstance(slug, str) and len(slug) <= MAX_SLUG and SLUG_PATTERN.fullmatch(slug) is not None


def valid_token(token: object) -> bool:
    """A page token as ``create_job`` makes them: 24 lower-case hex digits."""
    return isinstance(token, str) and TOKEN_PATTERN.fullmatch(token) is not None


# ---------------------------------------------------------------- connections


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating and migrating if needed) the database at ``path``; a new one and its folder are private."""
    ensure_dir(path.parent, private=True)
    create_private_file(path)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(conn)
    return conn


@contextlib.contextmanager
def open_db(path: Path) -> Iterator[sqlite3.Connection]:
    conn = connect(path)
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that takes the write lock up front (``BEGIN IMMEDIATE``)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations this file has not yet seen, each in its own transaction."""
    if schema_version(conn) >= len(MIGRATIONS):
        return
    with write(conn):
        for version in range(schema_version(conn), len(MIGRATIONS)):
            for statement in split_statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")


def split_statements(script: str) -> list[str]:
    """``executescript`` would commit our transaction, so run statements one by one."""
    return [s.strip() for s in script.split(";") if s.strip()]


# ---------------------------------------------------------------- jobs

JOB_COLUMNS = "job.id, job.title, job.slug, job.token, job.created_at, job.archived_at"
JOB_WITH_COUNT = f"""
    SELECT {JOB_COLUMNS}, (
        SELECT COUNT(*) FROM job_image WHERE job_image.job_id = job.id AND job_image.deleted_at IS NULL
    ) AS image_count
    FROM job
"""


def create_job(conn: sqlite3.Connection, title: str) -> Job:
    with write(conn):
        cursor = conn.execute(
            "INSERT INTO job (title, slug, token, created_at) VALUES (?, ?, ?, ?)",
            (title, slugify(title), secrets.token_hex(TOKEN_BYTES), now_iso()),
        )
    return get_job(conn, cursor.lastrowid)


def get_job(conn: sqlite3.Connection, job_id: int, live: bool = False) -> Job:
    """The job with ``job_id``; NotFound when missing (or archived, with ``live``)."""
    if not valid_id(job_id):
        raise NotFound(f"job {job_id} does not exist")
    job = record(Job, conn.execute(f"{JOB_WITH_COUNT} WHERE job.id = ?", (job_id,)).fetchone())
    if job is None or (live and job.archived):
        raise NotFound(f"job {job_id} does not exist" if job is None else f"job {job_id} is archived")
    return job


def list_jobs(conn: sqlite3.Connection, live_only: bool = False) -> list[Job]:
    """Jobs newest first (by creation)."""
    where = "WHERE job.archived_at IS NULL" if live_only else ""
    rows = conn.execute(f"{JOB_WITH_COUNT} {where} ORDER BY job.created_at DESC, job.id DESC")
    return [record(Job, row) for row in rows]


def rename_job(conn: sqlite3.Connection, job_id: int, title: str) -> Job:
    """Give a job a new title and the slug that follows it, inside the caller's write transaction.

    The old slug is kept (``job_alias``) so the generator can leave a page at
    the old path that links to the new one; going back to an old title takes
    its slug out of the aliases again. Returns the job as it was.
    """
    before = get_job(conn, job_id)
    slug = slugify(title)
    if slug != before.slug:
        conn.execute(
            "INSERT OR IGNORE INTO job_alias (job_id, slug, renamed_at) VALUES (?, ?, ?)",
            (job_id, before.slug, now_iso()),
        )
        conn.execute("DELETE FROM job_alias WHERE job_id = ? AND slug = ?", (job_id, slug))
    conn.execute("UPDATE job SET title = ?, slug = ? WHERE id = ?", (title, slug, job_id))
    return before


def job_aliases(conn: sqlite3.Connection) -> dict[int, list[str]]:
    """Old slugs of renamed jobs, by job id, oldest first; only slugs that are plain names are returned."""
    aliases: dict[int, list[str]] = {}
    for job_id, slug in conn.execute("SELECT job_id, slug FROM job_alias ORDER BY job_id, renamed_at, slug"):
        if valid_slug(slug):
            aliases.setdefault(job_id, []).append(slug)
    return aliases


@dataclass(frozen=True)
class JobFigures:
    """What the office's jobs page shows beside a job: last upload, bytes of masters, photos in the trash."""

    last_upload: str | None = None
    master_bytes: int = 0
    trashed: int = 0


def job_figures(conn: sqlite3.Connection) -> dict[int, JobFigures]:
    """``JobFigures`` of every job with photos, in one query."""
    rows = conn.execute(
        """SELECT job_id, MAX(timestamp), SUM(byte_size), SUM(deleted_at IS NOT NULL)
           FROM job_image GROUP BY job_id"""
    )
    return {row[0]: JobFigures(row[1], row[2] or 0, row[3] or 0) for row in rows}


def set_archived(conn: sqlite3.Connection, job_id: int, archived_at: str | None) -> None:
    """Mark a job archived at a time, or live again with None."""
    with write(conn):
        conn.execute("UPDATE job SET archived_at = ? WHERE id = ?", (archived_at, job_id))


def archive_if_unchanged(conn: sqlite3.Connection, job_id: int, image_ids: set[int], archived_at: str) -> bool:
    """Mark a live job archived only if its images are exactly ``image_ids`` (those in its archive file).

    An upload that lands while the archive is written changes the set, and the
    job stays live rather than losing the new photo. The job's trash is
    emptied in the same transaction (archiving closes the job; its masters go
    with the rest of its folder).
    """
    with write(conn):
        live = conn.execute("SELECT 1 FROM job WHERE id = ? AND archived_at IS NULL", (job_id,)).fetchone()
        rows = conn.execute(f"SELECT id FROM job_image WHERE job_id = ? AND {SHOWN}", (job_id,))
        if live is None or {row[0] for row in rows} != image_ids:
            return False
        conn.execute("UPDATE job SET archived_at = ? WHERE id = ?", (archived_at, job_id))
        conn.execute("DELETE FROM job_image WHERE job_id = ? AND deleted_at IS NOT NULL", (job_id,))
    return True


def jobs_idle_since(conn: sqlite3.Connection, cutoff: str) -> list[Job]:
    """Live jobs with no job creation, restore or upload after ``cutoff``: candidates for archival."""
    rows = conn.execute(
        f"""{JOB_WITH_COUNT}
        WHERE job.archived_at IS NULL AND job.created_at < :cutoff
          AND (job.restored_at IS NULL OR job.restored_at < :cutoff)
          AND NOT EXISTS (SELECT 1 FROM job_image i WHERE i.job_id = job.id AND i.timestamp >= :cutoff)
        ORDER BY job.id""",
        {"cutoff": cutoff},
    )
    return [record(Job, row) for row in rows]


def restore_job(conn: sqlite3.Connection, job: Job, images: list[Image]) -> dict[int, int]:
    """Put back a job and its rows under their original ids (idempotent); the restore counts as activity.

    A photo whose id now names another row (the box was rebuilt from an older
    backup and the id was used again) comes back under a fresh id; the
    returned dict maps each such old id to its new one.
    """
    moved: dict[int, int] = {}
    with write(conn):
        conn.execute(
            """INSERT INTO job (id, title, slug, token, created_at, archived_at, restored_at)
               VALUES (?, ?, ?, ?, ?, NULL, ?)
               ON CONFLICT (id) DO UPDATE SET archived_at = NULL, restored_at = excluded.restored_at""",
            (job.id, job.title, job.slug, job.token, job.created_at, now_iso()),
        )
        for image in images:
            current = conn.execute("SELECT job_id, filename FROM job_image WHERE id = ?", (image.id,)).fetchone()
            if current is None or tuple(current) == (image.job_id, image.filename):
                insert_image_row(conn, image)
            else:
                values = {f.name: getattr(image, f.name) for f in fields(Image) if f.name != "id"}
                moved[image.id] = add_image(conn, **values)
    return moved


# ---------------------------------------------------------------- images

IMAGE_ORDER = "ORDER BY COALESCE(taken_at, timestamp), id"
SHOWN = "deleted_at IS NULL"


def insert_image(conn: sqlite3.Connection, **values) -> Image:
    """Insert one image row and commit it; the master file must already be durable."""
    with write(conn):
        image_id = add_image(conn, **values)
    return get_image(conn, image_id)


def add_image(conn: sqlite3.Connection, **values) -> int:
    """Insert one image row inside the caller's ``write`` transaction; return its id.

    Ingest checks for a duplicate, publishes the master and inserts the row in
    one transaction, so two uploads of the same bytes cannot both be stored.
    """
    values.setdefault("timestamp", now_iso())
    values["tags"] = normalize_tags(values.get("tags"))
    values["description"] = values.get("description") or ""
    names = ", ".join(values)
    marks = ", ".join(f":{name}" for name in values)
    return conn.execute(f"INSERT INTO job_image ({names}) VALUES ({marks})", values).lastrowid


def insert_image_row(conn: sqlite3.Connection, image: Image) -> None:
    """Insert a full row with its id inside the caller's transaction; a row already there is kept."""
    values = {f.name: getattr(image, f.name) for f in fields(Image)}
    names = ", ".join(values)
    marks = ", ".join(f":{name}" for name in values)
    conn.execute(f"INSERT INTO job_image ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING", values)


def get_image(conn: sqlite3.Connection, image_id: int) -> Image:
    if not valid_id(image_id):
        raise NotFound(f"image {image_id} does not exist")
    image = record(Image, conn.execute("SELECT * FROM job_image WHERE id = ?", (image_id,)).fetchone())
    if image is None:
        raise NotFound(f"image {image_id} does not exist")
    return image


def find_by_hash(conn: sqlite3.Connection, job_id: int, sha256: str) -> Image | None:
    row = conn.execute("SELECT * FROM job_image WHERE job_id = ? AND sha256 = ?", (job_id, sha256)).fetchone()
    return record(Image, row)


def list_images(conn: sqlite3.Connection, job_id: int) -> list[Image]:
    """A job's images in gallery order: the instant each was taken (upload time when unknown), then id.

    Photos in the trash are left out here and in ``images_by_job``: the pages, the zip and the report
    are made from these two, so a deleted photo leaves all of them at the next build.
    """
    rows = conn.execute(f"SELECT * FROM job_image WHERE job_id = ? AND {SHOWN} {IMAGE_ORDER}", (job_id,))
    return capture_time.in_order(record(Image, row) for row in rows)


def images_by_job(conn: sqlite3.Connection, job_ids: list[int]) -> dict[int, list[Image]]:
    """The images of many jobs in one query, each job's in gallery order (a site build reads thousands)."""
    columns = ", ".join(f.name for f in fields(Image))
    ids = "[" + ",".join(str(int(job_id)) for job_id in job_ids) + "]"
    rows = conn.execute(
        f"SELECT {columns} FROM job_image WHERE job_id IN (SELECT value FROM json_each(?)) AND {SHOWN} {IMAGE_ORDER}",
        (ids,),
    )
    grouped: dict[int, list[Image]] = {job_id: [] for job_id in job_ids}
    for row in rows:
        grouped[row[1]].append(Image(*row))
    return {job_id: capture_time.in_order(images) for job_id, images in grouped.items()}


def newest_image_id(conn: sqlite3.Connection) -> int:
    """The highest image id in use (0 for none): a derivative named with a higher one was made after this read."""
    return conn.execute("SELECT COALESCE(MAX(id), 0) FROM job_image").fetchone()[0]


def delete_image(conn: sqlite3.Connection, image_id: int) -> Image:
    """Delete one image row; its files become orphans that cleanup and the next build remove."""
    with write(conn):
        image = get_image(conn, image_id)
        conn.execute("DELETE FROM job_image WHERE id = ?", (image_id,))
    return image


def delete_image_row(conn: sqlite3.Connection, job_id: int, filename: str) -> None:
    """Drop a row whose master is gone (cleanup)."""
    with write(conn):
        conn.execute("DELETE FROM job_image WHERE job_id = ? AND filename = ?", (job_id, filename))


def image_files(conn: sqlite3.Connection) -> set[tuple[int, str]]:
    """Every (job_id, filename) that has a row, for orphan detection."""
    return {(row[0], row[1]) for row in conn.execute("SELECT job_id, filename FROM job_image")}


def image_exists(conn: sqlite3.Connection, job_id: int, filename: str) -> bool:
    """Whether a row names this master; cleanup asks again just before it deletes a file."""
    row = conn.execute("SELECT 1 FROM job_image WHERE job_id = ? AND filename = ?", (job_id, filename)).fetchone()
    return row is not None


def live_images(conn: sqlite3.Connection) -> list[Image]:
    """Every image of a live job: cleanup looks for rows whose master is missing."""
    rows = conn.execute(
        """SELECT job_image.* FROM job_image JOIN job ON job.id = job_image.job_id
           WHERE job.archived_at IS NULL ORDER BY job_image.id"""
    )
    return [record(Image, row) for row in rows]


def images_to_compress(conn: sqlite3.Connection, cutoff: str) -> list[Image]:
    """Live jobs' images uploaded before ``cutoff`` and never recompressed."""
    rows = conn.execute(
        f"""SELECT job_image.* FROM job_image JOIN job ON job.id = job_image.job_id
            WHERE job.archived_at IS NULL AND job_image.compressed_at IS NULL AND job_image.timestamp < ?
            {IMAGE_ORDER}""",
        (cutoff,),
    )
    return [record(Image, row) for row in rows]


def mark_compressed(conn: sqlite3.Connection, image_id: int, byte_size: int | None) -> None:
    """Record that an image was looked at by compress; ``byte_size`` is None when it was kept as is."""
    with write(conn):
        conn.execute(
            "UPDATE job_image SET compressed_at = ?, byte_size = COALESCE(?, byte_size) WHERE id = ?",
            (now_iso(), byte_size, image_id),
        )


# ---------------------------------------------------------------- users


def save_user(conn: sqlite3.Connection, name: str, password_hash: str, is_admin: bool) -> bool:
    """Create a user or reset its password and role; True when the user is new.

    A reset ends the user's browser sessions in the same transaction: a new
    password or a lost admin right takes effect on every phone at once.
    """
    with write(conn):
        existed = conn.execute("SELECT 1 FROM user WHERE name = ?", (name,)).fetchone() is not None
        conn.execute(
            """INSERT INTO user (name, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, is_admin = excluded.is_admin""",
            (name, password_hash, int(is_admin), now_iso()),
        )
        conn.execute("DELETE FROM session WHERE user_name = ?", (name,))
        conn.execute("DELETE FROM signin_link WHERE user_name = ?", (name,))
    return not existed


def delete_user(conn: sqlite3.Connection, name: str) -> None:
    """Remove a user and its sessions; NotFound when there is no such user."""
    with write(conn):
        conn.execute("DELETE FROM session WHERE user_name = ?", (name,))
        if conn.execute("DELETE FROM user WHERE name = ?", (name,)).rowcount == 0:
            raise NotFound(f"there is no user named {name!r}")


def get_user(conn: sqlite3.Connection, name: str) -> User | None:
    row = conn.execute("SELECT * FROM user WHERE name = ?", (name,)).fetchone()
    return None if row is None else user_record(row)


def user_record(row: sqlite3.Row) -> User:
    return User(
        row["name"],
        row["password_hash"],
        bool(row["is_admin"]),
        row["created_at"],
        row["disabled_at"],
        row["last_sign_in_at"],
    )


def list_users(conn: sqlite3.Connection) -> list[User]:
    """Every user, by name."""
    return [user_record(row) for row in conn.execute("SELECT * FROM user ORDER BY name")]


def set_user_state(conn: sqlite3.Connection, name: str, disabled_at: str | None, admin: bool | None = None) -> None:
    """Disable (a time) or enable (None) a user, optionally changing its role; its sessions end in the same
    transaction, so a disabled user's phone is signed out at its next request. NotFound for no such user."""
    with write(conn):
        found = conn.execute(
            "UPDATE user SET disabled_at = ?, is_admin = COALESCE(?, is_admin) WHERE name = ?",
            (disabled_at, None if admin is None else int(admin), name),
        )
        if found.rowcount == 0:
            raise NotFound(f"there is no user named {name!r}")
        conn.execute("DELETE FROM session WHERE user_name = ?", (name,))
        conn.execute("DELETE FROM signin_link WHERE user_name = ?", (name,))


def count_admins(conn: sqlite3.Connection) -> int:
    """Admins who can still sign in."""
    return conn.execute("SELECT COUNT(*) FROM user WHERE is_admin AND disabled_at IS NULL").fetchone()[0]


def count_users(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM user").fetchone()[0]


def known_hashes(conn: sqlite3.Connection, job_id: int, hashes: list[str]) -> list[str]:
    """Which of ``hashes`` (lowercase hex SHA-256 of uploaded bytes) the job already stores, in their order."""
    rows = conn.execute(
        f"SELECT value FROM json_each(?) WHERE value IN (SELECT sha256 FROM job_image WHERE job_id = ? AND {SHOWN})"
        " ORDER BY key",
        (json.dumps(hashes), job_id),
    )
    return [row[0] for row in rows]


# ---------------------------------------------------------------- browser sessions


@dataclass(frozen=True)
class SessionRow:
    token_hash: str
    user_name: str
    created_at: str
    last_seen_at: str
    expires_at: str
    address: str
    user_agent: str


def add_session(conn: sqlite3.Connection, row: SessionRow) -> None:
    """Store a new session; sessions that have expired are swept out in the same transaction."""
    with write(conn):
        conn.execute("DELETE FROM session WHERE expires_at <= ?", (row.created_at,))
        conn.execute("UPDATE user SET last_sign_in_at = ? WHERE name = ?", (row.created_at, row.user_name))
        conn.execute(
            """INSERT INTO session (token_hash, user_name, created_at, last_seen_at, expires_at, address, user_agent)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            tuple(getattr(row, f.name) for f in fields(SessionRow)),
        )


def find_session(conn: sqlite3.Connection, token_hash: str, now: str) -> tuple[SessionRow, User] | None:
    """The live session with this token hash and its user as stored right now, or None."""
    row = conn.execute(
        """SELECT session.*, user.password_hash, user.is_admin, user.created_at AS user_created_at,
                  user.last_sign_in_at
           FROM session JOIN user ON user.name = session.user_name
           WHERE session.token_hash = ? AND session.expires_at > ? AND user.disabled_at IS NULL""",
        (token_hash, now),
    ).fetchone()
    if row is None:
        return None
    user = User(
        row["user_name"],
        row["password_hash"],
        bool(row["is_admin"]),
        row["user_created_at"],
        last_sign_in_at=row["last_sign_in_at"],
    )
    return record(SessionRow, row), user


def extend_session(conn: sqlite3.Connection, token_hash: str, last_seen_at: str, expires_at: str) -> None:
    """Slide a session's expiry forward (it was just used)."""
    with write(conn):
        conn.execute(
            "UPDATE session SET last_seen_at = ?, expires_at = ? WHERE token_hash = ?",
            (last_seen_at, expires_at, token_hash),
        )


def delete_session(conn: sqlite3.Connection, token_hash: str) -> None:
    with write(conn):
        conn.execute("DELETE FROM session WHERE token_hash = ?", (token_hash,))


def list_sessions(conn: sqlite3.Connection, user_name: str, now: str) -> list[SessionRow]:
    """A user's live sessions, most recently used first."""
    rows = conn.execute(
        "SELECT * FROM session WHERE user_name = ? AND expires_at > ? ORDER BY last_seen_at DESC, created_at DESC",
        (user_name, now),
    )
    return [record(SessionRow, row) for row in rows]


def delete_sessions(conn: sqlite3.Connection, user_name: str) -> int:
    """End every session of a user; how many were ended."""
    with write(conn):
        return conn.execute("DELETE FROM session WHERE user_name = ?", (user_name,)).rowcount


# ---------------------------------------------------------------- share links


@dataclass(frozen=True)
class ShareRow:
    token: str
    job_id: int
    note: str
    created_at: str
    created_by: str | None
    expires_at: str | None  # UTC instant; None: never
    revoked_at: str | None


def add_share(conn: sqlite3.Connection, row: ShareRow) -> None:
    """Store a new share link of a live job; NotFound when the job is missing or archived."""
    with write(conn):
        get_job(conn, row.job_id, live=True)
        names = ", ".join(f.name for f in fields(ShareRow))
        marks = ", ".join("?" for _ in fields(ShareRow))
        conn.execute(
            f"INSERT INTO share ({names}) VALUES ({marks})", tuple(getattr(row, f.name) for f in fields(ShareRow))
        )


def list_shares(conn: sqlite3.Connection, job_id: int | None = None) -> list[ShareRow]:
    """Share links, newest first; of one job when ``job_id`` is given."""
    where, args = ("WHERE job_id = ?", (job_id,)) if job_id is not None else ("", ())
    rows = conn.execute(f"SELECT * FROM share {where} ORDER BY created_at DESC, rowid DESC", args)
    return [record(ShareRow, row) for row in rows]


def get_share(conn: sqlite3.Connection, token: str) -> ShareRow | None:
    return record(ShareRow, conn.execute("SELECT * FROM share WHERE token = ?", (token,)).fetchone())


def active_shares(conn: sqlite3.Connection, now: str) -> list[ShareRow]:
    """Links that answer right now: neither revoked nor past their expiry."""
    rows = conn.execute(
        """SELECT * FROM share WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
           ORDER BY job_id, created_at, token""",
        (now,),
    )
    return [record(ShareRow, row) for row in rows]


def revoke_share(conn: sqlite3.Connection, token: str, revoked_at: str) -> ShareRow:
    """Mark a link revoked (a second revoke keeps the first time); NotFound when there is no such link."""
    with write(conn):
        conn.execute("UPDATE share SET revoked_at = COALESCE(revoked_at, ?) WHERE token = ?", (revoked_at, token))
        share = get_share(conn, token)
    if share is None:
        raise NotFound("there is no share link with that token")
    return share


# ---------------------------------------------------------------- download plans (a cache of clean_copy's work)


def download_plans(conn: sqlite3.Connection, image_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Image id -> (identity of the master when planned, plan as JSON) for those that have one."""
    ids = "[" + ",".join(str(int(image_id)) for image_id in image_ids) + "]"
    rows = conn.execute(
        "SELECT image_id, identity, plan FROM download_plan WHERE image_id IN (SELECT value FROM json_each(?))", (ids,)
    )
    return {row[0]: (row[1], row[2]) for row in rows}


def save_download_plans(conn: sqlite3.Connection, plans: list[tuple[int, str, str]]) -> None:
    """Store (image id, identity, plan) rows, replacing older ones; rows of images gone meanwhile are skipped."""
    with write(conn):
        conn.executemany(
            """INSERT INTO download_plan (image_id, identity, plan)
               SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM job_image WHERE id = ?1)
               ON CONFLICT (image_id) DO UPDATE SET identity = excluded.identity, plan = excluded.plan""",
            plans,
        )
