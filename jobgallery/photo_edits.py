"""What the office changes about photos: descriptions and tags (one or many at once) and moving to another job.

Every change is checked like an upload's text (``ingest.clean_details``),
happens in one write transaction with its audit rows, and returns the ids of
the jobs whose pages must be rebuilt.

Moving a photo keeps the rule that a file is durable before its row:
the master is hard-linked into the target job's folder (same file system,
no copy), the row moves in one transaction (which also checks dedupe: a
job never holds the same bytes twice), and only then is the old name
unlinked. A crash in between leaves one extra name, which cleanup removes
after its grace period as it would any file without a row.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from jobgallery import audit, db, storage
from jobgallery.config import Config
from jobgallery.errors import Conflict, NotFound, UsageError
from jobgallery.ingest import clean_details
from jobgallery.locks import maintenance_lock
from jobgallery.selection import chosen_ids

TAG_MODES = ("keep", "set", "add", "remove")


@dataclass(frozen=True)
class DetailsChange:
    """What to do to each photo: a new description (None: keep each one's) and a tag change.

    ``tag_mode``: ``keep`` leaves tags alone, ``set`` replaces them with
    ``tags``, ``add`` adds ``tags`` to each photo's, ``remove`` takes them off.
    """

    description: str | None
    tag_mode: str
    tags: str

    def checked(self) -> DetailsChange:
        if self.tag_mode not in TAG_MODES:
            raise UsageError(f"choose what to do with the tags: {', '.join(TAG_MODES)}")
        details = clean_details(self.description, self.tags)
        if self.description is None and self.tag_mode == "keep":
            raise UsageError("there is nothing to change: give a description or tags")
        description = None if self.description is None else details.description
        return DetailsChange(description, self.tag_mode, details.tags)

    def tags_for(self, current: str) -> str:
        have = db.split_tags(current)
        given = db.split_tags(self.tags)
        if self.tag_mode == "set":
            return db.normalize_tags(self.tags)
        if self.tag_mode == "add":
            return db.normalize_tags(",".join(have + given))
        if self.tag_mode == "remove":
            return ",".join(tag for tag in have if tag not in given)
        return current


def edit_details(
    conn: sqlite3.Connection, image_ids: list[int], change: DetailsChange, who: str
) -> tuple[int, set[int]]:
    """Apply ``change`` to every photo (all or none); how many changed, and the jobs whose pages show them."""
    change = change.checked()
    jobs: set[int] = set()
    changed = 0
    with db.write(conn):
        for image_id in chosen_ids(image_ids):
            image = db.get_image(conn, image_id)
            description = image.description if change.description is None else change.description
            tags = change.tags_for(image.tags)
            if (description, tags) == (image.description, image.tags):
                continue
            conn.execute("UPDATE job_image SET description = ?, tags = ? WHERE id = ?", (description, tags, image_id))
            audit.note(conn, who, "edit", describe_edit(image, description, tags), image.job_id, image.id)
            jobs.add(image.job_id)
            changed += 1
    return changed, jobs


def describe_edit(image: db.Image, description: str, tags: str) -> str:
    parts = []
    if description != image.description:
        parts.append(f"description “{shorten(image.description)}” → “{shorten(description)}”")
    if tags != image.tags:
        parts.append(f"tags “{image.tags}” → “{tags}”")
    return "; ".join(parts)


def shorten(text: str, size: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= size else flat[: size - 1] + "…"


# ---------------------------------------------------------------- moving


def move_photo(config: Config, conn: sqlite3.Connection, image_id: int, target_id: int, who: str) -> db.Image:
    """Move a photo, master and row, to another live job; the photo before the move.

    Conflict when the target already holds the same bytes (in its gallery or its trash); UsageError
    when it is the photo's own job; NotFound for an unknown photo, an unknown or archived job.
    Holds the maintenance lock: the new name has the master's old mtime and no row until the commit,
    which cleanup (or an archive run) must not see half-way.
    """
    with maintenance_lock(config.paths.data):
        return move_locked(config, conn, image_id, target_id, who)


def move_locked(config: Config, conn: sqlite3.Connection, image_id: int, target_id: int, who: str) -> db.Image:
    image = db.get_image(conn, image_id)
    if image.trashed:
        raise Conflict("the photo is in the trash; bring it back before moving it")
    source = db.get_job(conn, image.job_id, live=True)
    target = db.get_job(conn, target_id, live=True)
    if source.id == target.id:
        raise UsageError(f"the photo is already in “{target.title}”")
    refuse_duplicate(conn, image, target)
    old = storage.master_path(config.paths.data, source.id, image.filename)
    new = storage.master_path(config.paths.data, target.id, image.filename)
    link_master(old, new)
    try:
        with db.write(conn):
            current = db.get_image(conn, image_id)
            if (current.job_id, current.deleted_at) != (source.id, None):
                raise Conflict("the photo changed while it was being moved; reload the page and try again")
            refuse_duplicate(conn, image, target)
            conn.execute("UPDATE job_image SET job_id = ? WHERE id = ?", (target.id, image.id))
            detail = f"moved from job {source.id} “{source.title}” to job {target.id} “{target.title}”"
            audit.note(conn, who, "move", detail, target.id, image.id)
            audit.note(conn, who, "move", detail, source.id, image.id)
    except BaseException:
        storage.remove_file(new)
        raise
    storage.remove_file(old)
    return image


def refuse_duplicate(conn: sqlite3.Connection, image: db.Image, target: db.Job) -> None:
    twin = db.find_by_hash(conn, target.id, image.sha256)
    if twin is not None:
        where = "in its trash" if twin.trashed else f"as photo {twin.id}"
        raise Conflict(f"“{target.title}” already has this photo ({where}); it was not moved")


def link_master(old: Path, new: Path) -> None:
    """A second name for the master in the target's folder, durable before the row moves."""
    storage.ensure_dir(new.parent, private=True)
    try:
        os.link(old, new)
    except FileNotFoundError:
        raise NotFound("the photo's master file is missing; run 'jobgallery cleanup' or restore it") from None
    except FileExistsError:
        raise Conflict("a file of the same name is already in the target job; it was not moved") from None
    storage.fsync_dir(new.parent)
