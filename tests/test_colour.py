"""Every derivative is sRGB: masters in other colour spaces, described every way a format can, are converted.

Each case is a master made here (a few KiB to a few hundred), published through
the real derivative code, and compared with LittleCMS's conversion of the
master's own pixels: mean CIE76 colour difference at most 2. The same master
published without colour management (the profile ignored, Pillow's naive
CMYK) is further off than that, so each case can fail.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import zlib
from pathlib import Path

import photos
import pytest
from colour_support import display_p3, exif_adobe_rgb, gs_profile, mean_delta_e, reference
from PIL import Image, ImageChops, ImageCms, ImageStat, PngImagePlugin

from generator import colour
from generator.derivatives import KINDS, PhotoTask, Recipe, derivative_name, make_photo
from jobgallery.images import Limits, enable_heif

RECIPE = Recipe(display_size=320, display_quality=90, thumb_size=80, thumb_quality=85)
SIZE = (320, 240)
MAX_DELTA_E = 2.0
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    if fmt == "HEIF":
        enable_heif()
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def rgb_master() -> Image.Image:
    return photos.photo(*SIZE, seed=5)


def grey_master() -> Image.Image:
    return rgb_master().convert("L")


def in_space(profile: bytes, mode: str) -> Image.Image:
    """The test picture's sRGB colours expressed in ``profile`` (as a press export or a phone would)."""
    source = rgb_master().convert("L") if mode == "L" else rgb_master()
    space = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    input_profile = SRGB if mode != "L" else ImageCms.ImageCmsProfile(io.BytesIO(gs_profile("sgray.icc")))
    return ImageCms.profileToProfile(source, input_profile, space, outputMode=mode)


def png_chunks(chunks: dict[bytes, bytes]) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    for name, data in chunks.items():
        info.add(name, data)
    return info


def p3_linear_chunks() -> dict[bytes, bytes]:
    """gAMA 1.0 (linear samples) and cHRM with Display P3's primaries, in units of 1/100000."""
    (red, green, blue), white = colour.NCLX_PRIMARIES[12]
    values = [*white, *red, *green, *blue]
    return {b"gAMA": struct.pack(">I", 100000), b"cHRM": struct.pack(">8I", *(round(v * 100000) for v in values))}


# name -> () -> (master bytes, the profile that describes it)
def cmyk_press_jpeg():
    profile = gs_profile("default_cmyk.icc")
    return encode(in_space(profile, "CMYK"), "JPEG", quality=95, icc_profile=profile), profile


def cmyk_press_progressive_jpeg():
    profile = gs_profile("default_cmyk.icc")
    picture = in_space(profile, "CMYK")
    return encode(picture, "JPEG", quality=95, progressive=True, icc_profile=profile), profile


def ycck_press_jpeg():
    """Photoshop's YCCK: inverted CMY stored as YCbCr, K apart, Adobe marker transform 2 (libjpeg undoes it)."""
    profile = gs_profile("default_cmyk.icc")
    cmyk = in_space(profile, "CMYK")
    y, cb, cr = Image.merge("RGB", cmyk.split()[:3]).convert("YCbCr").split()
    stored = [channel.point(lambda v: 255 - v) for channel in (y, cb, cr)]  # Pillow writes CMYK inverted
    data = bytearray(
        encode(Image.merge("CMYK", (*stored, cmyk.getchannel("K"))), "JPEG", quality=95, icc_profile=profile)
    )
    adobe = re.search(rb"\xff\xee..Adobe", data, re.DOTALL)
    data[adobe.end() + 6] = 2  # version, flags0, flags1, then the transform byte
    master = decoded(bytes(data))
    assert master.info["adobe_transform"] == 2
    assert max(ImageStat.Stat(ImageChops.difference(master, cmyk)).mean) < 3, "decodes to the CMYK it was made from"
    return bytes(data), profile


def adobe_rgb_heic():
    profile = gs_profile("a98.icc")
    return encode(rgb_master(), "HEIF", quality=95, icc_profile=profile), profile


def display_p3_jpeg():
    return encode(rgb_master(), "JPEG", quality=95, icc_profile=display_p3()), display_p3()


def adobe_rgb_png():
    profile = gs_profile("a98.icc")
    return encode(rgb_master(), "PNG", icc_profile=profile), profile


def display_p3_webp():
    return encode(rgb_master(), "WEBP", lossless=True, icc_profile=display_p3()), display_p3()


def display_p3_heic():
    return encode(rgb_master(), "HEIF", quality=95, icc_profile=display_p3()), display_p3()


def display_p3_nclx_heic():
    """No ICC: the HEIC's nclx box names Display P3 primaries (12) and the sRGB curve (13)."""
    data = encode(rgb_master(), "HEIF", quality=95, color_primaries=12, transfer_characteristics=13)
    assert decoded(data).info["nclx_profile"]["color_primaries"] == 12
    return data, display_p3()


def grey_press_jpeg():
    profile = gs_profile("ps_gray.icc")
    return encode(grey_master(), "JPEG", quality=95, icc_profile=profile), profile


def grey_icc_png():
    profile = gs_profile("sgray.icc")
    return encode(grey_master(), "PNG", icc_profile=profile), profile


def png_gama_chrm():
    data = encode(rgb_master(), "PNG", pnginfo=png_chunks(p3_linear_chunks()))
    return data, colour.matrix_profile(*colour.NCLX_PRIMARIES[12], (1.0,))


def exif_adobe_rgb_jpeg():
    return encode(rgb_master(), "JPEG", quality=95, exif=exif_adobe_rgb()), gs_profile("a98.icc")


CASES = {
    f.__name__: f
    for f in (
        cmyk_press_jpeg,
        cmyk_press_progressive_jpeg,
        ycck_press_jpeg,
        adobe_rgb_heic,
        display_p3_jpeg,
        adobe_rgb_png,
        display_p3_webp,
        display_p3_heic,
        display_p3_nclx_heic,
        grey_press_jpeg,
        grey_icc_png,
        png_gama_chrm,
        exif_adobe_rgb_jpeg,
    )
}


def publish(tmp_path: Path, data: bytes, recipe: Recipe = RECIPE):
    master = tmp_path / "master"
    master.write_bytes(data)
    outputs = tuple((kind, derivative_name(3, "ab" * 32, kind, recipe)) for kind in KINDS)
    folder = tmp_path / "out"
    task = PhotoTask(3, "master", str(master), str(folder), outputs, recipe, Limits(50_000_000, 384))
    result = make_photo(task)
    assert result.error is None, result.error
    return result, {kind: (folder / name).read_bytes() for kind, name in outputs}


def decoded(data: bytes) -> Image.Image:
    enable_heif()
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("case", CASES)
def test_every_colour_description_ends_in_srgb(tmp_path: Path, case: str) -> None:
    data, profile = CASES[case]()
    assert len(data) <= 1 << 20
    master = decoded(data)
    expected = reference(master, profile)
    naive = master.convert("RGB")
    assert mean_delta_e(naive, expected) > 3, "the case must differ from an unmanaged conversion"

    result, files = publish(tmp_path, data)
    display = decoded(files["display"])
    assert display.size == SIZE and result.sizes["display"] == SIZE
    difference = mean_delta_e(display, expected)
    assert difference <= MAX_DELTA_E, f"{case}: mean CIE76 {difference:.2f} against the reference"
    thumb = decoded(files["thumb2x"])
    assert mean_delta_e(thumb, expected.resize(SIZE).crop((0, 0, *SIZE)), size=(16, 12)) <= 2 * MAX_DELTA_E
    assert result.notes == []
    for blob in files.values():
        assert "icc_profile" not in decoded(blob).info
        assert profile[128:192] not in blob


def test_a_cmyk_jpeg_keeps_its_green(tmp_path: Path) -> None:
    """The reported case: green (65, 182, 78) came out (65, 255, 0) through the naive conversion."""
    profile = gs_profile("default_cmyk.icc")
    green = Image.new("RGB", SIZE, (65, 182, 78))
    cmyk = ImageCms.profileToProfile(green, SRGB, ImageCms.ImageCmsProfile(io.BytesIO(profile)), outputMode="CMYK")
    _, files = publish(tmp_path, encode(cmyk, "JPEG", quality=95, icc_profile=profile))
    centre = decoded(files["display"]).convert("RGB").getpixel((160, 120))
    expected = reference(cmyk, profile).getpixel((160, 120))
    assert all(abs(a - b) <= 3 for a, b in zip(centre, expected, strict=True)), (centre, expected)
    assert mean_delta_e(Image.new("RGB", SIZE, centre), green) < 8  # a press gamut holds this green closely


def test_srgb_tagged_and_untagged_publish_the_same_bytes(tmp_path: Path) -> None:
    """An embedded sRGB profile changes nothing, and costs no conversion."""
    picture = rgb_master()
    srgb_bytes = SRGB.tobytes()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, tagged = publish(tmp_path / "a", encode(picture, "JPEG", quality=95, icc_profile=srgb_bytes))
    _, untagged = publish(tmp_path / "b", encode(picture, "JPEG", quality=95))
    assert tagged == untagged


def test_a_png_srgb_chunk_outranks_gama_and_chrm(tmp_path: Path) -> None:
    chunks = {b"sRGB": b"\x00", **p3_linear_chunks()}
    picture = rgb_master()
    _, files = publish(tmp_path, encode(picture, "PNG", pnginfo=png_chunks(chunks)))
    assert mean_delta_e(decoded(files["display"]), picture) <= 1


def test_nclx_code_points_without_a_matrix_profile_are_reported() -> None:
    unknown = colour.nclx_description(nclx(22, 13))
    assert unknown.profile is None and "not supported" in unknown.note
    assert colour.nclx_description(nclx(12, 16)).profile is None  # PQ (HDR video) is not a tone curve we map
    assert colour.nclx_description(nclx(2, 2)) == colour.Description(None, "HEIC nclx box")
    assert colour.nclx_description(nclx(9, 1)).profile is not None  # BT.2020 with the BT.709 curve


def nclx(primaries: int, transfer: int) -> dict:
    return {"color_primaries": primaries, "transfer_characteristics": transfer, "matrix_coefficients": 6}


def test_the_matrix_profile_writer_matches_known_profiles() -> None:
    """Adobe RGB built from its specification converts like libgs-common's a98.icc; sRGB's own is the identity."""
    built = colour.matrix_profile(colour.ADOBE_RGB_PRIMARIES, colour.D65, (colour.ADOBE_RGB_GAMMA,))
    picture = rgb_master()
    assert mean_delta_e(reference(picture, built), reference(picture, gs_profile("a98.icc"))) <= 0.5
    srgb = colour.matrix_profile(colour.SRGB_PRIMARIES, colour.D65, colour.SRGB_CURVE)
    assert colour.transform_for(b"srgb-test", srgb, "RGB") == (None, None)


def test_grey_pixels_with_an_rgb_profile_are_converted_and_stay_grey(tmp_path: Path) -> None:
    """Some editors tag greyscale photos with an RGB profile: the grey is R = G = B in that space."""
    linear = colour.matrix_profile(colour.SRGB_PRIMARIES, colour.D65, (1.0,))
    data = encode(grey_master(), "JPEG", quality=95, icc_profile=linear)
    master = decoded(data)
    expected = reference(master.convert("RGB"), linear)
    assert mean_delta_e(master, expected) > 3
    result, files = publish(tmp_path, data)
    display = decoded(files["display"])
    assert result.notes == [] and display.mode == "L"
    assert mean_delta_e(display, expected) <= MAX_DELTA_E


# ---------------------------------------------------------------- hostile profiles


def junk_png_profile(size: int) -> bytes:
    """A 16x16 PNG whose iCCP chunk inflates to ``size`` bytes starting with markup."""
    raw = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 150)).save(raw, "PNG")
    data = raw.getvalue()
    blob = (b"<script>alert(1)</script>" + bytes(size))[:size]
    body = b"icc\x00\x00" + zlib.compress(blob, 9)
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body + struct.pack(">I", zlib.crc32(b"iCCP" + body))
    return data[:33] + chunk + data[33:]


def broken_tag_table() -> bytes:
    """Adobe RGB with every tag offset pointing past the end of the profile."""
    profile = bytearray(gs_profile("a98.icc"))
    count = struct.unpack(">I", profile[128:132])[0]
    for n in range(count):
        struct.pack_into(">I", profile, 132 + 12 * n + 4, 0x7FFF0000)
    return bytes(profile)


HOSTILE = {
    "markup": lambda: encode(rgb_master(), "JPEG", icc_profile=b"<script>alert(1)</script>" + bytes(200)),
    "truncated": lambda: encode(rgb_master(), "JPEG", icc_profile=gs_profile("a98.icc")[:200]),
    "cmyk profile on rgb": lambda: encode(rgb_master(), "JPEG", icc_profile=gs_profile("default_cmyk.icc")),
    "cmyk profile on grey": lambda: encode(grey_master(), "PNG", icc_profile=gs_profile("default_cmyk.icc")),
    "grey profile on cmyk": lambda: encode(rgb_master().convert("CMYK"), "JPEG", icc_profile=gs_profile("sgray.icc")),
    "broken tag table": lambda: encode(rgb_master(), "WEBP", icc_profile=broken_tag_table()),
    "one megabyte in iCCP": lambda: junk_png_profile(1 << 20),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_profile_falls_back_and_is_logged(tmp_path: Path, case: str, caplog) -> None:
    data = HOSTILE[case]()
    master = decoded(data)
    with caplog.at_level(logging.WARNING, logger="generator.derivatives"):
        result, files = publish(tmp_path, data)
    assert len(result.notes) == 1 and "taken as untagged" in result.notes[0]
    assert any("taken as untagged" in record.getMessage() for record in caplog.records)
    expected = master.convert("L" if master.mode == "L" else "RGB")
    assert mean_delta_e(decoded(files["display"]), expected) <= 1, "treated as untagged"
    icc = master.info["icc_profile"]
    for blob in files.values():
        assert icc[:64] not in blob and b"<script>" not in blob
        assert len(blob) < 64 * 1024 and "icc_profile" not in decoded(blob).info


def test_no_derivative_grows_with_the_masters_metadata(tmp_path: Path) -> None:
    """Issue 11.2's amplification: a 1 MiB profile in a 16x16 PNG gave three 1 MiB public files."""
    _, files = publish(tmp_path, junk_png_profile(1 << 20))
    assert sum(len(blob) for blob in files.values()) < 3 * 2048
