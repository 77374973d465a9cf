"""The office's jobs page: every job with its figures; create, rename, archive and restore.

Archive and restore run the CLI's own code (``jobgallery/maintenance/``) with
its safety checks, and show its one-line results; each change writes an
audit row and rebuilds the job's page (an archived job's becomes its stub, a
renamed job's old address a link to the new one).
"""

from __future__ import annotations

import bottle

from daemon.admin.notes import Note
from daemon.admin.office import ID, Office, number, text
from daemon.responses import Link
from jobgallery import audit, db, jobs
from jobgallery.errors import ArchiveError, Conflict, UsageError
from jobgallery.health import human
from jobgallery.maintenance.archive import archive_jobs, written_archive
from jobgallery.maintenance.restore import restore

JOBS = Link("Back to the jobs", "/admin/jobs")


def install(app: bottle.Bottle, office: Office) -> None:
    pages = JobsPages(office)
    app.route("/admin", "GET", pages.home, auth="admin")
    app.route("/admin/", "GET", pages.home, auth="admin")
    app.route("/admin/jobs", "GET", pages.list_page, auth="admin")
    app.route("/admin/jobs", "POST", pages.create, auth="admin")
    app.route(f"/admin/jobs/<job_id:{ID}>/rename", "POST", pages.rename, auth="admin")
    app.route(f"/admin/jobs/<job_id:{ID}>/archive", "POST", pages.archive, auth="admin")
    app.route(f"/admin/jobs/<job_id:{ID}>/restore", "POST", pages.restore, auth="admin")


class JobsPages:
    def __init__(self, office: Office) -> None:
        self.office = office

    def home(self) -> bottle.HTTPResponse:
        return bottle.HTTPResponse(status=303, Location=f"{self.office.root}/admin/jobs")

    def list_page(self) -> bottle.HTTPResponse:
        office = self.office
        figures = db.job_figures(office.conn)
        rows = [
            (job, office.gallery_path(job), figures.get(job.id, db.JobFigures())) for job in db.list_jobs(office.conn)
        ]
        live = [row for row in rows if not row[0].archived]
        archived = [row for row in rows if row[0].archived]
        return office.page("admin/jobs.html", "jobs", live=live, archived=archived, human=human)

    def create(self) -> bottle.HTTPResponse:
        def action() -> bottle.HTTPResponse:
            job = jobs.create_job(self.office.conn, text("title", jobs.MAX_TITLE * 4), self.office.user.name)
            self.office.rebuild([job.id])
            return self.office.done(f"/admin/jobs/{job.id}/photos", Note(f"Created job {job.id}, “{job.title}”."))

        return self.office.act(JOBS, action)

    def rename(self, job_id: str) -> bottle.HTTPResponse:
        def action() -> bottle.HTTPResponse:
            office = self.office
            before, after = jobs.rename_job(office.conn, number(job_id, "job"), text("title"), office.user.name)
            office.rebuild([after.id])
            moved = office.gallery_path(before) != office.gallery_path(after)
            where = (
                f" Its gallery is now at /{office.gallery_path(after)}; the old address links there." if moved else ""
            )
            return office.done("/admin/jobs", Note(f"Renamed “{before.title}” to “{after.title}”.{where}"))

        return self.office.act(JOBS, action)

    def archive(self, job_id: str) -> bottle.HTTPResponse:
        def action() -> bottle.HTTPResponse:
            office = self.office
            job = db.get_job(office.conn, number(job_id, "job"))
            if job.archived:
                raise Conflict(f"“{job.title}” is already archived")
            report = archive_jobs(office.config, office.conn, [job.id])
            if not report.ok:
                raise ArchiveError("; ".join(report.failures))
            with db.write(office.conn):
                audit.note(office.conn, office.user.name, "archive", report.summary(), job_id=job.id)
            office.rebuild([job.id])
            return office.done("/admin/jobs", Note(report.summary(), tuple(report.lines)))

        return self.office.act(JOBS, action)

    def restore(self, job_id: str) -> bottle.HTTPResponse:
        def action() -> bottle.HTTPResponse:
            office = self.office
            job = db.get_job(office.conn, number(job_id, "job"))
            if not job.archived:
                raise UsageError(f"“{job.title}” is live; only an archived job can be restored")
            report, restored = restore(office.config, office.conn, written_archive(office.config, job))
            with db.write(office.conn):
                audit.note(office.conn, office.user.name, "restore", report.summary(), job_id=restored.id)
            office.rebuild([restored.id])
            return office.done("/admin/jobs", Note(report.summary(), tuple(report.lines)))

        return self.office.act(JOBS, action)
