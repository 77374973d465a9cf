"""Capture time: when a photo was taken, read from every place devices write it.

A photo's capture time is kept as the wall time where it was taken
(``YYYY-MM-DDTHH:MM:SS``, ``.mmm`` added when the device wrote sub-seconds)
plus, when the photo says, its UTC offset (``+01:00``). Sources, first found wins:

1. EXIF DateTimeOriginal, with SubSecTimeOriginal and OffsetTimeOriginal;
2. XMP ``exif:DateTimeOriginal`` or ``photoshop:DateCreated`` (JPEG APP1, PNG iTXt, WebP, HEIC);
3. EXIF DateTimeDigitized, then XMP ``xmp:CreateDate``;
4. EXIF DateTime (the IFD0 one), with SubSecTime and OffsetTime, then a PNG's ``Creation Time`` text;
5. GPS GPSDateStamp + GPSTimeStamp, which is UTC (offset ``+00:00``).

A wall time found without an offset takes one from another source that gives
the same wall time with an offset (an XMP copy of DateTimeOriginal often does).

Values come in the forms taggers write in the wild: colons or dashes (or
slashes) in the date, a space or ``T`` before the time, sub-seconds, a trailing
``Z`` or offset, NUL or space padding. Blank values (``0000:00:00 00:00:00``,
spaces) and impossible dates mean "unknown", never an error.

XMP is untrusted text: at most ``XMP_MAX`` bytes of it are looked at (a
compressed PNG chunk is never inflated beyond that), and it is searched with
plain patterns, never handed to an XML parser (entity expansion).
"""

from __future__ import annotations

import email.utils
import functools
import re
import struct
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from PIL import Image

XMP_MAX = 64 * 1024
XMP_KEYWORD = b"XML:com.adobe.xmp"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks walked at most in a PNG looking for XMP (phones write a few; encoders split IDAT in thousands).
PNG_MAX_CHUNKS = 100_000

EXIF_IFD = 0x8769
GPS_IFD = 0x8825
DATETIME = 0x0132
DATETIME_ORIGINAL = 0x9003
DATETIME_DIGITIZED = 0x9004
OFFSET_TIME = 0x9010
OFFSET_TIME_ORIGINAL = 0x9011
OFFSET_TIME_DIGITIZED = 0x9012
SUBSEC_TIME = 0x9290
SUBSEC_TIME_ORIGINAL = 0x9291
SUBSEC_TIME_DIGITIZED = 0x9292
GPS_TIME_STAMP = 0x0007
GPS_DATE_STAMP = 0x001D

# Broken EXIF shows up as any of these, depending on where the parser trips.
EXIF_ERRORS = (ValueError, TypeError, KeyError, IndexError, ZeroDivisionError, OverflowError, SyntaxError, OSError)

STAMP = re.compile(
    r"(?P<year>\d{4})[:/.-](?P<month>\d{1,2})[:/.-](?P<day>\d{1,2})"
    r"(?:T|\s+)(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?"
    r"\s*(?P<zone>Z|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)
OFFSET = re.compile(r"(?P<sign>[+-])(?P<hours>\d{2}):?(?P<minutes>\d{2})|Z", re.ASCII)
GPS_DATE = re.compile(r"(?P<year>\d{4})[:/.-](?P<month>\d{2})[:/.-](?P<day>\d{2})", re.ASCII)
# Real zones lie between UTC-12:00 and UTC+14:00.
MAX_OFFSET = timedelta(hours=14)

XMP_ORIGINAL = ("exif:DateTimeOriginal", "photoshop:DateCreated")
XMP_CREATED = ("xmp:CreateDate", "exif:DateTimeDigitized")
# The PNG text keyword for "time of original image creation" (PNG spec 11.3.4.2), RFC 1123 or ISO 8601.
PNG_CREATION_TIME = "Creation Time"


@dataclass(frozen=True)
class CaptureTime:
    """A wall time where the photo was taken and, when known, its UTC offset."""

    local: datetime  # naive
    offset: timedelta | None
    subsec: bool = False

    @property
    def taken_at(self) -> str:
        """``YYYY-MM-DDTHH:MM:SS``, or ``...SS.mmm`` when the device wrote sub-seconds."""
        return self.local.isoformat(timespec="milliseconds" if self.subsec else "seconds")

    @property
    def offset_text(self) -> str | None:
        """``+HH:MM`` / ``-HH:MM``, or None when the photo does not say."""
        return None if self.offset is None else offset_text(self.offset)


# ---------------------------------------------------------------- the photo as a whole


def read(path: Path, fmt: str, info: dict, exif: Image.Exif | None) -> CaptureTime | None:
    """The capture time of the photo at ``path`` (already opened: ``fmt``, ``info``, ``exif``), or None."""
    ifd0, exif_ifd, gps = exif_parts(exif)
    xmp = xmp_text(xmp_packet(path, fmt, info))
    found = (
        exif_time((exif_ifd, ifd0), DATETIME_ORIGINAL, SUBSEC_TIME_ORIGINAL, OFFSET_TIME_ORIGINAL),
        xmp_time(xmp, XMP_ORIGINAL),
        exif_time((exif_ifd, ifd0), DATETIME_DIGITIZED, SUBSEC_TIME_DIGITIZED, OFFSET_TIME_DIGITIZED),
        xmp_time(xmp, XMP_CREATED),
        exif_time((ifd0, exif_ifd), DATETIME, SUBSEC_TIME, OFFSET_TIME),
        png_creation_time(info) if fmt == "PNG" else None,
        gps_time(gps),
    )
    return first_with_offset([time for time in found if time is not None])


def first_with_offset(found: Sequence[CaptureTime]) -> CaptureTime | None:
    """The first time found; without an offset, it borrows one from a later source with the same wall time."""
    if not found:
        return None
    chosen = found[0]
    if chosen.offset is None:
        second = chosen.local.replace(microsecond=0)
        for other in found[1:]:
            if other.offset is not None and other.local.replace(microsecond=0) == second:
                return CaptureTime(chosen.local, other.offset, chosen.subsec)
    return chosen


def exif_parts(exif: Image.Exif | None) -> tuple[dict, dict, dict]:
    """IFD0, the EXIF IFD and the GPS IFD as plain dicts; empty where missing or unreadable."""
    return exif_ifd_dict(exif, None), exif_ifd_dict(exif, EXIF_IFD), exif_ifd_dict(exif, GPS_IFD)


def exif_ifd_dict(exif: Image.Exif | None, tag: int | None) -> dict:
    if exif is None:
        return {}
    try:
        return dict(exif if tag is None else exif.get_ifd(tag))
    except EXIF_ERRORS:
        return {}


# ---------------------------------------------------------------- EXIF values


def exif_time(ifds: Sequence[dict], stamp_tag: int, subsec_tag: int, offset_tag: int) -> CaptureTime | None:
    """One EXIF date/time tag with its sub-second and offset companions, looked up in ``ifds`` in order.

    The standard puts DateTime in IFD0 and everything else in the EXIF IFD;
    some writers put a tag in the other one.
    """
    time = first(parse_stamp(ifd.get(stamp_tag)) for ifd in ifds)
    if time is None:
        return None
    subsec = first(parse_subsec(ifd.get(subsec_tag)) for ifd in ifds)
    if subsec is not None and not time.subsec:
        time = CaptureTime(time.local.replace(microsecond=subsec), time.offset, True)
    if time.offset is None:
        time = CaptureTime(time.local, first(parse_offset(ifd.get(offset_tag)) for ifd in ifds), time.subsec)
    return time


def first(values: Iterable[T | None]) -> T | None:
    return next((value for value in values if value is not None), None)


def as_text(value: object) -> str | None:
    """An EXIF or XMP value as text without padding (EXIF ASCII may be bytes, padded with NULs or spaces)."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, (tuple, list)) and len(value) == 1:
        return as_text(value[0])
    if not isinstance(value, str):
        return None
    return value.replace("\0", " ").strip()


def parse_stamp(value: object) -> CaptureTime | None:
    """``2024:03:05 07:10:00`` and its relatives; None for blanks and impossible dates."""
    text = as_text(value)
    match = STAMP.fullmatch(text) if text else None
    if match is None:
        return None
    parts = {name: int(match[name] or 0) for name in ("year", "month", "day", "hour", "minute", "second")}
    try:
        local = datetime(**parts)
    except ValueError:
        return None
    fraction = match["fraction"]
    if fraction:
        local = local.replace(microsecond=milliseconds(fraction) * 1000)
    return CaptureTime(local, parse_offset(match["zone"]), bool(fraction))


def parse_subsec(value: object) -> int | None:
    """SubSecTime digits (``"12"`` is 0.12 s) as microseconds, to the millisecond; None when absent or not digits."""
    text = as_text(value)
    if not text or not text.isdigit() or not text.isascii():
        return None
    return milliseconds(text) * 1000


def milliseconds(digits: str) -> int:
    """Decimal fraction digits to whole milliseconds (truncated, as clocks count)."""
    return int(digits[:3].ljust(3, "0"))


def parse_offset(value: object) -> timedelta | None:
    """``+01:00``, ``-0530`` or ``Z`` to a timedelta; None for blanks and offsets no zone uses."""
    text = as_text(value)
    match = OFFSET.fullmatch(text) if text else None
    if match is None:
        return None
    if text == "Z":
        return timedelta(0)
    hours, minutes = int(match["hours"]), int(match["minutes"])
    offset = timedelta(hours=hours, minutes=minutes) * (-1 if match["sign"] == "-" else 1)
    return offset if minutes < 60 and abs(offset) <= MAX_OFFSET else None


def offset_text(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def gps_time(gps: dict) -> CaptureTime | None:
    """GPSDateStamp + GPSTimeStamp (hours, minutes, seconds as rationals): a UTC time."""
    date = as_text(gps.get(GPS_DATE_STAMP))
    match = GPS_DATE.fullmatch(date) if date else None
    stamp = gps.get(GPS_TIME_STAMP)
    if match is None or not isinstance(stamp, (tuple, list)) or len(stamp) != 3:
        return None
    try:
        hours, minutes, seconds = (float(part) for part in stamp)
        whole = int(seconds)
        fraction = round((seconds - whole) * 1000)
        local = datetime(int(match["year"]), int(match["month"]), int(match["day"]), int(hours), int(minutes), whole)
    except EXIF_ERRORS:
        return None
    if hours != int(hours) or minutes != int(minutes) or not 0 <= fraction < 1000:
        return None
    return CaptureTime(local.replace(microsecond=fraction * 1000), timedelta(0), fraction > 0)


def png_creation_time(info: dict) -> CaptureTime | None:
    """A PNG's ``Creation Time`` text: EXIF or ISO 8601 forms, else RFC 1123 (``Tue, 05 Mar 2024 07:10:00 +0100``)."""
    text = as_text(info.get(PNG_CREATION_TIME))
    if not text or len(text) > 64:
        return None
    found = parse_stamp(text)
    if found is not None:
        return found
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    offset = moment.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        offset = None
    return CaptureTime(moment.replace(tzinfo=None), offset)


# ---------------------------------------------------------------- XMP


def xmp_packet(path: Path, fmt: str, info: dict) -> bytes:
    """The photo's XMP packet, at most ``XMP_MAX`` bytes; empty when there is none or it is larger."""
    if fmt == "PNG":
        return png_xmp(path)
    packet = info.get("xmp")
    if isinstance(packet, str):
        packet = packet.encode("utf-8", "replace")
    if not isinstance(packet, bytes) or len(packet) > XMP_MAX:
        return b""
    return packet


def png_xmp(path: Path) -> bytes:
    """The XMP of a PNG's ``iTXt`` chunk keyed ``XML:com.adobe.xmp``, walking chunk headers only."""
    try:
        with open(path, "rb") as handle:
            if handle.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
                return b""
            for _ in range(PNG_MAX_CHUNKS):
                head = handle.read(8)
                if len(head) < 8:
                    return b""
                length, kind = struct.unpack(">I4s", head)
                if kind == b"iTXt" and length <= XMP_MAX + len(XMP_KEYWORD) + 64:
                    packet = itxt_xmp(handle.read(length))
                    if packet is not None:
                        return packet
                    handle.seek(4, 1)
                elif kind == b"IEND":
                    return b""
                else:
                    handle.seek(length + 4, 1)
    except OSError:
        return b""
    return b""


def itxt_xmp(chunk: bytes) -> bytes | None:
    """The text of an XMP ``iTXt`` chunk (inflated up to ``XMP_MAX``); None for other keys, b"" when unusable."""
    keyword, _, rest = chunk.partition(b"\0")
    if keyword != XMP_KEYWORD or len(rest) < 2:
        return None
    compressed = rest[0] == 1
    _language, _, rest = rest[2:].partition(b"\0")
    _translated, _, text = rest.partition(b"\0")
    if not compressed:
        return text[:XMP_MAX] if len(text) <= XMP_MAX else b""
    inflater = zlib.decompressobj()
    try:
        packet = inflater.decompress(text, XMP_MAX)
    except zlib.error:
        return b""
    return b"" if inflater.unconsumed_tail else packet


def xmp_text(packet: bytes) -> str:
    return packet.decode("utf-8", "replace") if packet else ""


def xmp_time(xmp: str, names: Iterable[str]) -> CaptureTime | None:
    """The first of the properties ``names`` that holds a full date and time (attribute or element form)."""
    for name in names:
        for value in xmp_values(xmp, name):
            time = parse_stamp(value)
            if time is not None:
                return time
    return None


def xmp_values(xmp: str, name: str) -> list[str]:
    if not xmp or name not in xmp:
        return []
    quoted = re.escape(name)
    attributes = re.findall(rf"\b{quoted}\s*=\s*[\"']([^\"'<>]{{1,64}})[\"']", xmp)
    elements = re.findall(rf"<{quoted}(?:\s[^<>]*)?>\s*([^<>]{{1,64}}?)\s*</{quoted}>", xmp)
    return attributes + elements


# ---------------------------------------------------------------- stored values and order


def stored(taken_at: str | None, taken_offset: str | None) -> CaptureTime | None:
    """A row's ``taken_at`` and ``taken_offset`` back as a CaptureTime; None when unset or malformed."""
    local = wall_time(taken_at)
    if local is None:
        return None
    return CaptureTime(local, stored_offset(taken_offset), "." in taken_at)


def valid_offset(value: object) -> bool:
    """Whether ``value`` is a stored offset: None or ``+HH:MM`` as ``offset_text`` writes it."""
    if value is None:
        return True
    offset = parse_offset(value) if isinstance(value, str) and value != "Z" else None
    return offset is not None and offset_text(offset) == value


class Dated(Protocol):
    id: int
    taken_at: str | None
    taken_offset: str | None
    timestamp: str


D = TypeVar("D", bound=Dated)
T = TypeVar("T")


def in_order(photos: Iterable[D]) -> list[D]:
    """Photos by the instant they were taken (upload time when unknown), then id.

    A capture time without an offset is taken to be in the offset most of the
    job's photos with one have (the crew's phones and cameras are usually in
    one place); with none known, all wall times compare as they are. Instants
    are compared as naive UTC times: a site build orders every photo, and
    aware datetimes cost ten times more.
    """
    photos = list(photos)
    walls = [wall_time(photo.taken_at) for photo in photos]
    offsets = [stored_offset(photo.taken_offset) for photo in photos]
    usual = usual_offset(offset for wall, offset in zip(walls, offsets, strict=True) if wall is not None)
    keys = {
        photo.id: (utc_instant(wall, offset, photo.timestamp, usual), photo.id)
        for photo, wall, offset in zip(photos, walls, offsets, strict=True)
    }
    return sorted(photos, key=lambda photo: keys[photo.id])


def wall_time(taken_at: object) -> datetime | None:
    """A stored ``taken_at`` as a naive datetime; None when unset or malformed."""
    if not isinstance(taken_at, str):
        return None
    try:
        local = datetime.fromisoformat(taken_at)
    except ValueError:
        return None
    return local if local.tzinfo is None else None


def stored_offset(text: object) -> timedelta | None:
    """A stored ``taken_offset`` (``+01:00``) as a timedelta; None when unset or malformed."""
    return parse_stored_offset(text) if isinstance(text, str) else None


@functools.lru_cache(maxsize=256)
def parse_stored_offset(text: str) -> timedelta | None:
    return None if text == "Z" else parse_offset(text)


def usual_offset(offsets: Iterable[timedelta | None]) -> timedelta:
    """The most common known offset (the smallest of equally common ones); zero when none is known."""
    counts = Counter(offset for offset in offsets if offset is not None)
    if not counts:
        return timedelta(0)
    return min(counts, key=lambda offset: (-counts[offset], offset))


def utc_instant(wall: datetime | None, offset: timedelta | None, uploaded: object, usual: timedelta) -> datetime:
    """The naive UTC instant of a capture time, else of the upload time; rows with neither sort last."""
    if wall is not None:
        try:
            return wall - (usual if offset is None else offset)
        except OverflowError:  # year 1 east of UTC or year 9999 west of it: no datetime holds the instant
            return wall
    try:
        moment = datetime.fromisoformat(uploaded)
    except (TypeError, ValueError):
        return datetime.max
    try:
        return moment.replace(tzinfo=None) - (moment.utcoffset() or timedelta(0))
    except OverflowError:  # a row from elsewhere at the calendar's edge: one odd order, never a failed build
        return moment.replace(tzinfo=None)
