"""What a file's name says it is, for ``jobgallery import`` of a whole card or folder.

Cards and copied folders hold more than photos: an iPhone's Live Photo is a
JPEG or HEIC beside a ``.MOV``, cameras write sidecars and catalogues, crews
leave notes. A file whose extension names another kind (video, audio, text,
a document, vector graphics, a sidecar) is skipped and listed, not refused:
an import of such a card succeeds. A file whose name says it is a photo is
always tried and refused when it fails the checks, so a damaged or disguised
file is never waved through. Extensions are compared case-insensitively.
"""

from __future__ import annotations

import os

# What the upload checks accept, and photo formats they refuse with a reason (RAW, TIFF, GIF...).
PHOTO_SUFFIXES = frozenset(
    {
        *(".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".heic", ".heif", ".hif", ".avif", ".gif", ".bmp"),
        *(".tif", ".tiff", ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf"),
        *(".rw2", ".raf", ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".kdc", ".mrw"),
    }
)

OTHER_KINDS: dict[str, tuple[str, ...]] = {
    "a video": (".mov", ".mp4", ".m4v", ".avi", ".mts", ".m2ts", ".mpg", ".mpeg", ".3gp", ".mkv", ".wmv", ".webm"),
    "a sound recording": (".wav", ".mp3", ".m4a", ".aac", ".amr", ".ogg", ".opus", ".flac"),
    "a text file": (".txt", ".md", ".csv", ".log", ".rtf", ".html", ".htm", ".xml", ".nfo", ".ini", ".url"),
    "a document": (".pdf", ".doc", ".docx", ".odt", ".xls", ".xlsx", ".ods", ".ppt", ".pptx", ".odp", ".pages"),
    "vector graphics": (".svg", ".svgz", ".eps", ".ai", ".wmf", ".emf"),
    "a sidecar file": (".xmp", ".aae", ".thm", ".lrv", ".json", ".dop", ".pp3", ".ctg"),
}
OTHER_NAMES = {"thumbs.db": "a folder thumbnail cache", "desktop.ini": "a folder settings file"}
SKIP_REASONS = {suffix: kind for kind, suffixes in OTHER_KINDS.items() for suffix in suffixes}


def suffix(name: str) -> str:
    return os.path.splitext(name.lower())[1]


def says_photo(name: str) -> bool:
    """The name ends like a photo's: the file must pass the checks or be refused."""
    return suffix(name) in PHOTO_SUFFIXES


def other_kind(name: str) -> str | None:
    """What else the name says the file is ("a video"), or None when it says photo or nothing."""
    lowered = os.path.basename(name.lower())
    return OTHER_NAMES.get(lowered) or SKIP_REASONS.get(suffix(lowered))
