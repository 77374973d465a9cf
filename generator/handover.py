"""The build's steps for handing a job over: its published report, its download link, its share pages.

Per live job in a build's scope, after its derivatives are made:

- the report, ``<slug>-report-<hash>.pdf`` in the job's folder, named by a
  hash of everything it shows (``ReportInput.key``): an unchanged job keeps
  its file (no render), a changed one gets a new name, so Nginx may cache it
  for good like every other non-HTML file. It is made before the page that
  links to it, and carries no location (published reports never do).
- the job page's "Download all photos" link to ``<slug>-photos.zip``, which
  the daemon streams (``daemon/downloads.py``).
- a folder ``s/<token>/`` per active share link (``jobgallery/shares.py``):
  the same page with nothing else of the site, its derivatives as hard links
  to the job's (no copies), its own report (the QR code leads to the share,
  not to the job) and zip link. An archived job's links show the archived
  stub. Folders of links that are revoked, expired or unknown are removed by
  every build, whatever its scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from generator.publish import link_file, list_dirs, list_names, prune_folder, remove_tree, write_if_changed
from generator.render import Page, photo_dates
from generator.report import ReportInput, ReportPhoto, write_report
from jobgallery import clean_copy, db, locks, shares
from jobgallery.clean_copy import zip_name
from jobgallery.config import Config

if TYPE_CHECKING:
    from generator.build import Build


@dataclass(frozen=True)
class Downloads:
    """What a page offers to take away: the zip's and the report's names (relative to its folder)."""

    zip: str
    size: str
    report: str

    def context(self) -> dict:
        return {"zip": self.zip, "size": self.size, "report": self.report}


# the photo context's keys (generator/render.py) naming files the job page shows
PAGE_FILES = ("display", "zoom", "thumb", "thumb2x", "webp", "webp2x")


def report_name(job: db.Job, key: str) -> str:
    return f"{job.slug}-report-{key[:16]}.pdf"


def size_label(total: int) -> str:
    """Bytes as people read them on a link: ``850 KB``, ``48 MB``, ``1.2 GB`` (decimal units, as browsers show)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if total >= scale:
            value = total / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{max(1, round(total / 1e3))} KB"


def site_link(config: Config, path: str) -> str | None:
    """The absolute address of a page for the report's QR code; None without ``gallery.site_url``."""
    base = config.gallery.site_url.strip()
    return f"{base.rstrip('/')}/{path}" if base else None


def report_input(
    build: Build, job: db.Job, photos: list[dict], link: str | None, private: bool = False, per_page: int = 0
) -> ReportInput:
    """The report of ``job`` from the photos its page shows (display images in the job's folder).

    ``private`` adds each photo's stored location: only for ``jobgallery report --with-location``.
    """
    folder = build.output / build.path_of(job)
    located = {image.id: location_label(image.location) for image in build.images[job.id]} if private else {}
    items = tuple(
        ReportPhoto(
            image=folder / photo["display"],
            description=photo["description"],
            tags=tuple(photo["tags"]),
            time_label=photo["time_label"],
            location=located.get(photo["id"]),
        )
        for photo in photos
    )
    return ReportInput(
        site_title=build.config.gallery.title,
        job_title=job.title,
        dates=photo_dates(photos),
        photos=items,
        link=link,
        logo=build.config.gallery.report_logo,
        per_page=per_page or build.config.gallery.report_per_page,
        private=private,
    )


def location_label(location: str | None) -> str | None:
    """``"lat,lon"`` as stored, shown with a space: ``52.370216, 4.895168``."""
    return ", ".join(part.strip() for part in location.split(",")) if location else None


def private_report(config: Config, job_id: int, target: Path, per_page: int, with_location: bool) -> int:
    """``jobgallery report``: bring the job's derivatives up to date, then write its report; the photo count.

    Works under the maintenance lock, so no build removes a display image
    while the report reads it. A report with locations is made 0600.
    """
    from generator.build import Build, run_build

    with locks.maintenance_lock(config.paths.data):
        with db.open_db(config.db_path) as conn:
            db.get_job(conn, job_id, live=True)
        run_build(config, job_id)
        build = Build(config, full=False)
        build.load(job_id)
        job = next(job for job in build.scope if job.id == job_id)
        build.plan(job)
        photos = build.shown_photos(job)
        link = site_link(config, build.path_of(job))
        report = report_input(build, job, photos, link, private=with_location, per_page=per_page)
        write_report(report, target, 0o600 if with_location else None)
    return len(photos)


class Handover:
    """State the build's handover steps share: report names, files to keep, the active share links."""

    def __init__(self, build: Build) -> None:
        self.build = build
        self.downloads: dict[int, Downloads] = {}
        self.keep: dict[str, set[str]] = {}  # folder path -> extra names the prune must leave
        self.removed = 0  # files of share folders removed, for the build's summary

    # ------------------------------------------------------------ reports, before the pages

    def make_reports(self) -> None:
        """Each live job's published report, made only when what it shows changed; its zip's plans stored."""
        self.store_download_plans()
        for job in self.build.scope:
            photos = [] if job.archived else self.build.shown_photos(job)
            if not photos:  # nothing to download or report: the page offers neither
                continue
            path = self.build.path_of(job)
            name = self.publish_report(job, path, photos, site_link(self.build.config, path))
            total = sum(image.byte_size for image in self.build.images[job.id])
            self.downloads[job.id] = Downloads(zip_name(job.slug), size_label(total), name)

    def store_download_plans(self) -> None:
        """Plans for the zips of live jobs in scope whose masters are new or changed (``clean_copy``).

        A new master was just read for its derivatives, so it is still in the
        page cache; the daemon then starts a job's zip without reading anything.
        """
        data = self.build.config.paths.data
        with db.open_db(self.build.config.db_path) as conn:
            for job in self.build.scope:
                if not job.archived:
                    plans = clean_copy.plan_images(conn, data, self.build.images[job.id], only_new=True)
                    if plans.new:
                        db.save_download_plans(conn, plans.new)

    def publish_report(self, job: db.Job, path: str, photos: list[dict], link: str | None) -> str:
        report = report_input(self.build, job, photos, link)
        name = report_name(job, report.key())
        target = self.build.output / path / name
        if self.build.full or not target.is_file():
            write_report(report, target)
        self.keep.setdefault(path, set()).add(name)
        return name

    def page_downloads(self, job: db.Job) -> dict | None:
        """The job page's download links (None for a job without a report in this build)."""
        downloads = self.downloads.get(job.id)
        return downloads.context() if downloads else None

    def files_in(self, path: str) -> set[str]:
        return self.keep.get(path, set())

    # ------------------------------------------------------------ share pages, after the job pages

    def publish_shares(self) -> None:
        """Write the pages of active links of jobs in scope; remove every inactive link's folder."""
        with db.open_db(self.build.config.db_path) as conn:
            active = shares.active(conn)
        in_scope = {job.id: job for job in self.build.scope}
        for row in active:
            if row.job_id in in_scope:
                self.publish_share(in_scope[row.job_id], shares.share_path(row.token))
        self.remove_inactive({row.token for row in active})

    def publish_share(self, job: db.Job, path: str) -> None:
        build = self.build
        folder = build.output / path
        if job.archived:
            page = build.renderer.archived_page(job, path)
            keep = {"index.html"}
        else:
            photos = build.shown_photos(job)
            keep = {"index.html", *self.link_photos(job, folder, photos)}
            downloads = self.share_downloads(job, path, photos) if job.id in self.downloads else None
            keep.update([downloads.report] if downloads else [])
            page = build.renderer.job_page(job, path, photos, downloads.context() if downloads else None)
        shared = Page(page.path, page.template, {**page.context, "private": True, "shared": True})
        if write_if_changed(build.output / shared.path, build.renderer.render(shared), build.output):
            build.report.pages_written += 1
        self.removed += prune_folder(folder, keep, build.output)

    def link_photos(self, job: db.Job, folder: Path, photos: list[dict]) -> set[str]:
        """Hard links in the share's folder to the derivatives the job's page shows."""
        source = self.build.output / self.build.path_of(job)
        present = list_names(folder)
        names = {photo[kind] for photo in photos for kind in PAGE_FILES if photo[kind]}  # no zoom when no sharper
        for name in sorted(names - present):
            if not link_file(source / name, folder / name, self.build.output):
                write_if_changed(folder / name, (source / name).read_bytes(), self.build.output)
        return names

    def share_downloads(self, job: db.Job, path: str, photos: list[dict]) -> Downloads:
        """The share's own report (its QR code leads to the share) or a link to the job's when they match."""
        job_downloads = self.downloads[job.id]
        link = site_link(self.build.config, path)
        job_path = self.build.path_of(job)
        if link is None:  # no QR code: the share's report is the job's, byte for byte
            name = job_downloads.report
            target = self.build.output / path / name
            if not target.is_file():  # (linking over the same file would leave the temp link behind)
                link_file(self.build.output / job_path / name, target, self.build.output)
        else:
            name = self.publish_report(job, path, photos, link)
        return Downloads(job_downloads.zip, job_downloads.size, name)

    def remove_inactive(self, tokens: set[str]) -> None:
        root = self.build.output / shares.SHARES_FOLDER
        for name in sorted(list_dirs(root) - tokens):
            self.removed += remove_tree(root / name, self.build.output)


def content_named_files(output: Path) -> set[str]:
    """Paths under ``output/`` this module publishes with names that change with their bytes.

    Reports are named by a hash of what they show; a share folder's photos
    carry their derivatives' names. The bucket mirror caches these for good.
    """
    reports = {path.relative_to(output).as_posix() for path in output.glob("jobs/*/*-report-*.pdf")}
    shared = output / shares.SHARES_FOLDER
    linked = {p.relative_to(output).as_posix() for p in shared.glob("*/*") if p.name != "index.html"}
    return reports | linked
