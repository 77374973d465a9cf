"""File names as phones, card readers and scripts send them: only metadata, decoded leniently for display.

A photo is judged by its content; its name is only shown (on the upload
result page, in logs and import reports). So a name is never a reason to
refuse a photo: whatever bytes arrive are decoded as UTF-8 when they are
UTF-8, else as Windows-1252 (what older Windows tools and card readers write;
a byte it leaves undefined becomes U+FFFD), and then made safe to show: the
last path component only, no control, format or bidi characters (which
could spoof what is shown, ``x\\u202egpj.exe``), at most ``MAX_SHOWN``
characters. An empty result is fine: the stored master's name is shown.
"""

from __future__ import annotations

import os
import re
import unicodedata
from urllib.parse import unquote_to_bytes

MAX_SHOWN = 200
ELLIPSIS = "…"
FALLBACK_ENCODING = "cp1252"
# Unicode categories never shown: controls, format characters (bidi overrides, zero-width), lone surrogates,
# private use and unassigned code points.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
PARAMETER = re.compile(
    r';\s*(?P<key>[^\s=;"]+)\s*=\s*(?:"(?P<quoted>(?:[^"\\]|\\.)*)(?:"|$)|(?P<plain>[^;]*))', re.DOTALL
)
PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# RFC 5987 / 2231 extended value: charset'language'percent-encoded-bytes.
EXTENDED_VALUE = re.compile(r"(?P<charset>[A-Za-z0-9!#$&+^_`{}~-]*)'[^']*'(?P<value>.*)", re.DOTALL)


def from_bytes(raw: bytes) -> str:
    """Bytes of a name in an unknown encoding: UTF-8 when they are, else Windows-1252."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode(FALLBACK_ENCODING, "replace")


def from_file_system(name: str) -> str:
    """A name from ``os.walk``/``os.listdir`` (undecodable bytes kept as surrogates) decoded leniently."""
    return from_bytes(os.fsencode(name))


def from_header(value: str) -> str:
    """A header parameter that was read as Latin-1 (each byte one character) decoded leniently.

    Browsers percent-encode a few characters of a multipart file name (``"``
    as ``%22``, line ends as ``%0A``/``%0D``) and some scripts percent-encode
    all of it: escapes are decoded when what they make is UTF-8.
    """
    raw = value.encode("latin-1", "replace")
    if PERCENT_ESCAPE.search(value):
        unquoted = unquote_to_bytes(raw)
        try:
            return unquoted.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return from_bytes(raw)


def from_extended(value: str) -> str:
    """An RFC 5987 ``filename*`` value (``UTF-8''caf%C3%A9.jpg``), read as Latin-1, decoded leniently."""
    match = EXTENDED_VALUE.fullmatch(value)
    if match is None:
        return from_header(value)
    raw = unquote_to_bytes(match["value"].encode("latin-1", "replace"))
    try:
        return raw.decode(match["charset"] or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return from_bytes(raw)


def sent_name(disposition: str) -> str | None:
    """The file name in a multipart part's Content-Disposition header (read as Latin-1); None when it is no file.

    The parameters are read here rather than by the multipart parser, which
    would drop ``filename*`` or refuse bytes that are not UTF-8; ``filename*``
    wins over ``filename`` (RFC 6266).
    """
    parameters = disposition_parameters(disposition)
    if "filename*" in parameters:
        name = from_extended(parameters["filename*"])
    elif "filename" in parameters:
        name = from_header(parameters["filename"])
    else:
        return None
    return for_display(name.replace("\\", "/").rsplit("/", 1)[-1])


def disposition_parameters(disposition: str) -> dict[str, str]:
    """``form-data; name="image"; filename="a.jpg"`` -> ``{"name": "image", "filename": "a.jpg"}``.

    Lenient as browsers are: a quoted value may hold ``;`` and ``\\"`` (other
    backslashes stay, for Windows paths), an unclosed quote runs to the end,
    the first of a repeated parameter counts.
    """
    parameters: dict[str, str] = {}
    for match in PARAMETER.finditer(disposition):
        quoted, plain = match["quoted"], match["plain"]
        value = quoted.replace('\\"', '"') if quoted is not None else plain.strip().strip('"')
        parameters.setdefault(match["key"].lower(), value)
    return parameters


def for_display(name: str) -> str:
    """``name`` without hidden characters or surrounding blanks, shortened to ``MAX_SHOWN``."""
    name = "".join(ch for ch in name if unicodedata.category(ch) not in HIDDEN_CATEGORIES)
    name = " ".join(name.split())
    if len(name) > MAX_SHOWN:
        name = name[: MAX_SHOWN - len(ELLIPSIS)] + ELLIPSIS
    return name
