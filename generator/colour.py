"""Colour: every derivative is sRGB, whatever colour description its master carries.

A master describes its colours in one of several ways, tried in this order
(the order of the PNG specification, extended to the other formats):

1. an ICC profile (JPEG APP2, PNG iCCP, WebP ICCP, HEIC colr/prof), in any
   mode: RGB, CMYK (Adobe's inverted CMYK and YCCK are undone by the JPEG
   decoder, so the pixels are plain CMYK by then) or grey;
2. a PNG ``sRGB`` chunk;
3. PNG ``gAMA`` and ``cHRM`` chunks, or a HEIC ``nclx`` box (primaries and
   transfer function by their ITU-T H.273 code points);
4. EXIF: ``ColorSpace`` 2, or ``ColorSpace`` "uncalibrated" with the DCF
   interoperability index ``R03``, both mean Adobe RGB (1998).

Without any of these a master is sRGB, as on the web. Descriptions of kinds
2 to 4 become a matrix/TRC profile written here (``matrix_profile``).

A profile is untrusted input: one that LittleCMS cannot parse, that is
larger than ``MAX_ICC_BYTES`` (the limit a file's profile is refused
past when it is opened), or whose colour space does not match the
pixels is ignored, and the photo is converted as if untagged (Pillow's
naive conversion for CMYK); a note says why, and the build goes on.
Derivatives carry no profile at all: untagged means sRGB to every browser,
and no byte of a master's profile reaches ``output/``.

Transforms are built once per distinct profile in a process (about 2 ms
each for a matrix profile) and applied to display-size pixels (about 12 ms for 1024 x 768 on
this project's 2-core reference box); a profile that maps every colour to
itself (an embedded sRGB profile) is found out once and costs nothing after.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import struct
from dataclasses import dataclass

from PIL import Image, ImageCms

from jobgallery.containers import MAX_ICC_BYTES
from jobgallery.images import EXIF_ERRORS

# CIE xy chromaticities of the primaries (red, green, blue) and white point.
SRGB_PRIMARIES = ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060))
D65 = (0.3127, 0.3290)
ADOBE_RGB_PRIMARIES = ((0.640, 0.330), (0.210, 0.710), (0.150, 0.060))
ADOBE_RGB_GAMMA = 563 / 256  # 2.19921875, as in the Adobe RGB (1998) specification
# ITU-T H.273 colour primaries (code point -> primaries, white) that HEIC nclx boxes use.
NCLX_PRIMARIES = {
    1: (SRGB_PRIMARIES, D65),  # BT.709, the same as sRGB
    9: (((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)), D65),  # BT.2020
    11: (((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), (0.314, 0.351)),  # DCI-P3
    12: (((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), D65),  # Display P3
}
# ICC parametric curves (type 3: Y = (aX + b)^g above d, cX below), by H.273 transfer code point.
SRGB_CURVE = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
BT709_CURVE = (1 / 0.45, 1 / 1.099, 0.099 / 1.099, 1 / 4.5, 0.081)
NCLX_CURVES = {1: BT709_CURVE, 6: BT709_CURVE, 14: BT709_CURVE, 15: BT709_CURVE, 13: SRGB_CURVE}
NCLX_GAMMAS = {4: 2.2, 5: 2.8, 8: 1.0}
NCLX_UNSPECIFIED = 2

# EXIF tags that name a colour space without a profile.
EXIF_IFD, INTEROP_IFD = 0x8769, 0xA005
COLOR_SPACE, INTEROP_INDEX = 0xA001, 0x0001
EXIF_ADOBE_RGB, EXIF_UNCALIBRATED = 2, 0xFFFF

# The mode a transform reads for each ICC colour space, and what it writes.
PROFILE_MODES = {"RGB": "RGB", "CMYK": "CMYK", "GRAY": "L"}
# A profile within one level of identity on this probe is sRGB itself.
PROBE_LEVELS = (0, 48, 96, 144, 192, 255)


@dataclass(frozen=True)
class Description:
    """How a master describes its colours: a profile's bytes (None: sRGB), where they came from, any problem."""

    profile: bytes | None
    source: str
    note: str | None = None


# ---------------------------------------------------------------- reading the description


def describe(image: Image.Image) -> Description:
    """The colour description ``image`` carries (``info`` and EXIF are read; no pixel is decoded)."""
    info = image.info
    icc = info.get("icc_profile")
    if icc:
        return Description(bytes(icc), "ICC profile")
    if "srgb" in info:
        return Description(None, "PNG sRGB chunk")
    if "chromaticity" in info or "gamma" in info:
        return png_description(info)
    nclx = info.get("nclx_profile")
    if nclx:
        return nclx_description(nclx)
    return exif_description(image)


def png_description(info: dict) -> Description:
    """PNG gAMA (the file's encoding exponent, e.g. 0.45455) and cHRM (white, red, green, blue as x, y)."""
    primaries, white = SRGB_PRIMARIES, D65
    chromaticity = info.get("chromaticity")
    if chromaticity:
        wx, wy, rx, ry, gx, gy, bx, by = chromaticity
        primaries, white = ((rx, ry), (gx, gy), (bx, by)), (wx, wy)
    gamma = info.get("gamma")
    curve = (1 / gamma,) if gamma else SRGB_CURVE
    try:
        return Description(matrix_profile(primaries, white, curve), "PNG gAMA/cHRM chunks")
    except ValueError as exc:
        return Description(None, "PNG gAMA/cHRM chunks", f"PNG gAMA/cHRM chunks ignored ({exc}); taken as sRGB")


def nclx_description(nclx: dict) -> Description:
    """HEIC colour by H.273 code points; "unspecified" means sRGB's primaries and curve."""
    primaries = nclx.get("color_primaries", NCLX_UNSPECIFIED)
    transfer = nclx.get("transfer_characteristics", NCLX_UNSPECIFIED)
    primaries = 1 if primaries == NCLX_UNSPECIFIED else primaries
    transfer = 13 if transfer == NCLX_UNSPECIFIED else transfer
    if (primaries, transfer) == (1, 13):
        return Description(None, "HEIC nclx box")
    known = NCLX_PRIMARIES.get(primaries)
    curve = NCLX_CURVES.get(transfer) or ((NCLX_GAMMAS[transfer],) if transfer in NCLX_GAMMAS else None)
    if known is None or curve is None:
        note = f"HEIC nclx primaries {primaries} / transfer {transfer} not supported; taken as sRGB"
        return Description(None, "HEIC nclx box", note)
    return Description(matrix_profile(*known, curve), "HEIC nclx box")


def exif_description(image: Image.Image) -> Description:
    """Adobe RGB named by EXIF (cameras set to Adobe RGB write no profile); else sRGB."""
    try:
        exif = image.getexif()
        sub = exif.get_ifd(EXIF_IFD)
        space = sub.get(COLOR_SPACE)
        index = exif.get_ifd(INTEROP_IFD).get(INTEROP_INDEX) if space == EXIF_UNCALIBRATED else None
    except EXIF_ERRORS:  # broken EXIF says nothing about colour
        return Description(None, "untagged")
    if isinstance(index, bytes):
        index = index.decode("latin-1")
    if space == EXIF_ADOBE_RGB or (isinstance(index, str) and index.strip("\0 ") == "R03"):
        return Description(matrix_profile(ADOBE_RGB_PRIMARIES, D65, (ADOBE_RGB_GAMMA,)), "EXIF ColorSpace")
    return Description(None, "untagged")


# ---------------------------------------------------------------- converting


def to_srgb(image: Image.Image, description: Description) -> tuple[Image.Image, str | None]:
    """``image`` (RGB, RGBA, L, LA or CMYK, 8 bits) as sRGB in RGB(A) or L(A), and a note when its profile was ignored.

    Alpha is carried through untouched. Grey stays grey: a grey profile's
    output is neutral, so its luma is the grey level.
    """
    base, alpha = split_alpha(image)
    note = description.note
    converted = None
    if description.profile is not None:
        converted, problem = through_profile(base, description.profile)
        if problem:
            note = f"{description.source} ignored ({problem}); taken as untagged"
    if converted is None:
        converted = base.convert("RGB") if base.mode == "CMYK" else base
    if alpha is not None:
        converted = converted.convert("RGBA" if converted.mode == "RGB" else "LA")
        converted.putalpha(alpha)
    return converted, note


def split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    if image.mode in ("RGBA", "LA"):
        return image.convert(image.mode[:-1]), image.getchannel("A")
    return image, None


def through_profile(image: Image.Image, profile: bytes) -> tuple[Image.Image | None, str | None]:
    """``image`` converted to sRGB through ``profile``; (None, why) when the profile cannot be used for it.

    Grey pixels tagged with an RGB profile (some editors do that) are read as
    R = G = B in that space and come back grey.
    """
    if len(profile) > MAX_ICC_BYTES:
        return None, f"profile of {len(profile)} bytes is larger than {MAX_ICC_BYTES}"
    digest = hashlib.sha256(profile).digest()
    source = image
    if image.mode == "L" and profile[16:20] == b"RGB ":
        source = image.convert("RGB")
    transform, problem = transform_for(digest, profile, source.mode)
    if problem:
        return None, problem
    if transform is None:  # the profile is sRGB itself
        return image, None
    try:
        converted = ImageCms.applyTransform(source, transform)
    except (ImageCms.PyCMSError, ValueError, OSError) as exc:
        return None, f"cannot apply it: {exc}"
    return (converted.convert("L") if image.mode == "L" else converted), None


TRANSFORMS: dict[tuple[bytes, str], tuple[ImageCms.ImageCmsTransform | None, str | None]] = {}
# A batch of photos from one phone or one press export shares a profile; a few transforms are plenty.
TRANSFORMS_KEPT = 8


def transform_for(digest: bytes, profile: bytes, mode: str) -> tuple[ImageCms.ImageCmsTransform | None, str | None]:
    """A transform from ``profile`` to sRGB for pixels of ``mode`` (None when it changes nothing), or why not.

    Kept by the profile's hash (never its bytes: a press profile may be MiBs), oldest dropped first.
    """
    key = (digest, mode)
    if key not in TRANSFORMS:
        if len(TRANSFORMS) >= TRANSFORMS_KEPT:
            del TRANSFORMS[next(iter(TRANSFORMS))]
        TRANSFORMS[key] = build_transform(profile, mode)
    return TRANSFORMS[key]


def build_transform(profile: bytes, mode: str) -> tuple[ImageCms.ImageCmsTransform | None, str | None]:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        space = source.profile.xcolor_space.strip()
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        return None, f"unreadable ICC profile: {exc}"
    if PROFILE_MODES.get(space) != mode:
        return None, f"a {space or 'unknown'} profile does not describe {mode} pixels"
    try:
        transform = ImageCms.buildTransform(source, srgb_profile(), mode, "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        return None, f"unusable ICC profile: {exc}"
    if mode == "RGB" and is_identity(transform):
        return None, None
    return transform, None


@functools.cache
def srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def is_identity(transform: ImageCms.ImageCmsTransform) -> bool:
    """True when ``transform`` moves no colour of a coarse RGB grid by more than one level."""
    levels = PROBE_LEVELS
    probe = Image.new("RGB", (len(levels) ** 3, 1))
    probe.putdata([(r, g, b) for r in levels for g in levels for b in levels])
    after = ImageCms.applyTransform(probe, transform)
    return all(abs(a - b) <= 1 for a, b in zip(probe.tobytes(), after.tobytes(), strict=True))


# ---------------------------------------------------------------- writing matrix profiles

D50_XYZ = (0.9642, 1.0, 0.8249)
BRADFORD = ((0.8951, 0.2664, -0.1614), (-0.7502, 1.7135, 0.0367), (0.0389, -0.0685, 1.0296))


def matrix_profile(
    primaries: tuple[tuple[float, float], ...], white: tuple[float, float], curve: tuple[float, ...]
) -> bytes:
    """ICC v2 RGB display profile bytes: ``primaries`` and ``white`` as CIE xy, one tone curve for all channels.

    ``curve`` is ``(gamma,)`` or the five parameters ``(g, a, b, c, d)`` of an
    ICC parametric curve of type 3. Colorants are adapted to the D50 PCS
    with the Bradford transform, as ICC.1 asks. Raises ValueError for
    chromaticities that span no colour space (from a hostile PNG, say).
    """
    matrix = rgb_to_xyz(primaries, white)
    adapted = matmul(adaptation(xy_to_xyz(white), D50_XYZ), matrix)
    colorants = [tuple(adapted[row][col] for row in range(3)) for col in range(3)]
    tags = [(b"desc", text_description("sRGB-converted source")), (b"cprt", text_tag("No copyright"))]
    tags.append((b"wtpt", xyz_tag(D50_XYZ)))
    tags += [(name, xyz_tag(xyz)) for name, xyz in zip((b"rXYZ", b"gXYZ", b"bXYZ"), colorants, strict=True)]
    trc = curve_tag(curve)
    tags += [(name, trc) for name in (b"rTRC", b"gTRC", b"bTRC")]
    return icc_bytes(b"RGB ", tags)


def xy_to_xyz(xy: tuple[float, float]) -> tuple[float, float, float]:
    x, y = xy
    if not (0 < y <= 1 and 0 <= x <= 1):
        raise ValueError(f"chromaticity {x:.4f}, {y:.4f} is outside the CIE diagram")
    return (x / y, 1.0, (1 - x - y) / y)


def rgb_to_xyz(primaries, white) -> list[list[float]]:
    """The 3x3 matrix from linear RGB to XYZ for these primaries, scaled so RGB white gives ``white``."""
    columns = [xy_to_xyz(p) for p in primaries]
    base = [[columns[col][row] for col in range(3)] for row in range(3)]
    scale = solve(base, xy_to_xyz(white))
    return [[base[row][col] * scale[col] for col in range(3)] for row in range(3)]


def adaptation(source: tuple[float, ...], target: tuple[float, ...]) -> list[list[float]]:
    cone_source = [sum(BRADFORD[r][c] * source[c] for c in range(3)) for r in range(3)]
    cone_target = [sum(BRADFORD[r][c] * target[c] for c in range(3)) for r in range(3)]
    gains = [[cone_target[r] / cone_source[r] if r == c else 0.0 for c in range(3)] for r in range(3)]
    return matmul(inverse(BRADFORD), matmul(gains, [list(row) for row in BRADFORD]))


def matmul(a, b) -> list[list[float]]:
    return [[sum(a[r][k] * b[k][c] for k in range(3)) for c in range(3)] for r in range(3)]


def inverse(m) -> list[list[float]]:
    """Inverse of a 3x3 matrix by its adjugate; ValueError when it has none (collinear primaries)."""
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    if abs(det) < 1e-9:
        raise ValueError("the primaries are collinear")
    adjugate = [
        [e * i - f * h, c * h - b * i, b * f - c * e],
        [f * g - d * i, a * i - c * g, c * d - a * f],
        [d * h - e * g, b * g - a * h, a * e - b * d],
    ]
    return [[value / det for value in row] for row in adjugate]


def solve(m, v) -> list[float]:
    inv = inverse(m)
    return [sum(inv[r][c] * v[c] for c in range(3)) for r in range(3)]


def s15(value: float) -> bytes:
    fixed = round(value * 65536)
    if not -(1 << 31) <= fixed < (1 << 31) or not math.isfinite(value):
        raise ValueError("a colorant is out of range")
    return struct.pack(">i", fixed)


def xyz_tag(xyz) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(s15(v) for v in xyz)


def curve_tag(curve: tuple[float, ...]) -> bytes:
    if len(curve) == 1:
        gamma = curve[0]
        if not 0.1 <= gamma <= 10:
            raise ValueError(f"gamma {gamma:.3f} is out of range")
        return b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)
    return b"para" + bytes(4) + struct.pack(">HH", 3, 0) + b"".join(s15(v) for v in curve)


def text_tag(text: str) -> bytes:
    return b"text" + bytes(4) + text.encode("ascii") + b"\0"


def text_description(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text + bytes(4 + 4 + 2 + 1 + 67)


def icc_bytes(space: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    """A whole profile: header, tag table, tag data (4-byte aligned; equal data is stored once)."""
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    data = b""
    placed: dict[bytes, int] = {}
    entries = []
    for signature, body in tags:
        if body not in placed:
            placed[body] = offset + len(data)
            data += body + bytes(-len(body) % 4)
        entries.append(struct.pack(">4sII", signature, placed[body], len(body)))
    size = offset + len(data)
    header = struct.pack(">I4sI4s4s4s", size, b"lcms", 0x02100000, b"mntr", space, b"XYZ ")
    header += bytes(12) + b"acsp" + bytes(4 + 4 + 4 + 4 + 8) + struct.pack(">I", 0)
    header += b"".join(s15(v) for v in D50_XYZ) + bytes(4 + 16 + 28)
    return header + struct.pack(">I", len(tags)) + b"".join(entries) + data
