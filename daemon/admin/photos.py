"""The office's photo pages: a job's photos (and its trash) with bulk actions, and one photo with its audit trail.

One form serves one photo or many (checkboxes named ``photo``), chosen by the
button pressed (``action``):

- ``edit``: ``description`` (only when ``set_description`` is ticked, so many
  photos keep their own) and ``tags`` with ``tag_mode`` (set, add, remove);
- ``move``: to the live job ``target``; master and row together, dedupe kept;
- ``trash``: off the site at once, master kept for ``maintenance.trash_days``;
  the note that follows carries a "Bring back" button (undo);
- ``untrash``: back from the trash.

Each change writes audit rows and rebuilds the pages of the jobs it touched.
"""

from __future__ import annotations

import bottle

from daemon.admin.notes import Note
from daemon.admin.office import ID, Office, ids, number, optional_text, text
from daemon.responses import Link
from jobgallery import audit, db, previews, storage, trash
from jobgallery.errors import Conflict, JobGalleryError, NotFound, UsageError
from jobgallery.images import Limits
from jobgallery.photo_edits import DetailsChange, edit_details, move_photo

ACTIONS = ("edit", "move", "trash", "untrash")


def install(app: bottle.Bottle, office: Office) -> None:
    pages = PhotoPages(office)
    app.route(f"/admin/jobs/<job_id:{ID}>/photos", "GET", pages.job_photos, auth="admin")
    app.route(f"/admin/jobs/<job_id:{ID}>/photos", "POST", pages.job_action, auth="admin")
    app.route(f"/admin/photos/<image_id:{ID}>", "GET", pages.photo, auth="admin")
    app.route(f"/admin/photos/<image_id:{ID}>", "POST", pages.photo_action, auth="admin")
    app.route(f"/admin/photos/<image_id:{ID}>/preview", "GET", pages.preview, auth="admin")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class PhotoPages:
    def __init__(self, office: Office) -> None:
        self.office = office

    # ------------------------------------------------------------ pages

    def job_photos(self, job_id: str) -> bottle.HTTPResponse:
        office = self.office
        job = db.get_job(office.conn, number(job_id, "job"))
        return office.page(
            "admin/photos.html",
            "jobs",
            job=job,
            gallery=office.gallery_path(job),
            photos=[] if job.archived else db.list_images(office.conn, job.id),
            trashed=trash.in_trash(office.conn, job.id),
            targets=[other for other in db.list_jobs(office.conn, live_only=True) if other.id != job.id],
            trash_days=office.config.maintenance.trash_days,
            purge_date=lambda image: trash.purge_date(image, office.config.maintenance.trash_days),
        )

    def photo(self, image_id: str) -> bottle.HTTPResponse:
        office = self.office
        image = db.get_image(office.conn, number(image_id, "photo"))
        job = db.get_job(office.conn, image.job_id)
        return office.page(
            "admin/photo.html",
            "jobs",
            image=image,
            job=job,
            trail=audit.of_photo(office.conn, image.id),
            targets=[other for other in db.list_jobs(office.conn, live_only=True) if other.id != job.id],
            purge_on=trash.purge_date(image, office.config.maintenance.trash_days) if image.trashed else "",
        )

    def preview(self, image_id: str) -> bottle.HTTPResponse:
        """A small JPEG of the master (``?size=320`` or ``1024``); cached by the browser for a day."""
        office = self.office
        image = db.get_image(office.conn, number(image_id, "photo"))
        size = previews.SIZES[1] if bottle.request.query.get("size") == str(previews.SIZES[1]) else previews.SIZES[0]
        try:
            path = storage.master_path(office.config.paths.data, image.job_id, image.filename)
        except ValueError:
            raise NotFound("the photo's master has a name this program never makes") from None
        if not path.is_file():
            raise NotFound("the photo's master is not on this box (archived or lost)")
        body = previews.preview_jpeg(path, Limits.from_config(office.config), size)
        headers = {"Cache-Control": "private, max-age=86400", "ETag": f'"{image.sha256[:32]}-{size}"'}
        return bottle.HTTPResponse(body, 200, **headers, **{"Content-Type": "image/jpeg"})

    # ------------------------------------------------------------ actions

    def job_action(self, job_id: str) -> bottle.HTTPResponse:
        job = number(job_id, "job")
        back = f"/admin/jobs/{job}/photos"
        return self.office.act(Link("Back to the photos", back), lambda: self.apply(self.of_job(job), back))

    def of_job(self, job_id: int) -> list[int]:
        """The ticked photos, each of which must be in this job: a page left open may show one moved since."""
        chosen = ids("photo")
        for image_id in chosen:
            if db.get_image(self.office.conn, image_id).job_id != job_id:
                raise Conflict(f"photo {image_id} is no longer in this job; reload the page and try again")
        return chosen

    def photo_action(self, image_id: str) -> bottle.HTTPResponse:
        image = db.get_image(self.office.conn, number(image_id, "photo"))
        back = f"/admin/photos/{image.id}"
        return self.office.act(Link("Back to the photo", back), lambda: self.apply([image.id], back))

    def apply(self, chosen: list[int], back: str) -> bottle.HTTPResponse:
        """Carry out the pressed button's action on the chosen photos, then 303 back with a note."""
        action = text("action", 20)
        if action not in ACTIONS:
            raise UsageError("choose what to do: edit, move, delete or bring back")
        if not chosen:
            raise UsageError("tick at least one photo first")
        note, touched = getattr(self, f"do_{action}")(chosen)
        self.office.rebuild(touched)
        return self.office.done(back, note)

    def do_edit(self, chosen: list[int]) -> tuple[Note, set[int]]:
        description = optional_text("description") if text("set_description", 10) else None
        change = DetailsChange(description, text("tag_mode", 10) or "keep", text("tags"))
        changed, touched = edit_details(self.office.conn, chosen, change, self.office.user.name)
        if not changed:
            return Note("Nothing changed: the photos already had that description and those tags."), touched
        return Note(f"Saved the description and tags of {plural(changed, 'photo')}."), touched

    def do_move(self, chosen: list[int]) -> tuple[Note, set[int]]:
        """Each photo on its own (one refused by dedupe does not hold back the others); all refused: the refusal."""
        office = self.office
        target = db.get_job(office.conn, number(text("target", 30), "job"), live=True)
        touched, refused = {target.id}, []
        for image_id in chosen:
            try:
                touched.add(move_photo(office.config, office.conn, image_id, target.id, office.user.name).job_id)
            except JobGalleryError as exc:
                if len(chosen) == 1:
                    raise
                refused.append(f"photo {image_id}: {exc}")
        if len(refused) == len(chosen):
            raise Conflict(f"none of the photos was moved ({refused[0]})")
        moved = len(chosen) - len(refused)
        message = f"Moved {plural(moved, 'photo')} to “{target.title}”" + (
            f"; {len(refused)} refused." if refused else "."
        )
        return Note(message, tuple(refused)), touched

    def do_trash(self, chosen: list[int]) -> tuple[Note, set[int]]:
        touched = trash.trash_photos(self.office.conn, chosen, self.office.user.name)
        days = self.office.config.maintenance.trash_days
        message = f"Deleted {plural(len(chosen), 'photo')}: off the site now, kept in the trash for {days} days."
        return Note(message, undo=tuple(chosen)), touched

    def do_untrash(self, chosen: list[int]) -> tuple[Note, set[int]]:
        touched = trash.untrash_photos(self.office.conn, chosen, self.office.user.name)
        return Note(
            f"Brought back {plural(len(chosen), 'photo')}; the gallery shows them again within seconds."
        ), touched
