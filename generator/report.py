"""The photo report: one PDF of a job to attach to an invoice, a claim or an inspection.

Layout (A4 portrait): a cover (the logo from ``gallery.report_logo`` if set,
the site's title, the job's title, its date range, the photo count and a QR
code of the page it was handed out with), then the photos in gallery order,
``per_page`` to a page (1, 2, 4 or 6), each with its number, capture time and
zone, description, tags and, for private reports only, where it was taken;
then "Descriptions in full" for every photo whose caption had to be cut
(a report is evidence: no word of a description is lost), flowing over as
many pages as it needs; then, for jobs over ``INDEX_OVER`` photos, an index
of every photo and its page. Every page but the cover carries "page N of M".
Text wraps at spaces, and a word wider than its column is broken anywhere
(``wrap``), so nothing is drawn past the margins.

Images are the display derivatives (sRGB JPEGs, at most a few hundred KB
each), embedded as they are (DCT passthrough: no decode, no re-encode), and
read from disk only while the PDF is written (``LazyJpeg``), so ReportLab
holds the finished file once rather than the images and the file. The
figures for 300 photos are in ``bench/report.py``.

Same inputs, same bytes: ReportLab's ``invariant`` mode leaves out the
creation time and the random file id, and each image is named by its
derivative's content-addressed file name, never by where it lies on disk.

Text: DejaVu Sans (Debian's ``fonts-dejavu-core``) when installed, for any
script people type; else ReportLab's own Vera (Latin only).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfdoc, pdfmetrics, pdfutils
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from jobgallery.errors import JobGalleryError
from jobgallery.storage import atomic_writer

# Bump when a change here alters the bytes of a report (published reports are named by their inputs).
LAYOUT = 2
PER_PAGE = (1, 2, 4, 6)
GRID = {1: (1, 1), 2: (1, 2), 4: (2, 2), 6: (2, 3)}  # columns, rows
INDEX_OVER = 50
INDEX_ROWS = 40
PAGE_W, PAGE_H = A4
MARGIN = 15 * mm
FOOTER = 10 * mm
CAPTION_LINES = {1: 8, 2: 5, 4: 4, 6: 3}
COVER_TITLE_LINES = 8
GUTTER = 6 * mm
LEADING = 1.3  # line height as a multiple of the font size
APPENDIX_SIZE = 9
APPENDIX_TOP = PAGE_H - MARGIN - 16 * mm  # below the heading
APPENDIX_ROWS = int((APPENDIX_TOP - (FOOTER + 8 * mm)) // (APPENDIX_SIZE * LEADING))
CUT = " … (in full at the end)"
FONT_FILES = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
)
GREY = (0.35, 0.35, 0.35)


class ReportProblem(JobGalleryError):
    """A report that cannot be made: an unreadable image or logo, or a layout we do not offer."""


@dataclass(frozen=True)
class ReportPhoto:
    """One photo as the report shows it; ``image`` is its display derivative (an sRGB JPEG)."""

    image: Path
    description: str
    tags: tuple[str, ...]
    time_label: str
    location: str | None = None


@dataclass(frozen=True)
class ReportInput:
    """Everything a report shows; two equal inputs give the same bytes."""

    site_title: str
    job_title: str
    dates: str
    photos: tuple[ReportPhoto, ...]
    link: str | None = None  # the page's address for the QR code; None: no code
    logo: Path | None = None
    per_page: int = 2
    private: bool = False
    pages: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.per_page not in PER_PAGE:
            raise ReportProblem(f"a report shows 1, 2, 4 or 6 photos a page, not {self.per_page}")
        index = math.ceil(len(self.photos) / INDEX_ROWS) if len(self.photos) > INDEX_OVER else 0
        appendix = math.ceil(len(appendix_rows(self)) / APPENDIX_ROWS)
        object.__setattr__(self, "pages", 1 + math.ceil(len(self.photos) / self.per_page) + appendix + index)

    def key(self) -> str:
        """Hash of everything that shapes the bytes: published reports are named by it."""
        digest = hashlib.sha256(repr((LAYOUT, fonts()[0], self.site_title, self.job_title, self.dates)).encode())
        digest.update(repr((self.link, self.per_page, self.private)).encode())
        digest.update(self.logo.read_bytes() if self.logo else b"-")
        for photo in self.photos:  # display names carry their content hash
            digest.update(repr((photo.image.name, photo.description, photo.tags, photo.time_label)).encode())
            digest.update(repr(photo.location).encode())
        return digest.hexdigest()


def fonts() -> tuple[str, str]:
    """Registered (regular, bold) font names: DejaVu Sans when installed, else ReportLab's Vera."""
    for regular, bold in FONT_FILES:
        if os.path.isfile(regular) and os.path.isfile(bold):
            return register("DejaVuSans", regular), register("DejaVuSans-Bold", bold)
    return register("Vera", "Vera.ttf"), register("VeraBd", "VeraBd.ttf")


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """``text`` in lines no wider than ``width`` points: broken at spaces, a longer word broken anywhere."""
    lines: list[str] = []
    for paragraph in text.splitlines() if text.strip() else []:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if pdfmetrics.stringWidth(candidate, font, size) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            for char in word:
                if line and pdfmetrics.stringWidth(line + char, font, size) > width:
                    lines.append(line)
                    line = ""
                line += char
        lines.append(line)
    return lines


def cut(text: str, font: str, size: float, width: float, most: int, tail: str = " …") -> list[str]:
    """``wrap``'s lines; past ``most`` lines the last one kept ends in ``tail`` (still within ``width``)."""
    lines = wrap(text, font, size, width)
    if len(lines) <= most:
        return lines
    kept = lines[:most]
    last = kept[-1].rstrip()
    while last and pdfmetrics.stringWidth(last + tail, font, size) > width:
        last = last[:-1].rstrip()
    kept[-1] = last + tail
    return kept


def caption_box(per_page: int) -> tuple[float, float, float]:
    """(font size, cell width, cell height) in points of one photo's cell at ``per_page`` a page."""
    columns, rows = GRID[per_page]
    width = (PAGE_W - 2 * MARGIN - (columns - 1) * GUTTER) / columns
    height = (PAGE_H - 2 * MARGIN - FOOTER - (rows - 1) * GUTTER) / rows
    return (9 if per_page < 6 else 8), width, height


def is_cut(report: ReportInput, photo: ReportPhoto) -> bool:
    """Whether the photo's caption cannot hold its whole description or tags."""
    size, width, _ = caption_box(report.per_page)
    regular = fonts()[0]
    if len(wrap(photo.description, regular, size, width)) > CAPTION_LINES[report.per_page]:
        return True
    return bool(photo.tags) and len(wrap(tag_line(photo), regular, size, width)) > 2


def tag_line(photo: ReportPhoto) -> str:
    return "Tags: " + ", ".join(photo.tags)


def appendix_rows(report: ReportInput) -> list[tuple[str, str]]:
    """(line, style) rows of "Descriptions in full": each cut photo's number, description and tags."""
    regular, width = fonts()[0], PAGE_W - 2 * MARGIN
    rows: list[tuple[str, str]] = []
    for number, photo in enumerate(report.photos, 1):
        if not is_cut(report, photo):
            continue
        rows.append((f"#{number} · {photo.time_label}", "bold"))
        rows += [(line, "plain") for line in wrap(photo.description, regular, APPENDIX_SIZE, width)]
        if photo.tags:
            rows += [(line, "grey") for line in wrap(tag_line(photo), regular, APPENDIX_SIZE, width)]
        rows.append(("", "plain"))
    return rows


def register(name: str, path: str) -> str:
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(name, path))
    return name


def write_report(report: ReportInput, target: Path, mode: int | None = None) -> None:
    """Write the PDF to ``target`` atomically; ReportProblem when an image or the logo cannot be read.

    ``mode`` as for ``storage.atomic_writer`` (a private report with locations is 0600).
    """
    with atomic_writer(target, mode) as handle:
        canvas = Canvas(handle, pagesize=A4, invariant=1, pageCompression=1, initialFontName=fonts()[0])
        canvas._doc.jobgallery_sink = handle
        canvas.setTitle(report.job_title)
        canvas.setAuthor(report.site_title)
        canvas.setCreator("jobgallery")
        Layout(canvas, report).draw()
        canvas.save()


# ---------------------------------------------------------------- images read only while the PDF is written


class LazyJpeg(pdfdoc.PDFImageXObject):
    """A JPEG image XObject whose bytes come from disk when the PDF is written, and are not kept."""

    def __init__(self, name: str, path: Path) -> None:
        try:
            with open(path, "rb") as handle:
                width, height, components, _ = pdfutils.readJPEGInfo(handle)
        except (OSError, ValueError, IndexError) as exc:
            raise ReportProblem(f"the report's image {path.name} cannot be read: {exc}") from None
        self.name, self.path = name, path
        self.width, self.height, self.bitsPerComponent = width, height, 8
        self.colorSpace = {1: "DeviceGray", 3: "DeviceRGB"}.get(components, "DeviceCMYK")
        self._filters = ("DCTDecode",)
        self.mask = None

    @property
    def streamContent(self) -> bytes:
        return self.path.read_bytes()

    def format(self, document: pdfdoc.PDFDocument) -> bytes:
        spill(document)
        return super().format(document)


def spill(document: pdfdoc.PDFDocument) -> None:
    """From the first image on, send ReportLab's output to the file instead of a list in memory.

    ReportLab collects the whole formatted file in a list (``PDFFile``) and
    joins it at the end: two copies of every image at the peak (47 MB of
    output for 300 photos made a 128 MiB peak). Its collector counts offsets
    itself and only appends through ``write``, so pointing ``write`` at the
    file gives the same bytes with one image in memory at a time.
    """
    collector = getattr(document, "__accum__", None)
    sink = getattr(document, "jobgallery_sink", None)
    if collector is None or sink is None or getattr(collector, "spilled", False):
        return
    for piece in collector.strings:
        sink.write(piece)
    collector.strings.clear()
    collector.write = sink.write
    collector.spilled = True


def draw_jpeg(canvas: Canvas, path: Path, box: tuple[float, float, float, float]) -> None:
    """Draw a JPEG centred in ``box`` (x, y, width, height), as large as fits, without reading its pixels."""
    name = "img" + hashlib.sha256(path.name.encode()).hexdigest()[:16]
    registered = canvas._doc.getXObjectName(name)
    image = canvas._doc.idToObject.get(registered)
    if image is None:
        image = LazyJpeg(name, path)
        canvas._setXObjects(image)
        canvas._doc.Reference(image, registered)
        canvas._doc.addForm(name, image)
    x, y, width, height = box
    scale = min(width / image.width, height / image.height)
    w, h = image.width * scale, image.height * scale
    canvas.saveState()
    canvas.translate(x + (width - w) / 2, y + (height - h) / 2)
    canvas.scale(w, h)
    canvas._code.append(f"/{registered} Do")
    canvas.restoreState()
    canvas._formsinuse.append(name)


# ---------------------------------------------------------------- pages


class Layout:
    """Draws the cover, the photo pages and the index onto one canvas."""

    def __init__(self, canvas: Canvas, report: ReportInput) -> None:
        self.canvas = canvas
        self.report = report
        self.regular, self.bold = fonts()
        self.page = 1
        self.photo_pages: list[int] = []

    def draw(self) -> None:
        self.cover()
        for chunk in chunks(list(enumerate(self.report.photos, 1)), self.report.per_page):
            self.new_page()
            self.photo_page(chunk)
        for rows in chunks(appendix_rows(self.report), APPENDIX_ROWS):
            self.new_page()
            self.appendix_page(rows)
        if len(self.report.photos) > INDEX_OVER:
            for rows in chunks(list(enumerate(self.photo_pages, 1)), INDEX_ROWS):
                self.new_page()
                self.index_page(rows)

    def new_page(self) -> None:
        self.canvas.showPage()
        self.page += 1
        self.footer()

    def text(self, x: float, y: float, text: str, size: float, bold: bool = False, grey: bool = False) -> None:
        """One line of text at (x, y) in points; grey for what is said about a photo rather than by it."""
        self.canvas.setFont(self.bold if bold else self.regular, size)
        self.canvas.setFillColorRGB(*(GREY if grey else (0, 0, 0)))
        self.canvas.drawString(x, y, text)

    def lines(self, text: str, size: float, width: float, most: int, bold: bool = False) -> list[str]:
        """``text`` wrapped to ``width`` in the font it is drawn in; past ``most`` lines it ends in an ellipsis."""
        return cut(text, self.bold if bold else self.regular, size, width, most)

    def footer(self) -> None:
        title = self.lines(self.report.job_title, 8, PAGE_W / 2, 1)[0]
        self.text(MARGIN, FOOTER, title, 8, grey=True)
        label = f"page {self.page} of {self.report.pages}"
        self.canvas.drawRightString(PAGE_W - MARGIN, FOOTER, label)

    # ------------------------------------------------------------ cover

    def cover(self) -> None:
        report, top = self.report, PAGE_H - MARGIN
        if report.logo:
            self.logo(report.logo, top)
            top -= 32 * mm
        self.text(MARGIN, top - 10 * mm, report.site_title, 14, grey=True)
        y = top - 26 * mm
        size, title = self.cover_title()
        for line in title:
            self.text(MARGIN, y, line, size, bold=True)
            y -= size * 1.2
        count = len(report.photos)
        facts = [f"{count} photo{'' if count == 1 else 's'}", report.dates]
        if report.private:
            facts.append("Private report: includes where each photo was taken")
        for fact in filter(None, facts):
            y -= 8 * mm
            self.text(MARGIN, y, fact, 13)
        if report.link:
            self.qr_code(report.link, y - 20 * mm)

    def cover_title(self) -> tuple[float, list[str]]:
        """The job's title in the largest size (26, 18 or 13 pt) that holds all of it in 8 lines."""
        width = PAGE_W - 2 * MARGIN
        for size in (26, 18):
            lines = wrap(self.report.job_title, self.bold, size, width)
            if len(lines) <= COVER_TITLE_LINES:
                return size, lines
        return 13, wrap(self.report.job_title, self.bold, 13, width)

    def logo(self, path: Path, top: float) -> None:
        try:
            self.canvas.drawImage(
                str(path), MARGIN, top - 25 * mm, 60 * mm, 25 * mm, preserveAspectRatio=True, anchor="w"
            )
        except (OSError, ValueError) as exc:
            raise ReportProblem(f"the report logo {path} cannot be read: {exc}") from None

    def qr_code(self, link: str, top: float) -> None:
        """The code drawn as vector squares (sharp at any zoom), its address printed under it."""
        matrix = segno.make(link, error="m", boost_error=False).matrix
        size = 50 * mm
        cell = size / (len(matrix) + 8)
        x0, y0 = MARGIN, top - size
        self.canvas.setFillColorRGB(0, 0, 0)
        for r, row in enumerate(matrix):
            for c, dark in enumerate(row):
                if dark:
                    self.canvas.rect(x0 + (c + 4) * cell, y0 + size - (r + 5) * cell, cell, cell, stroke=0, fill=1)
        for i, line in enumerate(self.lines(link, 9, PAGE_W - 2 * MARGIN, 3)):
            self.text(MARGIN + 4 * cell, y0 - 2 * mm - i * 4 * mm, line, 9, grey=True)

    # ------------------------------------------------------------ photos

    def photo_page(self, chunk: list[tuple[int, ReportPhoto]]) -> None:
        columns, _ = GRID[self.report.per_page]
        _, width, height = caption_box(self.report.per_page)
        for slot, (number, photo) in enumerate(chunk):
            column, row = slot % columns, slot // columns
            x = MARGIN + column * (width + GUTTER)
            y = PAGE_H - MARGIN - (row + 1) * height - row * GUTTER
            self.photo(number, photo, (x, y, width, height))
            self.photo_pages.append(self.page)

    def photo(self, number: int, photo: ReportPhoto, cell: tuple[float, float, float, float]) -> None:
        x, y, width, height = cell
        size = caption_box(self.report.per_page)[0]
        captions = self.caption(number, photo, size, width)
        text_height = len(captions) * size * LEADING
        draw_jpeg(self.canvas, photo.image, (x, y + text_height + 2 * mm, width, height - text_height - 2 * mm))
        line_y = y + text_height - size
        for text, style in captions:
            self.text(x, line_y, text, size, bold=style == "bold", grey=style == "grey")
            line_y -= size * LEADING

    def caption(self, number: int, photo: ReportPhoto, size: float, width: float) -> list[tuple[str, str]]:
        """(line, style) pairs: number and time in bold, the description, then tags and location in grey."""
        most, tail = CAPTION_LINES[self.report.per_page], CUT if is_cut(self.report, photo) else " …"
        out = [(line, "bold") for line in self.lines(f"#{number} · {photo.time_label}", size, width, 1, bold=True)]
        out += [(line, "plain") for line in cut(photo.description, self.regular, size, width, most, tail)]
        if photo.tags:
            out += [(line, "grey") for line in cut(tag_line(photo), self.regular, size, width, 2, tail)]
        if self.report.private and photo.location:
            out += [(line, "grey") for line in self.lines(f"Location: {photo.location}", size, width, 2)]
        return out

    # ------------------------------------------------------------ descriptions in full

    def appendix_page(self, rows: list[tuple[str, str]]) -> None:
        y = PAGE_H - MARGIN - 6 * mm
        self.text(MARGIN, y, "Descriptions in full", 16, bold=True)
        y = APPENDIX_TOP
        for text, style in rows:
            self.text(MARGIN, y, text, APPENDIX_SIZE, bold=style == "bold", grey=style == "grey")
            y -= APPENDIX_SIZE * LEADING

    # ------------------------------------------------------------ index

    def index_page(self, rows: list[tuple[int, int]]) -> None:
        y = PAGE_H - MARGIN - 6 * mm
        self.text(MARGIN, y, "Index of photos", 16, bold=True)
        y -= 10 * mm
        for number, page in rows:
            photo = self.report.photos[number - 1]
            self.text(MARGIN, y, f"#{number}", 9, bold=True)
            self.text(MARGIN + 14 * mm, y, photo.time_label, 9, grey=True)
            text = self.lines(photo.description or "—", 9, PAGE_W - 2 * MARGIN - 100 * mm, 1)[0]
            self.text(MARGIN + 75 * mm, y, text, 9)
            self.canvas.drawRightString(PAGE_W - MARGIN, y, f"page {page}")
            y -= 5.6 * mm


def chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
