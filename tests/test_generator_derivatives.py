"""Derivative images: upright pixels for all eight orientations, no metadata, the right sizes."""

from __future__ import annotations

import io
from pathlib import Path

import photos
import pytest
from generator_support import jpeg_segments
from PIL import Image

from generator.derivatives import KINDS, PhotoTask, Recipe, derivative_name, make_photo
from jobgallery.images import Limits

RECIPE = Recipe(display_size=160, display_quality=85, thumb_size=48, thumb_quality=70)
SOF0, SOF2, APP1, COM = 0xC0, 0xC2, 0xE1, 0xFE

# An upright picture with a different colour in each quadrant, 2:1 so that a quarter turn shows.
QUADRANTS = {"top_left": (220, 30, 30), "top_right": (30, 200, 30), "bottom_left": (30, 30, 220)}
WHITE = (255, 255, 255)

# What a camera stores for each EXIF orientation, as the transform from the upright picture
# (the inverse of what a viewer applies; straight from the EXIF specification).
STORED_FROM_UPRIGHT = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def upright(width: int = 240, height: int = 120) -> Image.Image:
    image = Image.new("RGB", (width, height), WHITE)
    half_w, half_h = width // 2, height // 2
    image.paste(QUADRANTS["top_left"], (0, 0, half_w, half_h))
    image.paste(QUADRANTS["top_right"], (half_w, 0, width, half_h))
    image.paste(QUADRANTS["bottom_left"], (0, half_h, half_w, height))
    return image


def stored_jpeg(orientation: int) -> bytes:
    transform = STORED_FROM_UPRIGHT[orientation]
    image = upright() if transform is None else upright().transpose(transform)
    out = io.BytesIO()
    exif = photos.make_exif(orientation, taken="2024:05:01 10:00:00", gps=(51.5, -0.12))
    image.save(out, "JPEG", quality=95, exif=exif)
    return out.getvalue()


def run(tmp_path: Path, data: bytes, recipe: Recipe = RECIPE, kinds=KINDS, sha: str = "ab" * 32):
    master = tmp_path / "master"
    master.write_bytes(data)
    outputs = tuple((kind, derivative_name(7, sha, kind, recipe)) for kind in kinds)
    folder = tmp_path / "out"
    result = make_photo(PhotoTask(7, "master.jpg", str(master), str(folder), outputs, recipe, Limits(10_000_000, 384)))
    files = {kind: (folder / name).read_bytes() for kind, name in outputs if (folder / name).exists()}
    return result, files


def close(actual: tuple, expected: tuple, tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_is_applied_to_the_pixels(tmp_path: Path, orientation: int) -> None:
    result, files = run(tmp_path, stored_jpeg(orientation))
    assert result.error is None
    for kind, data in files.items():
        image = Image.open(io.BytesIO(data)).convert("RGB")
        width, height = image.size
        assert width > height, f"{kind} of orientation {orientation} is not upright"
        corners = {
            "top_left": image.getpixel((width // 4, height // 4)),
            "top_right": image.getpixel((3 * width // 4, height // 4)),
            "bottom_left": image.getpixel((width // 4, 3 * height // 4)),
        }
        for where, colour in QUADRANTS.items():
            assert close(corners[where], colour), (orientation, kind, where, corners[where])
        assert result.sizes[kind] == image.size


def test_derivatives_carry_no_exif_and_pages_pictures_are_progressive(tmp_path: Path) -> None:
    """Every derivative a page shows is a progressive JPEG (or WebP); the zoom image, swapped in whole, is baseline."""
    data = photos.jpeg_bytes(400, 300, orientation=6, taken="2024:05:01 10:00:00", gps=(48.85, 2.35))
    assert b"Exif" in data
    result, files = run(tmp_path, data)
    assert result.error is None and set(files) == set(KINDS)
    for kind, data in files.items():
        if kind.endswith("-webp"):
            assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
            assert b"EXIF" not in data and b"XMP " not in data and b"ICCP" not in data
        else:
            markers = jpeg_segments(data)
            assert APP1 not in markers and COM not in markers
            assert (SOF0 if kind == "zoom" else SOF2) in markers, kind
        assert b"Exif" not in data and b"GPS" not in data
        image = Image.open(io.BytesIO(data))
        assert not image.getexif() and "exif" not in image.info


def test_no_byte_of_the_masters_comment_or_profile_is_published(tmp_path: Path) -> None:
    icc = b"\x00\x00\x02\x0cfake-icc-profile-for-the-test" + bytes(100)
    out = io.BytesIO()
    photos.photo(300, 200).save(out, "JPEG", comment=b"secret serial 1234", icc_profile=icc)
    result, files = run(tmp_path, out.getvalue())
    assert result.error is None and result.notes and "taken as untagged" in result.notes[0]
    for data in files.values():
        assert b"secret serial" not in data and b"fake-icc-profile" not in data
        assert "icc_profile" not in Image.open(io.BytesIO(data)).info


def test_sizes_follow_the_settings(tmp_path: Path) -> None:
    result, _ = run(tmp_path, photos.jpeg_bytes(1200, 900))
    thumbs = {"thumb": (48, 36), "thumb2x": (96, 72), "thumb-webp": (48, 36), "thumb2x-webp": (96, 72)}
    assert result.sizes == {"display": (160, 120), **thumbs, "zoom": (1200, 900)}
    assert result.color is not None and result.color.startswith("#") and len(result.color) == 7


def test_thumbnails_are_made_from_the_display_image(tmp_path: Path) -> None:
    # 2x thumbnail would be 200 px, but the display image it is made from has only 120.
    recipe = Recipe(display_size=120, display_quality=85, thumb_size=100, thumb_quality=70)
    result, _ = run(tmp_path, photos.jpeg_bytes(1200, 900), recipe)
    assert result.sizes["display"] == (120, 90)
    assert result.sizes["thumb2x"] == (120, 90)


def test_small_masters_are_not_enlarged(tmp_path: Path) -> None:
    # A thumbnail is the whole photo 36 px tall at 1x (60x36); at 2x (120x72) it would be larger than the master.
    result, _ = run(tmp_path, photos.jpeg_bytes(100, 60))
    thumbs = {"thumb": (60, 36), "thumb2x": (100, 60), "thumb-webp": (60, 36), "thumb2x-webp": (100, 60)}
    assert result.sizes == {"display": (100, 60), **thumbs, "zoom": (100, 60)}


def test_only_the_asked_kinds_are_written(tmp_path: Path) -> None:
    result, files = run(tmp_path, photos.jpeg_bytes(400, 300), kinds=("thumb", "thumb2x"))
    assert set(files) == {"thumb", "thumb2x"} and set(result.sizes) == {"thumb", "thumb2x"}


def test_same_input_gives_same_bytes(tmp_path: Path) -> None:
    data = photos.jpeg_bytes(500, 400, seed=3, orientation=8)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, first = run(tmp_path / "a", data)
    _, second = run(tmp_path / "b", data)
    assert first and first == second


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "HEIF"])
def test_other_formats(tmp_path: Path, fmt: str) -> None:
    result, files = run(tmp_path, photos.encoded(fmt, 400, 300))
    assert result.error is None, result.error
    assert result.sizes["display"] == (160, 120)
    for kind, data in files.items():
        assert Image.open(io.BytesIO(data)).format == ("WEBP" if kind.endswith("-webp") else "JPEG")


def test_transparent_png_lands_on_white(tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("RGBA", (200, 100), (255, 0, 0, 0)).save(out, "PNG")
    result, files = run(tmp_path, out.getvalue())
    assert result.error is None
    image = Image.open(io.BytesIO(files["display"])).convert("RGB")
    assert close(image.getpixel((100, 50)), WHITE, 8)
    assert result.color == "#ffffff"


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    out = io.BytesIO()
    photos.photo(300, 200).convert("CMYK").save(out, "JPEG")
    result, files = run(tmp_path, out.getvalue())
    assert result.error is None
    assert Image.open(io.BytesIO(files["display"])).mode == "RGB"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not an image at all", "not a supported image"),
        (photos.jpeg_bytes(400, 300)[:600], "cut short"),
    ],
)
def test_a_bad_master_is_reported_not_raised(tmp_path: Path, data: bytes, reason: str) -> None:
    result, files = run(tmp_path, data)
    assert result.error is not None and reason in result.error
    assert files == {}
    leftovers = list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else []
    assert leftovers == []


def test_a_missing_master_is_reported(tmp_path: Path) -> None:
    task = PhotoTask(
        1, "gone.jpg", str(tmp_path / "gone.jpg"), str(tmp_path), (("thumb", "t.jpg"),), RECIPE, Limits(10**7, 384)
    )
    assert make_photo(task).error == "master file is missing"


def test_names_change_with_exactly_the_settings_that_shape_them() -> None:
    sha = "cd" * 32
    base = {kind: derivative_name(1, sha, kind, RECIPE) for kind in KINDS}
    thumb_only = Recipe(RECIPE.display_size, RECIPE.display_quality, 64, RECIPE.thumb_quality)
    quality_only = Recipe(RECIPE.display_size, 70, RECIPE.thumb_size, RECIPE.thumb_quality)
    names = {kind: derivative_name(1, sha, kind, thumb_only) for kind in KINDS}
    assert names["display"] == base["display"] and names["thumb"] != base["thumb"]
    names = {kind: derivative_name(1, sha, kind, quality_only) for kind in KINDS}
    assert names["display"] != base["display"] and names["thumb"] == base["thumb"]
    assert derivative_name(1, "ef" * 32, "thumb", RECIPE) != base["thumb"]
    assert all(not name.startswith(".") for name in base.values())
    assert all(name.endswith(".webp" if kind.endswith("-webp") else ".jpg") for kind, name in base.items())


def test_an_unwritable_output_is_reported_as_such(tmp_path: Path) -> None:
    master = tmp_path / "master.jpg"
    master.write_bytes(photos.jpeg_bytes(200, 100))
    blocker = tmp_path / "out"
    blocker.write_text("a file where the folder should be")
    task = PhotoTask(
        1, "master.jpg", str(master), str(blocker / "sub"), (("thumb", "t.jpg"),), RECIPE, Limits(10**7, 384)
    )
    error = make_photo(task).error
    assert error is not None and error.startswith("cannot write t.jpg to the output folder")


def test_a_master_over_the_decode_budget_fails_that_photo_only(tmp_path: Path) -> None:
    """A PNG stored before a lower images.max_decode_mb was set must not take the box's memory."""
    master = tmp_path / "big.png"
    master.write_bytes(photos.encoded("PNG", 800, 600))
    outputs = (("display", "d.jpg"), ("thumb", "t.jpg"))
    refused = make_photo(PhotoTask(1, "big.png", str(master), str(tmp_path / "out"), outputs, RECIPE, Limits(10**7, 1)))
    assert refused.error is not None and "too large" in refused.error and "at most 1 MiB" in refused.error
    made = make_photo(PhotoTask(1, "big.png", str(master), str(tmp_path / "out"), outputs, RECIPE, Limits(10**7, 8)))
    assert made.error is None and set(made.sizes) == {"display", "thumb"}
