"""A photo's position as the phone's browser reported it, for photos whose EXIF has none.

Android browsers strip GPS from photos picked in a web form, so the upload
form may send the phone's own position (browser geolocation, taken when the
photo was chosen) in three form fields: ``geo_latitude`` and
``geo_longitude`` in decimal degrees (WGS 84, as the Geolocation API gives
them) and optional ``geo_accuracy_m``, the radius in metres within which the
true position lies with 95 % confidence. It is stored in the same private
``location`` column as a camera's GPS (``"lat,lon"``, 6 decimals), marked
``location_source = 'browser'``; it never reaches ``output/``. A photo's own
GPS always wins (ingest decides).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from jobgallery.errors import UsageError

FIELDS = ("geo_latitude", "geo_longitude", "geo_accuracy_m")
DECIMAL = re.compile(r"[+-]?[0-9]{1,8}(\.[0-9]{1,17})?")
# Half the Earth's circumference: no reading can be less precise than "somewhere on Earth".
MAX_ACCURACY_M = 20_037_509.0


@dataclass(frozen=True)
class BrowserLocation:
    latitude: float
    longitude: float
    accuracy_m: float | None

    @property
    def text(self) -> str:
        """As the ``location`` column stores positions: ``"lat,lon"`` in decimal degrees, 6 places (~10 cm)."""
        return f"{self.latitude:.6f},{self.longitude:.6f}"


def parse_browser_location(fields: Mapping[str, str]) -> BrowserLocation | None:
    """The position in a form's ``geo_*`` fields; None when all are empty; UsageError (400) when malformed."""
    latitude, longitude, accuracy = (fields.get(name, "").strip() for name in FIELDS)
    if not (latitude or longitude or accuracy):
        return None
    if not (latitude and longitude):
        raise UsageError("send geo_latitude and geo_longitude together (geo_accuracy_m is optional)")
    return BrowserLocation(
        degrees(latitude, "geo_latitude", 90.0),
        degrees(longitude, "geo_longitude", 180.0),
        metres(accuracy) if accuracy else None,
    )


def decimal(text: str, name: str) -> float:
    """A plain decimal number (no exponent, no nan or inf, no locale commas)."""
    if not DECIMAL.fullmatch(text):
        raise UsageError(f"{name} must be a decimal number like 52.520008, not {text[:40]!r}")
    value = float(text)
    if not math.isfinite(value):
        raise UsageError(f"{name} must be a finite number")
    return value


def degrees(text: str, name: str, limit: float) -> float:
    value = decimal(text, name)
    if abs(value) > limit:
        raise UsageError(f"{name} must be between -{limit:g} and {limit:g} degrees, not {text[:40]}")
    return value


def metres(text: str) -> float:
    return accuracy(decimal(text, "geo_accuracy_m"))


def accuracy(value: float) -> float:
    """A 95 % radius in metres, 0 to ``MAX_ACCURACY_M``; UsageError otherwise (also for nan and inf).

    The one rule for the column, whether the value comes from a form or from an archive's row.
    """
    if not (math.isfinite(value) and 0 <= value <= MAX_ACCURACY_M):
        raise UsageError(f"geo_accuracy_m must be between 0 and {MAX_ACCURACY_M:.0f} metres, not {value:g}")
    return value
