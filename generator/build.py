"""The build: bring ``output/`` up to date with the database and the masters.

Incremental by content: derivatives are named by a hash of their master and
settings, pages are keyed by a hash of what they show, and the manifest
remembers both, so a build with nothing new writes nothing, and a whole
build's stamp (``generator.stamp``) lets the next one find that out without
looking at every photo. Derivatives an upload or import already made from its
check's decode are taken as found (``Build.adopt``): the build makes only
those of photos stored otherwise, or of changed settings. Files are
published in an order a viewer can never catch half-done: assets, then images,
then the pages that show them, and only then are old files removed.

``build_site`` is the one entry point for the CLI, the daemon's debounced
rebuild and the maintenance commands; it holds the maintenance lock, so two
builds never write at once (the second waits, then finds little to do).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection
from dataclasses import dataclass, field, replace

from generator.assets import STATIC_FOLDER, collect_assets
from generator.derivatives import (
    FAILURES,
    KINDS,
    PIPELINE,
    PhotoResult,
    PhotoTask,
    Recipe,
    derivative_name,
    read_published,
)
from generator.handover import Handover
from generator.manifest import FORMAT, Manifest, load_manifest, save_manifest
from generator.pool import run_tasks
from generator.publish import link_file, list_dirs, list_names, prune_folder, remove_tree, write_if_changed
from generator.render import Page, Renderer, index_cards, job_card, photo_view
from generator.stamp import STAMP_NAME, database_digest, read_stamp, remove_stamp, stamp, write_stamp
from jobgallery import db, locks, runs, storage
from jobgallery.config import Config, build_workers
from jobgallery.images import Limits
from jobgallery.progress import Progress

JOBS_FOLDER = "jobs"


@dataclass
class BuildReport:
    """What a build did, photo by photo, for the CLI's summary line and the daemon's log."""

    processed: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    pages_written: int = 0
    files_removed: int = 0
    seconds: float = 0.0
    short_of_space: bool = False  # a photo failed because the output's disk was full (worth trying again later)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (
            f"build: {self.processed} photos processed, {self.skipped} skipped, {len(self.failed)} failed; "
            f"{self.pages_written} pages written, {self.files_removed} files removed in {self.seconds:.2f} s"
        )


def build_site(
    config: Config,
    job_id: int | None = None,
    full: bool = False,
    progress: bool = False,
    pending: Collection[int] = (),
) -> BuildReport:
    """Bring ``output/`` up to date; ``job_id`` limits the work to one job (the index is still kept right).

    Waits for the maintenance lock, so it is safe beside the daemon, timers and maintenance commands.
    Its outcome is recorded (``jobgallery/runs.py``) for the health page and ``jobgallery status``.
    ``pending``: ids of photos whose derivatives someone else is making right now (the daemon's
    upload workers): left off their pages until then, never made twice, their files kept.
    """
    with locks.maintenance_lock(config.paths.data), runs.recorded(config.db_path, "build") as run:
        report = run_build(config, job_id, full, progress, pending)
        run.done(report, quiet=not (report.processed or report.pages_written or report.files_removed))
        return report


def run_build(
    config: Config, job_id: int | None = None, full: bool = False, progress: bool = False, pending: Collection[int] = ()
) -> BuildReport:
    """``build_site`` for a caller that already holds the maintenance lock."""
    started = time.monotonic()
    build = Build(config, full, frozenset(pending))
    # 0. nothing changed in the database or in output/ since the last whole build: nothing to do
    if not full and build.unchanged(job_id):
        build.report.seconds = time.monotonic() - started
        return build.report
    # 1. read the database: every job, and the photos of the jobs this build looks at
    build.load(job_id)
    # 2. content-hashed CSS and JS first, since every page links to them
    build.publish_assets()
    # 3. derivatives missing for live jobs' photos, in a process pool when there are many
    build.make_derivatives(progress)
    # 3b. each live job's PDF report, before the page that links to it (generator/handover.py)
    build.handover.make_reports()
    # 4. job pages (gallery, or a stub for archived jobs), then the index: after the images they show
    build.publish_pages()
    # 4b. share links' pages under s/<token>/; inactive links' folders go (generator/handover.py)
    build.handover.publish_shares()
    # 5. files nothing references any more: old derivatives, archived jobs' images, old paths
    build.remove_stale()
    # 6. remember what is published, for the next build (and, after a whole build, the stamp of it all)
    build.save(job_id is None)
    build.report.seconds = time.monotonic() - started
    return build.report


class Build:
    """The state of one build, step by step."""

    def __init__(self, config: Config, full: bool, pending: frozenset[int] = frozenset()) -> None:
        self.config = config
        self.full = full
        self.pending = pending
        self.waiting = 0  # photos left off their pages because their derivatives are being made elsewhere
        self.output = config.paths.output
        self.report = BuildReport()
        self.manifest = Manifest()
        self.stamp_path = config.paths.data / STAMP_NAME
        self.recipe = Recipe.from_config(config)
        self.assets = collect_assets(config)
        self.renderer = Renderer(config, {name: path for name, (path, _) in self.assets.items()})
        self.settings = self.fingerprint()
        self.present: dict[str, set[str]] = {}  # job folder -> names in it
        self.wanted: dict[int, dict[str, str]] = {}  # image id -> kind -> derivative name
        self.tasks: dict[int, tuple[db.Job, PhotoTask]] = {}
        self.handover = Handover(self)

    def fingerprint(self) -> str:
        """Everything all pages depend on; when it changes, every job is looked at."""
        parts = [FORMAT, PIPELINE, *(self.recipe.params(kind) for kind in KINDS)]
        parts += [self.config.gallery.public_index, self.config.gallery.title, self.renderer.fingerprint]
        parts += sorted(path for path, _ in self.assets.values())
        return hashlib.sha256(repr(parts).encode()).hexdigest()

    def path_of(self, job: db.Job) -> str:
        return job.gallery_path(self.config.gallery.public_index)

    # ------------------------------------------------------------ 1. load

    def unchanged(self, job_id: int | None) -> bool:
        """The stamp of the last whole build still holds: same settings, database and files (``stamp``).

        An asked-for job must still exist (NotFound otherwise), stamp or no stamp.
        """
        found = read_stamp(self.stamp_path)
        if found is None:
            return False
        with db.open_db(self.config.db_path) as conn:
            if job_id is not None:
                db.get_job(conn, job_id)
            self.database = database_digest(conn)
        if stamp(self.settings, self.database, self.output) != found[0]:
            return False
        self.report.skipped = found[1]
        return True

    def load(self, job_id: int | None) -> None:
        self.manifest = load_manifest(self.output)
        with db.open_db(self.config.db_path) as conn:
            self.database = database_digest(conn) if job_id is None else ""  # only a whole build leaves a stamp
            if job_id is not None:
                db.get_job(conn, job_id)
            self.jobs = db.list_jobs(conn)
            self.aliases = db.job_aliases(conn)
            self.scope = self.choose_scope(job_id)
            self.images = db.images_by_job(conn, [job.id for job in self.scope if not job.archived])
            self.newest_id = db.newest_image_id(conn)

    def choose_scope(self, job_id: int | None) -> list[db.Job]:
        """All jobs, or the asked-for one plus any whose published state the manifest does not match."""
        if job_id is None or self.manifest.settings != self.settings:
            return list(self.jobs)
        return [job for job in self.jobs if job.id == job_id or self.out_of_date(job)]

    def out_of_date(self, job: db.Job) -> bool:
        """Published elsewhere or in another state, or showing fewer photos than it has.

        The last clause retries photos that failed in an earlier build (the
        disk was full, say) at the next build of any job, not only at ``--full``.
        """
        known = self.manifest.jobs.get(str(job.id))
        if known is None or known.get("path") != self.path_of(job) or known.get("archived") != job.archived:
            return True
        return not job.archived and (known.get("card") or {}).get("count", 0) < job.image_count

    # ------------------------------------------------------------ 2. assets

    def publish_assets(self) -> None:
        for path, data in self.assets.values():
            write_if_changed(self.output / path, data, self.output)

    # ------------------------------------------------------------ 3. derivatives

    def make_derivatives(self, progress: bool) -> None:
        tasks = [task for job in self.scope if not job.archived for task in self.plan(job)]
        bar = Progress(len(tasks), "building photos") if progress else None
        workers = build_workers(self.config)
        try:
            for result in run_tasks(tasks, workers):
                self.record(result)
                if bar:
                    bar.advance()
        finally:
            if bar:
                bar.close()

    def plan(self, job: db.Job) -> list[PhotoTask]:
        """Tasks for the photos of ``job`` whose derivatives are missing or made with other settings."""
        path = self.path_of(job)
        folder = self.output / path
        present = self.present.setdefault(path, list_names(folder))
        tasks = []
        for image in self.images[job.id]:
            wanted = {kind: derivative_name(image.id, image.sha256, kind, self.recipe) for kind in KINDS}
            self.wanted[image.id] = wanted
            entry = self.manifest.photos.get(str(image.id))
            if entry and entry.get("dir") != path and not self.full:
                entry = self.move_entry(str(image.id), entry, path, wanted, present)
            missing = tuple((k, n) for k, n in wanted.items() if self.full or not has_file(entry, path, k, n, present))
            if not missing or (not self.full and self.adopt(job, image, wanted, present)):
                self.report.skipped += 1
                continue
            if image.id in self.pending:
                self.waiting += 1
                continue
            try:
                master = storage.master_path(self.config.paths.data, job.id, image.filename)
            except ValueError:
                self.report.failed.append((image.filename, "the stored file name is not a plain name"))
                continue
            task = PhotoTask(image.id, image.filename, str(master), str(folder), missing, self.recipe, self.limits)
            task = replace(task, pixels=image.width * image.height)
            self.tasks[image.id] = (job, task)
            tasks.append(task)
        return tasks

    def move_entry(self, key: str, entry: dict, path: str, wanted: dict[str, str], present: set[str]) -> dict:
        """A job's folder moved (``public_index`` flipped): link its still-wanted derivatives into the new one."""
        moved = {"job": entry["job"], "dir": path}
        for kind, name in wanted.items():
            if entry.get(kind, [None])[0] == name and link_file(
                self.output / entry["dir"] / name, self.output / path / name, self.output
            ):
                moved[kind] = entry[kind]
                present.add(name)
        if "thumb" in moved:
            moved["color"] = entry["color"]
        self.manifest.photos[key] = moved
        return moved

    def adopt(self, job: db.Job, image: db.Image, wanted: dict[str, str], present: set[str]) -> bool:
        """Take into the manifest derivatives the photo's ingest made (decode once); False when some are missing.

        Their names say which master and settings made them, and every file
        is written atomically, so a file with the name holds the right bytes.
        """
        path = self.path_of(job)
        if not all(name in present for name in wanted.values()):
            return False
        try:
            sizes, color = read_published(self.output / path, wanted)
        except FAILURES:
            return False
        entry = {kind: [name, *sizes[kind]] for kind, name in wanted.items()}
        self.manifest.photos[str(image.id)] = entry | {"job": job.id, "dir": path, "color": color}
        return True

    @property
    def limits(self) -> Limits:
        return Limits.from_config(self.config)

    def record(self, result: PhotoResult) -> None:
        """Remember a photo's new derivatives in the manifest, or its failure in the report."""
        job, task = self.tasks[result.image_id]
        key = str(result.image_id)
        if result.error:
            self.report.failed.append((result.filename, result.error))
            self.report.short_of_space |= result.disk_full
            self.manifest.photos.pop(key, None)
            return
        path = self.path_of(job)
        entry = self.manifest.photos.get(key) or {}
        entry = entry if entry.get("dir") == path else {}
        entry.update(job=job.id, dir=path)
        for kind, name in task.outputs:
            entry[kind] = [name, *result.sizes[kind]]
            self.present[path].add(name)
        if result.color:
            entry["color"] = result.color
        self.manifest.photos[key] = entry
        self.report.processed += 1

    # ------------------------------------------------------------ 4. pages

    def publish_pages(self) -> None:
        for job in self.scope:
            path = self.path_of(job)
            if job.archived:
                self.publish(self.renderer.archived_page(job, path))
                card = None
            else:
                photos = self.shown_photos(job)
                self.publish(self.renderer.job_page(job, path, photos, self.handover.page_downloads(job)))
                card = job_card(job, path, photos)
            self.manifest.jobs[str(job.id)] = {"path": path, "archived": job.archived, "card": card}
            for old in self.old_paths(job):
                self.publish(self.renderer.moved_page(job, old, path))
        live = [(job, self.path_of(job), self.manifest.jobs[str(job.id)]["card"]) for job in self.jobs]
        self.publish(self.renderer.index_page(index_cards([item for item in live if not item[0].archived])))

    def shown_photos(self, job: db.Job) -> list[dict]:
        """Photos of ``job`` whose derivatives are all published, in gallery order."""
        path = self.path_of(job)
        views = []
        for image in self.images[job.id]:
            entry = self.manifest.photos.get(str(image.id))
            wanted = self.wanted[image.id]
            if entry and all(has_file(entry, path, k, n, self.present[path]) for k, n in wanted.items()):
                views.append(photo_view(image, entry))
        return views

    def old_paths(self, job: db.Job) -> list[str]:
        """Where a renamed job's page used to be (public sites only: private paths carry the token)."""
        if not self.config.gallery.public_index:
            return []
        paths = (f"{JOBS_FOLDER}/{job.id}-{slug}/" for slug in self.aliases.get(job.id, ()))
        return [old for old in paths if old != self.path_of(job)]

    def publish(self, page: Page) -> None:
        """Render and write ``page`` unless the manifest shows it is already published as is."""
        key = page.key(self.renderer.fingerprint)
        target = self.output / page.path
        if not self.full and self.manifest.pages.get(page.path) == key and target.is_file():
            return
        if write_if_changed(target, self.renderer.render(page), self.output):
            self.report.pages_written += 1
        self.manifest.pages[page.path] = key

    # ------------------------------------------------------------ 5. stale files

    def remove_stale(self) -> None:
        assets = {p.split("/", 1)[1] for p, _ in self.assets.values()}
        temps = {n for n in list_names(self.output) if storage.is_temp(n)}
        removed = prune_folder(self.output / STATIC_FOLDER, assets, self.output)
        removed += prune_folder(self.output, set(), self.output, temps)
        for job in self.scope:
            removed += self.prune_job_folder(job)
            removed += sum(prune_folder(self.output / old, {"index.html"}, self.output) for old in self.old_paths(job))
        removed += self.remove_old_folders()
        self.forget_missing()
        self.report.files_removed = removed + self.handover.removed

    def prune_job_folder(self, job: db.Job) -> int:
        """Keep a job's page and the derivatives it shows; everything else in its folder goes.

        Derivatives of photos stored since this build read the database, or
        being made elsewhere (``pending``), are kept too: an upload's worker
        writes them while a build may be running.
        """
        path = self.path_of(job)
        present = self.present.get(path, ())
        keep = {name for name in present if photo_id(name) > self.newest_id or photo_id(name) in self.pending}
        keep.update(("index.html", *self.handover.files_in(path)))
        for image in [] if job.archived else self.images[job.id]:
            entry = self.manifest.photos.get(str(image.id))
            if entry and entry.get("dir") == path:
                keep.update(entry[kind][0] for kind in KINDS if kind in entry)
        return prune_folder(self.output / path, keep, self.output, self.present.get(path))

    def remove_old_folders(self) -> int:
        """Folders of jobs that moved (public_index flipped) or no longer exist."""
        current = {path for job in self.jobs for path in (self.path_of(job), *self.old_paths(job))}
        in_scope = {str(job.id) for job in self.scope}
        everything = len(self.scope) == len(self.jobs)
        removed = 0
        for name in sorted(list_dirs(self.output / JOBS_FOLDER)):
            path = f"{JOBS_FOLDER}/{name}/"
            owner = name.split("-", 1)[0]
            if path not in current and (everything or owner in in_scope or owner not in self.known_ids):
                removed += remove_tree(self.output / path, self.output)
        return removed

    @property
    def known_ids(self) -> set[str]:
        return {str(job.id) for job in self.jobs}

    def forget_missing(self) -> None:
        """Drop manifest entries for photos no longer shown and jobs no longer in the database."""
        known = self.known_ids
        scoped = {job.id: job for job in self.scope}
        shown = {str(i.id) for job in self.scope if not job.archived for i in self.images[job.id]}
        for key, entry in list(self.manifest.photos.items()):
            job = scoped.get(entry.get("job"))
            if str(entry.get("job")) not in known or (job is not None and key not in shown):
                del self.manifest.photos[key]
        self.manifest.jobs = {k: v for k, v in self.manifest.jobs.items() if k in known}
        paths = {v["path"] for v in self.manifest.jobs.values()}
        paths.update(old for job in self.jobs for old in self.old_paths(job))
        self.manifest.pages = {
            p: k for p, k in self.manifest.pages.items() if p == "index.html" or p[: -len("index.html")] in paths
        }

    # ------------------------------------------------------------ 6. manifest

    def save(self, whole: bool) -> None:
        """Every job was looked at under these settings if they changed (``choose_scope``), so record them.

        A whole build that rendered every photo also leaves its stamp: the
        next build with nothing to do stops at step 0. Any other build drops
        the stamp, since it may have left other jobs as they were.
        """
        self.manifest.settings = self.settings
        save_manifest(self.output, self.manifest)
        if whole and self.report.ok and not self.report.short_of_space and not self.waiting:
            count = sum(len(images) for images in self.images.values())
            write_stamp(self.stamp_path, stamp(self.settings, self.database, self.output), count)
        else:
            remove_stamp(self.stamp_path)


def photo_id(name: str) -> int:
    """The image id a derivative's name starts with (``12-thumb-....jpg``), 0 for any other name."""
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() and head.isascii() else 0


def has_file(entry: dict | None, path: str, kind: str, name: str, present: set[str]) -> bool:
    """The manifest says ``name`` was made for this photo in folder ``path``, and it is there."""
    return entry is not None and entry.get("dir") == path and (entry.get(kind) or [None])[0] == name and name in present
