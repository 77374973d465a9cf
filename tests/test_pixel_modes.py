"""Every pixel mode an accepted format opens as is scaled to 8 bits right, and transparency lands on white.

Masters are written here as files where a format can carry the mode (16-bit
PNGs are written chunk by chunk: Pillow cannot save 16-bit RGB), and the
other modes Pillow can hand over are fed to the same code after decoding.
Each derivative's mean must be within 2 levels of a reference computed from
the master's own samples.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from generator import colour
from generator.derivatives import KINDS, PhotoTask, Recipe, derivative_name, finish, make_photo, resizable
from jobgallery.images import Limits, enable_heif

RECIPE = Recipe(display_size=1024, display_quality=90, thumb_size=300, thumb_quality=85)
UNTAGGED = colour.Description(None, "untagged")
WIDTH, HEIGHT = 640, 480


def png_chunk(name: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body))


def png16(colour_type: int, rows: list[list[int]], key: bytes = b"") -> bytes:
    """A 16-bit PNG (colour type 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA) from rows of samples 0..65535.

    ``key``: the body of a ``tRNS`` chunk (a colour key) to put before the pixels.
    """
    height, width = len(rows), len(rows[0]) // {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    raw = b"".join(b"\x00" + struct.pack(f">{len(row)}H", *row) for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    transparency = png_chunk(b"tRNS", key) if key else b""
    chunks = png_chunk(b"IHDR", header) + transparency + png_chunk(b"IDAT", zlib.compress(raw, 6))
    return b"\x89PNG\r\n\x1a\n" + chunks + png_chunk(b"IEND", b"")


def grey_png(depth: int, values: list[int], key: int) -> bytes:
    """A 64x48 grey PNG of ``depth`` bits (1, 2, 4, 8) with columns of ``values`` repeated, keyed by ``key``."""
    samples = [values[x * len(values) // 64] for x in range(64)]
    bits = "".join(format(v, f"0{depth}b") for v in samples)
    row = b"\x00" + int(bits, 2).to_bytes(len(bits) // 8, "big")
    header = struct.pack(">IIBBBBB", 64, 48, depth, 0, 0, 0, 0)
    chunks = png_chunk(b"IHDR", header) + png_chunk(b"tRNS", struct.pack(">H", key))
    return b"\x89PNG\r\n\x1a\n" + chunks + png_chunk(b"IDAT", zlib.compress(row * 48)) + png_chunk(b"IEND", b"")


def ramp16(width: int = WIDTH, height: int = HEIGHT) -> list[int]:
    """0 at the left to 65535 at the right, the same on every row."""
    return [round(x * 65535 / (width - 1)) for x in range(width)]


def save(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def over_white(value: float, alpha: float) -> float:
    return (value * alpha + 255 * (255 - alpha)) / 255


# name -> (master bytes, mode Pillow opens it as, expected mean of the grey or RGB derivative per channel)
def grey16_ramp():
    return png16(0, [ramp16()] * HEIGHT), "I;16", [127.5] * 3


def grey16_big_endian():
    """Pillow's own 16-bit PNG writer, from big-endian samples."""
    image = Image.frombytes("I;16B", (WIDTH, 8), struct.pack(f">{WIDTH * 8}H", *(ramp16() * 8)))
    return save(image, "PNG"), "I;16", [127.5] * 3


def rgb16():
    row = [v for x in range(64) for v in (x * 1024, 65535 - x * 1024, 32768)]
    return (
        png16(2, [row] * 48),
        "RGB",
        [mean(x * 1024 / 257 for x in range(64)), mean(255 - x * 1024 / 257 for x in range(64)), 127.5],
    )


def rgba16_half_transparent():
    row = [v for _ in range(64) for v in (0, 0, 0, 32768)]
    return png16(6, [row] * 48), "RGBA", [over_white(0, 127.5)] * 3


def grey_alpha16():
    row = [v for _ in range(64) for v in (0, 16384)]
    return png16(4, [row] * 48), "RGBA", [over_white(0, 63.75)] * 3  # Pillow widens 16-bit LA to RGBA


def bilevel():
    image = Image.new("1", (64, 48))
    image.paste(1, (0, 0, 16, 48))
    return save(image, "PNG"), "1", [255 / 4] * 3


def grey8():
    return save(Image.linear_gradient("L").resize((64, 48)), "PNG"), "L", None


def grey_alpha8():
    image = Image.merge("LA", (Image.new("L", (64, 48), 40), Image.new("L", (64, 48), 200)))
    return save(image, "PNG"), "LA", [over_white(40, 200)] * 3


def palette():
    image = Image.new("RGB", (64, 48), (200, 30, 30)).quantize(colors=4)
    return save(image, "PNG"), "P", [200, 30, 30]


def palette_transparent():
    image = Image.new("P", (64, 48), 0)
    image.putpalette([0, 0, 0, 10, 200, 10])
    image.paste(1, (0, 0, 32, 48))
    return save(image, "PNG", transparency=0), "P", [(10 + 255) / 2, (200 + 255) / 2, (10 + 255) / 2]


def rgba_transparent_black():
    """Fully transparent black (what editors write outside a cut-out) must not come out black."""
    return save(Image.new("RGBA", (64, 48), (0, 0, 0, 0)), "PNG"), "RGBA", [255, 255, 255]


def cmyk_untagged():
    image = Image.new("CMYK", (64, 48), (0, 128, 255, 0))
    return save(image, "JPEG", quality=95), "CMYK", [255, 127, 0]


def ycbcr_jpeg():
    image = Image.new("RGB", (64, 48), (30, 120, 210)).convert("YCbCr")
    return save(image, "JPEG", quality=95), "RGB", [30, 120, 210]


def webp_alpha():
    image = Image.new("RGBA", (64, 48), (0, 0, 200, 128))
    return save(image, "WEBP", lossless=True), "RGBA", [over_white(0, 128), over_white(0, 128), over_white(200, 128)]


def heic(bits: int) -> bytes:
    """A 10- or 12-bit HEIC (HDR phone photos), encoded by libheif from 16-bit samples."""
    enable_heif()
    import pillow_heif

    data = struct.pack(f"<{64 * 48 * 3}H", *([40000, 20000, 10000] * 64 * 48))
    heif = pillow_heif.from_bytes(mode="RGB;16", size=(64, 48), data=data)
    out = io.BytesIO()
    saved = pillow_heif.options.SAVE_HDR_TO_12_BIT
    pillow_heif.options.SAVE_HDR_TO_12_BIT = bits == 12
    try:
        heif.save(out, quality=-1)
    finally:
        pillow_heif.options.SAVE_HDR_TO_12_BIT = saved
    assert Image.open(io.BytesIO(out.getvalue())).info["bit_depth"] == bits
    return out.getvalue()


def heic_10bit():
    return heic(10), "RGB", [40000 / 257, 20000 / 257, 10000 / 257]


def heic_12bit():
    return heic(12), "RGB", [40000 / 257, 20000 / 257, 10000 / 257]


def rgb_key():
    """The reported file: all pixels the key colour (black), so all transparent: white, not black."""
    return save(Image.new("RGB", (64, 48)), "PNG", transparency=(0, 0, 0)), "RGB", [255] * 3


def rgb_half_keyed():
    """Left half the key (0, 0, 0), right half red; a near-black (1, 0, 0) strip must stay."""
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    image.paste((0, 0, 0), (0, 0, 32, 48))
    image.paste((1, 0, 0), (32, 0, 40, 48))
    means = [(255 * 32 + 1 * 8 + 200 * 24) / 64, (255 * 32 + 30 * 24) / 64, (255 * 32 + 30 * 24) / 64]
    return save(image, "PNG", transparency=(0, 0, 0)), "RGB", means


def grey_key():
    return save(Image.new("L", (64, 48)), "PNG", transparency=0), "L", [255] * 3


def grey_half_keyed():
    image = Image.new("L", (64, 48), 100)
    image.paste(7, (0, 0, 32, 48))
    return save(image, "PNG", transparency=7), "L", [(255 + 100) / 2] * 3


def grey16_key():
    return png16(0, [[1000] * 64] * 48, struct.pack(">H", 1000)), "I;16", [255] * 3


def grey16_half_keyed():
    """Left half the key 1000, right half 1001: only 16 bits tell them apart (8 bits would key both)."""
    return png16(0, [[1000] * 32 + [1001] * 32] * 48, struct.pack(">H", 1000)), "I;16", [(255 + 1001 / 257) / 2] * 3


def grey4_half_keyed():
    """4-bit grey: the key 15 (white as stored) must match the samples Pillow widens to 255; 5 is 85."""
    return grey_png(4, [15, 5], 5), "L", [255] * 3


def grey2_half_keyed():
    """2-bit grey: the key 2 stands for 170; the other half is white."""
    return grey_png(2, [2, 3], 2), "L", [255] * 3


def bilevel_half_keyed():
    return grey_png(1, [0, 1], 0), "1", [255] * 3


def rgb16_key_elsewhere():
    """A 16-bit RGB key that no pixel has: nothing is transparent."""
    return png16(2, [[0, 0, 0] * 64] * 48, struct.pack(">3H", 300, 300, 300)), "RGB", [0] * 3


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


FILES = {
    f.__name__: f
    for f in (
        grey16_ramp,
        grey16_big_endian,
        rgb16,
        rgba16_half_transparent,
        grey_alpha16,
        bilevel,
        grey8,
        grey_alpha8,
        palette,
        palette_transparent,
        rgba_transparent_black,
        cmyk_untagged,
        ycbcr_jpeg,
        webp_alpha,
        heic_10bit,
        heic_12bit,
        rgb_key,
        rgb_half_keyed,
        grey_key,
        grey_half_keyed,
        grey16_key,
        grey16_half_keyed,
        grey4_half_keyed,
        grey2_half_keyed,
        bilevel_half_keyed,
        rgb16_key_elsewhere,
    )
}


def publish(tmp_path: Path, data: bytes) -> tuple[dict, dict[str, Image.Image]]:
    master = tmp_path / "master"
    master.write_bytes(data)
    outputs = tuple((kind, derivative_name(4, "cd" * 32, kind, RECIPE)) for kind in KINDS)
    task = PhotoTask(4, "master", str(master), str(tmp_path), outputs, RECIPE, Limits(50_000_000, 384))
    result = make_photo(task)
    assert result.error is None, result.error
    return result, {kind: Image.open(tmp_path / name).convert("RGB") for kind, name in outputs}


def channel_means(image: Image.Image) -> list[float]:
    pixels = image.convert("RGB").get_flattened_data()
    return [sum(p[c] for p in pixels) / len(pixels) for c in range(3)]


@pytest.mark.parametrize("case", FILES)
def test_every_mode_from_a_file_is_scaled_to_8_bits(tmp_path: Path, case: str) -> None:
    data, mode, expected = FILES[case]()
    assert len(data) <= 1 << 20
    enable_heif()
    master = Image.open(io.BytesIO(data))
    assert master.mode == mode
    if expected is None:
        expected = channel_means(master.convert("RGB"))
    result, images = publish(tmp_path, data)
    assert result.notes == []
    display = channel_means(images["display"])
    assert all(abs(a - e) <= 2 for a, e in zip(display, expected, strict=True)), (case, display, expected)
    assert images["display"].size == master.size or max(master.size) > 1024


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_the_reported_colour_keyed_pngs_publish_white_not_black(tmp_path: Path, mode: str) -> None:
    """``Image.new(mode, (400, 300)).save(..., transparency=black)``: every pixel transparent; was a black tile."""
    key = (0, 0, 0) if mode == "RGB" else 0
    _, images = publish(tmp_path, save(Image.new(mode, (400, 300)), "PNG", transparency=key))
    for image in images.values():
        assert channel_means(image) == [255.0, 255.0, 255.0]


def test_the_reported_16_bit_ramp_is_mid_grey(tmp_path: Path) -> None:
    """640x480 uint16 ramp 0..65535: mean about 127 (it was 254: a blank white tile)."""
    _, images = publish(tmp_path, grey16_ramp()[0])
    assert abs(channel_means(images["display"])[0] - 127.5) <= 2
    left, right = images["display"].getpixel((0, 240)), images["display"].getpixel((639, 240))
    assert left[0] <= 2 and right[0] >= 253


def in_memory(mode: str) -> tuple[Image.Image, list[float]]:
    """A 64x48 picture in ``mode`` Pillow can hand over after decoding, and its expected mean over white."""
    if mode in ("I", "I;16B", "I;16L"):
        image = Image.new("I", (64, 48))
        image.putdata([x * 1000 for x in range(64)] * 48)
        return image.convert(mode), [mean(x * 1000 / 257 for x in range(64))] * 3
    if mode == "F":
        image = Image.new("F", (64, 48))
        image.putdata([x / 63 for x in range(64)] * 48)
        return image, [127.5] * 3
    if mode == "La":
        return Image.merge("LA", (Image.new("L", (64, 48), 40), Image.new("L", (64, 48), 100))).convert("La"), [
            over_white(40, 100)
        ] * 3
    if mode == "RGBa":
        rgba = Image.new("RGBA", (64, 48), (200, 100, 0, 150))
        return rgba.convert("RGBa"), [over_white(200, 150), over_white(100, 150), over_white(0, 150)]
    if mode == "PA":
        image = Image.new("PA", (64, 48), (1, 128))
        image.putpalette([0, 0, 0, 0, 0, 255])
        return image, [over_white(0, 128), over_white(0, 128), over_white(255, 128)]
    if mode == "YCbCr":
        return Image.new("RGB", (64, 48), (30, 120, 210)).convert("YCbCr"), [30, 120, 210]
    return Image.new("RGBX", (64, 48), (30, 120, 210, 0)), [30, 120, 210]


@pytest.mark.parametrize("mode", ["I", "I;16B", "I;16L", "F", "La", "RGBa", "PA", "YCbCr", "RGBX"])
def test_every_other_mode_pillow_hands_over(mode: str) -> None:
    image, expected = in_memory(mode)
    assert image.mode == mode
    display = finish(resizable(image).resize((32, 24), Image.Resampling.BICUBIC), UNTAGGED, 1)
    assert display.image.mode in ("RGB", "L") and display.notes == []
    means = channel_means(display.image)
    assert all(abs(a - e) <= 2 for a, e in zip(means, expected, strict=True)), (mode, means, expected)
