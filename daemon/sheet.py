"""The printable job sheet: a job's title and a QR code of its upload address, to tape up on site.

A crew member scans the code with the phone's camera and lands on
``/upload?job=ID`` with the job already chosen (after signing in once).
The address is absolute, made from the scheme and ``Host`` the admin's own
request used (behind Nginx the scheme comes from a trusted proxy's
``X-Forwarded-Proto``), so print the sheet from the address crews use. The
QR code is inline SVG made by ``segno`` (no image file, no script: the
Content Security Policy allows neither from elsewhere), error correction M
(15 % of the code may be dirty or torn).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import segno
from markupsafe import Markup

from jobgallery.errors import UsageError

HOST = re.compile(
    r"(?:[A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](?::[0-9]{1,5})?"
)
SCHEMES = ("http", "https")


def upload_address(environ: Mapping, job_id: int) -> str:
    """``scheme://host/upload?job=ID`` as the requesting browser reached the daemon; UsageError for a bad Host."""
    return site_address(environ, f"/upload?job={job_id}")


def site_address(environ: Mapping, path: str) -> str:
    """``scheme://host<root><path>`` as the requesting browser reached the daemon; UsageError for a bad Host."""
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
    if not HOST.fullmatch(host):
        raise UsageError("the request's Host header is not a host name, so no address can be printed")
    scheme = environ.get("wsgi.url_scheme")
    scheme = scheme if scheme in SCHEMES else "http"
    root = environ.get("SCRIPT_NAME", "").rstrip("/")
    return f"{scheme}://{host}{root}{path}"


def qr_svg(address: str) -> Markup:
    """The QR code of ``address`` as an inline ``<svg>`` that scales to its box (a viewBox, no fixed size)."""
    code = segno.make(address, error="m", micro=False)
    return Markup(code.svg_inline(scale=1, border=4, omitsize=True, svgclass="qr-code"))
