"""Colour references for the tests: ICC profiles, a reference conversion, CIE76 colour difference.

The reference for a master is LittleCMS (``ImageCms.profileToProfile``)
applied to the master's decoded pixels through the profile it describes,
with the default (perceptual) intent, as a colour-managed viewer shows it.
Lab values are computed here from sRGB by the IEC 61966-2-1 and CIE 15
formulas (D65 white), independently of the code under test.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from conftest import IN_CI
from PIL import Image, ImageCms

from generator import colour

# Debian's libgs-common (installed by scripts/test.sh): a press CMYK profile, Adobe RGB, grey profiles.
GHOSTSCRIPT_ICC = Path("/usr/share/color/icc/ghostscript")
DISPLAY_P3 = (colour.NCLX_PRIMARIES[12][0], colour.D65)
D65_XYZ = (0.95047, 1.0, 1.08883)


def gs_profile(name: str) -> bytes:
    """A profile from libgs-common; skipped on a dev box without it, a failure under CI."""
    path = GHOSTSCRIPT_ICC / name
    if not path.is_file():
        message = f"{path} is missing (the README's test command installs libgs-common)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path.read_bytes()


def display_p3() -> bytes:
    """Display P3 (as iPhones tag their photos): P3 primaries, D65, the sRGB tone curve."""
    return colour.matrix_profile(*DISPLAY_P3, colour.SRGB_CURVE)


def reference(image: Image.Image, profile: bytes) -> Image.Image:
    """``image`` (RGB, CMYK or L pixels as decoded) converted to sRGB RGB through ``profile`` by LittleCMS."""
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")


def to_linear(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def lab(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    r, g, b = (to_linear(v) for v in rgb)
    xyz = (
        0.4124 * r + 0.3576 * g + 0.1805 * b,
        0.2126 * r + 0.7152 * g + 0.0722 * b,
        0.0193 * r + 0.1192 * g + 0.9505 * b,
    )
    f = [
        t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29
        for t in (v / w for v, w in zip(xyz, D65_XYZ, strict=True))
    ]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def mean_delta_e(first: Image.Image, second: Image.Image, size: tuple[int, int] = (80, 60)) -> float:
    """Mean CIE76 colour difference of two sRGB pictures, both reduced to ``size`` (averaging out JPEG noise)."""
    a = first.convert("RGB").resize(size, Image.Resampling.BOX)
    b = second.convert("RGB").resize(size, Image.Resampling.BOX)
    pixels_a, pixels_b = a.get_flattened_data(), b.get_flattened_data()
    total = 0.0
    for pa, pb in zip(pixels_a, pixels_b, strict=True):
        la, lb = lab(pa), lab(pb)
        total += sum((x - y) ** 2 for x, y in zip(la, lb, strict=True)) ** 0.5
    return total / len(pixels_a)


def exif_adobe_rgb() -> bytes:
    """EXIF as a camera set to Adobe RGB writes it: ColorSpace "uncalibrated", Interop index "R03" (DCF 2.0)."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)
    tiff += struct.pack(">H", 1) + struct.pack(">HHII", 0x8769, 4, 1, 26) + struct.pack(">I", 0)
    tiff += struct.pack(">H", 2) + struct.pack(">HHI", 0xA001, 3, 1) + b"\xff\xff\x00\x00"
    tiff += struct.pack(">HHII", 0xA005, 4, 1, 56) + struct.pack(">I", 0)
    tiff += struct.pack(">H", 1) + struct.pack(">HHI", 0x0001, 2, 4) + b"R03\x00" + struct.pack(">I", 0)
    return b"Exif\x00\x00" + tiff
