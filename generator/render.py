"""Pages from templates: the index, a job's gallery, an archived job's stub and a renamed job's old page.

Each page is first described by a plain context (only JSON types), and its
key is a hash of that context and of the templates: when the key matches the
one the manifest remembers, the page is up to date without rendering it.
User text reaches the templates as data, never as markup; autoescaping does
the rest, and no user text is ever put inside a ``<script>``.
"""

from __future__ import annotations

import hashlib
import json
import traceback
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import jinja2

from generator.derivatives import PANORAMA_ASPECT
from jobgallery import capture_time, db
from jobgallery.config import Config
from jobgallery.errors import JobGalleryError
from jobgallery.templating import make_environment, template_dirs

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class TemplateProblem(JobGalleryError):
    """A template (usually a user's override in gallery.templates) that cannot be rendered."""


@dataclass(frozen=True)
class Page:
    """One HTML file to publish: where, from which template, with what."""

    path: str  # relative to output/, e.g. "jobs/3-roof/index.html"
    template: str
    context: dict

    def key(self, fingerprint: str) -> str:
        """Hash of the templates and the context (as canonical JSON: parts of it come back from the manifest)."""
        text = json.dumps([self.template, self.context], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(f"{fingerprint}\n{text}".encode()).hexdigest()


class Renderer:
    """Templates of this configuration, and the parts of a context every page shares."""

    def __init__(self, config: Config, asset_paths: dict[str, str]) -> None:
        self.env = make_environment(config)
        self.fingerprint = templates_fingerprint(config)
        self.site = {
            "site_title": config.gallery.title,
            "private": not config.gallery.public_index,
            "shared": False,  # a share link's page (generator/handover.py): nothing else of the site
            "css": asset_paths["gallery.css"],
            "js": asset_paths["gallery.js"],
            "viewer_js": asset_paths["photoswipe.js"],
            "viewer_css": asset_paths["photoswipe.css"],
        }

    def render(self, page: Page) -> bytes:
        """The page's HTML; a broken template becomes one line naming its file, line and problem."""
        try:
            return self.env.get_template(page.template).render(page.context).encode("utf-8")
        except jinja2.TemplateError as exc:
            raise TemplateProblem(describe_template_error(exc, page.template)) from exc

    def job_page(self, job: db.Job, path: str, photos: list[dict], downloads: dict | None = None) -> Page:
        context = {**self.site, "root": root_of(path), "job": {"id": job.id, "title": job.title}}
        context.update(
            photos=photos,
            dates=photo_dates(photos),
            days=photo_days(photos),
            tags=tag_counts(photos),
            downloads=downloads,
        )
        return Page(f"{path}index.html", "job.html", context)

    def archived_page(self, job: db.Job, path: str) -> Page:
        context = {**self.site, "root": root_of(path), "job": {"id": job.id, "title": job.title}}
        context["archived_on"] = (job.archived_at or "")[:10]
        return Page(f"{path}index.html", "archived.html", context)

    def moved_page(self, job: db.Job, old_path: str, path: str) -> Page:
        """The page left at a renamed job's old path: a link to where it lives now."""
        context = {**self.site, "root": root_of(old_path), "job": {"id": job.id, "title": job.title}}
        context["target"] = f"{root_of(old_path)}{path}"
        return Page(f"{old_path}index.html", "moved.html", context)

    def index_page(self, cards: list[dict]) -> Page:
        jobs = [] if self.site["private"] else cards
        return Page("index.html", "index.html", {**self.site, "root": "", "jobs": jobs})


def root_of(path: str) -> str:
    """Relative way back to ``output/`` from a page in ``path`` ("jobs/3-roof/" -> "../../")."""
    return "../" * path.count("/")


def describe_template_error(exc: jinja2.TemplateError, page_template: str) -> str:
    """``template <file>, line <n>: <problem>``, the file and line taken from the error or its traceback."""
    filename, line = getattr(exc, "filename", None), getattr(exc, "lineno", None)
    if not filename:
        frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename.endswith(".html")]
        if frames:
            filename, line = frames[-1].filename, frames[-1].lineno
    problem = " ".join(str(exc.message or exc.__class__.__name__).split())
    if isinstance(exc, jinja2.TemplateNotFound):
        problem = f"template {exc.name!r} not found"
    where = f"template {filename or page_template}" + (f", line {line}" if line else "")
    return f"{where}: {problem}"


def templates_fingerprint(config: Config) -> str:
    """Hash of every template a page could use, in lookup order, so editing one re-renders pages."""
    digest = hashlib.sha256()
    for folder in template_dirs(config):
        for path in sorted(Path(folder).glob("*.html")):
            digest.update(f"{path.name}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- contexts


def photo_view(image: db.Image, entry: dict) -> dict:
    """What a job page shows of one photo; derivative names are relative to the job's folder."""
    display, thumb, thumb2x = entry["display"], entry["thumb"], entry["thumb2x"]
    taken = capture_time.stored(image.taken_at, image.taken_offset)
    label = time_label(image, taken)
    return {
        **shape_of(display, entry["zoom"]),
        "id": image.id,
        "description": image.description,
        "tags": distinct_tags(image.tag_list),
        "alt": image.description or f"Photo {label}",
        "time": taken_datetime(taken) if taken else image.timestamp,
        "time_label": label,
        "date": taken.taken_at[:10] if taken else image.timestamp[:10],
        "display": display[0],
        "display_size": [display[1], display[2]],
        "thumb": thumb[0],
        "thumb2x": thumb2x[0],
        "webp": entry["thumb-webp"][0],
        "webp2x": entry["thumb2x-webp"][0],
        "width": thumb[1],
        "height": thumb[2],
        "color": entry["color"],
        "ink": ink_on(entry["color"]),
        "taken": taken is not None,
    }


def shape_of(display: list, zoom: list) -> dict:
    """The photo's shape for the gallery's rows, and the zoom image when it has more pixels than the display one.

    ``aspect`` is width over height (from the zoom image, the most exact).
    """
    aspect = round(zoom[1] / zoom[2], 4)
    sharper = zoom[1] > display[1]
    return {
        "aspect": aspect,
        "panorama": aspect >= PANORAMA_ASPECT,
        "zoom": zoom[0] if sharper else None,
        "zoom_size": [zoom[1], zoom[2]] if sharper else None,
    }


def photo_days(photos: list[dict]) -> list[dict]:
    """Photos grouped by the day they were taken, days in order, "date unknown" last.

    Each day: ``date`` (ISO, empty when unknown), ``label`` ("Thu 2 May 2024"),
    ``count`` and ``photos``, laid out in justified rows; a panorama takes a
    row of its own (``gallery.css``), and the row before it still grows.
    """
    days: dict[str, list[dict]] = {}
    for photo in photos:
        days.setdefault(photo["date"] if photo["taken"] else "", []).append(photo)
    ordered = sorted(days.items(), key=lambda item: (item[0] == "", item[0]))
    return [{"date": iso, "label": day_label(iso), "count": len(shown), "photos": shown} for iso, shown in ordered]


def day_label(iso: str) -> str:
    """``2024-05-02`` -> ``Thu 2 May 2024`` (the same in every locale); empty -> ``Date unknown``."""
    if not iso:
        return "Date unknown"
    day = date.fromisoformat(iso)
    return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"


def distinct_tags(tags: list[str]) -> list[str]:
    """A photo's tags once each up to case, as first spelled: "Flashing, flashing" shows one (as the chips count it)."""
    seen: dict[str, str] = {}
    for tag in tags:
        seen.setdefault(tag.lower(), tag)
    return list(seen.values())


def tag_counts(photos: list[dict]) -> list[dict]:
    """The filter's chips: every tag of the job's photos, one a spelling up to case, with how many carry it.

    ``key`` is the tag in lower case (what the filter matches and the address
    holds: "Flashing" and "flashing" are one chip); ``name`` is its most
    used spelling, the first seen on a tie.
    """
    counts: dict[str, int] = {}
    spellings: dict[str, dict[str, int]] = {}
    for photo in photos:
        for key in dict.fromkeys(tag.lower() for tag in photo["tags"]):
            counts[key] = counts.get(key, 0) + 1
        for tag in dict.fromkeys(photo["tags"]):
            seen = spellings.setdefault(tag.lower(), {})
            seen[tag] = seen.get(tag, 0) + 1
    chips = [
        {"key": key, "name": max(seen, key=seen.__getitem__), "count": counts[key]} for key, seen in spellings.items()
    ]
    return sorted(chips, key=lambda chip: (chip["name"].casefold(), chip["name"]))


def time_label(image: db.Image, taken: capture_time.CaptureTime | None) -> str:
    """What a page says of a photo's time: consistent zone forms whether taken or only uploaded.

    ``taken 2024-03-05 07:10 (UTC+01:00)`` is the wall time where it was taken
    with its zone when known; without a capture time, ``uploaded 2024-06-01
    08:00 (UTC)`` (upload times are stored in UTC).
    """
    if taken is None:
        return "uploaded " + image.timestamp.replace("T", " ")[:16] + " (UTC)"
    wall = taken.local.isoformat(sep=" ", timespec="minutes")  # strftime drops a year's leading zeros
    return " ".join(filter(None, ("taken", wall, zone_label(taken.offset))))


def zone_label(offset: timedelta | None) -> str:
    """``(UTC)``, ``(UTC+01:00)``, ``(UTC-05:30)``; empty when the zone is unknown."""
    if offset is None:
        return ""
    return "(UTC)" if not offset else f"(UTC{capture_time.offset_text(offset)})"


def taken_datetime(taken: capture_time.CaptureTime) -> str:
    """The value of a ``<time datetime>``: a global date and time with the offset, else a local one."""
    return taken.taken_at + (taken.offset_text or "")


def job_card(job: db.Job, path: str, photos: list[dict]) -> dict:
    """What the index shows of one job: its first photo as cover, count and dates."""
    cover = None
    if photos:
        first = photos[0]
        cover = {key: first[key] for key in ("width", "height", "color")}
        cover.update(src=path + first["thumb"], src2x=path + first["thumb2x"])
    return {"count": len(photos), "dates": photo_dates(photos), "cover": cover}


def index_cards(jobs: list[tuple[db.Job, str, dict]]) -> list[dict]:
    """Index entries for live jobs in the order given (newest first)."""
    return [{"title": job.title, "url": path, **card} for job, path, card in jobs]


def ink_on(color: str) -> str:
    """Black or white, whichever contrasts more with the placeholder (alt text of a failed thumbnail).

    The better of the two always reaches 4.5:1 (WCAG contrast of sRGB colours).
    """
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#000000" if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else "#ffffff"


def photo_dates(photos: list[dict]) -> str:
    """Range of capture dates; upload dates only when no photo knows when it was taken."""
    taken = [p["date"] for p in photos if p.get("taken")]
    return date_range(taken or [p["date"] for p in photos])


def date_range(dates: list[str]) -> str:
    if not dates:
        return ""
    first, last = min(dates), max(dates)
    return first if first == last else f"{first} – {last}"
