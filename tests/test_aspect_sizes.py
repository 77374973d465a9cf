"""Derivative sizes follow the box they are shown in, for every shape from 1:20 to 20:1.

The display image has the pixel budget of 1024 x 768 with a short edge of at
least 640 px (so a panorama opens big enough to inspect); a thumbnail is the
whole photo at the gallery row's height, 225 px and 450 px for 2x screens,
at most 1200 px wide (a panorama, alone in its row, that wide); the zoom image
has the area of a 4:3 picture 2560 px wide, never less than the display image,
and a JPEG's is libjpeg-turbo's decode at the nearest M/8 scale when that is
within 5 % of it (no resize at all). In a real
Chromium at device pixel ratio 2, every thumbnail has at least two pixels per
CSS pixel of its box, and its box has the photo's shape.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from generator_support import add_photo, serving
from PIL import Image

from generator.build import build_site
from generator.derivatives import KINDS, Maker, PhotoTask, Recipe, derivative_name, display_fit, make_photo
from jobgallery import db
from jobgallery.config import load_config
from jobgallery.images import Limits
from jobgallery.jpeg_scans import nearest_scale

RECIPE = Recipe(display_size=1024, display_quality=85, thumb_size=300, thumb_quality=70, zoom_size=2560)

# master size -> display size (by hand: budget 786,432 px, short edge >= 640, long edge <= 20 x 640)
DISPLAY = {
    (4000, 3000): (1024, 768),  # 4:3 keeps today's size
    (3000, 4000): (768, 1024),
    (6000, 4000): (1086, 724),  # 3:2: sqrt(786432 * 1.5) = 1086.1
    (6000, 3375): (1182, 665),  # 16:9
    (12000, 3000): (2560, 640),  # the reported panorama: was 1024 x 256
    (20000, 1000): (12800, 640),  # the reported strip: was 1024 x 51
    (1000, 20000): (640, 12800),
    (40000, 1000): (12800, 320),  # beyond 20:1 the long edge stops at 12,800
    (900, 300): (900, 300),  # small masters are never enlarged
}
# master size -> thumbnail, 2x thumbnail, zoom image (by hand: 225 px tall, at most 1200 wide, panoramas 1200 wide)
SHOWN = {
    (4000, 3000): ((300, 225), (600, 450), (2500, 1875)),  # zoom: the 5/8 decode, 4.6 % less area than 2560 x 1920
    (3000, 4000): ((169, 225), (338, 450), (1875, 2500)),  # 168.75 and 337.5 px wide
    (12000, 3000): ((1200, 300), (2400, 600), (4500, 1125)),  # zoom: the 3/8 decode, 3 % more than 4434 x 1109
    (20000, 1000): ((1200, 60), (2400, 120), (12800, 640)),  # zoom: the display image's size
    (1000, 20000): ((11, 225), (22, 450), (640, 12800)),
}


def smooth_jpeg(size: tuple[int, int]) -> bytes:
    """A picture with detail everywhere (gradients both ways), small enough to stay under 1 MB even at 40 MP."""
    across = Image.linear_gradient("L").rotate(90).resize(size)
    down = Image.linear_gradient("L").resize(size)
    out = io.BytesIO()
    Image.merge("RGB", (across, down, Image.new("L", size, 128))).save(out, "JPEG", quality=60)
    return out.getvalue()


@pytest.mark.parametrize("size", DISPLAY)
def test_the_display_size_is_worked_out_by_area_and_short_edge(size: tuple[int, int]) -> None:
    assert display_fit(size, 1024) == DISPLAY[size]


@pytest.mark.parametrize("size", SHOWN)
def test_published_sizes_for_every_shape(tmp_path: Path, size: tuple[int, int]) -> None:
    data = smooth_jpeg(size)
    assert len(data) <= 1 << 20
    (tmp_path / "master.jpg").write_bytes(data)
    outputs = tuple((kind, derivative_name(5, "ef" * 32, kind, RECIPE)) for kind in KINDS)
    task = PhotoTask(5, "master.jpg", str(tmp_path / "master.jpg"), str(tmp_path), outputs, RECIPE, Limits(10**8, 384))
    result = make_photo(task)
    assert result.error is None, result.error
    thumb, thumb2x, zoom = SHOWN[size]
    thumbs = {"thumb": thumb, "thumb2x": thumb2x, "thumb-webp": thumb, "thumb2x-webp": thumb2x}
    assert result.sizes == {"display": DISPLAY[size], **thumbs, "zoom": zoom}
    for kind, name in outputs:
        assert Image.open(tmp_path / name).size == result.sizes[kind]
    # The thumbnail is the whole photo: its middle is the middle of a left-to-right gradient, mid-grey.
    picture = Image.open(tmp_path / outputs[2][1]).convert("RGB")
    middle = picture.getpixel((picture.width // 2, picture.height // 2))
    assert abs(middle[0] - 128) <= 12 and abs(middle[1] - 128) <= 12


@pytest.mark.parametrize("size", [(4000, 3000), (300, 200), (1200, 900), (2000, 30000)])
def test_the_zoom_image_is_never_enlarged_nor_smaller_than_the_display_one(size: tuple[int, int]) -> None:
    zoom, display = RECIPE.zoom_fit(size), display_fit(size, 1024)
    assert zoom[0] <= size[0] and zoom[1] <= size[1]
    assert zoom[0] >= display[0] and zoom[1] >= display[1]


@pytest.mark.parametrize(
    ("size", "zoom"),
    [
        ((4032, 3024), (2520, 1890)),  # 12 MP phones: 5/8
        ((4080, 3072), (2550, 1920)),
        ((4032, 2268), (3024, 1701)),  # 16:9: 6/8, 4.6 % more than the 2956 x 1663 asked for
        ((4624, 3472), (2559, 1921)),  # 16 MP: 4/8 is 18 % less, 5/8 28 % more: resized to the size asked for
        ((8000, 6000), (2560, 1920)),  # 48 MP: 2/8 and 3/8 are far off
        ((20000, 1000), (12800, 640)),  # 5/8 is close but smaller than the display image
        ((900, 300), (900, 300)),  # 8/8: the master's own size
    ],
)
def test_a_jpegs_zoom_image_is_the_decoders_nearest_scale_when_close(size, zoom) -> None:
    assert Maker(RECIPE).draft_target(Image.new("RGB", size)) == RECIPE.zoom_fit(size)  # not a JPEG: as asked
    assert nearest_scale(size, RECIPE.zoom_fit(size), display_fit(size, 1024)) == zoom


@pytest.fixture(scope="module")
def shapes_site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shapes-site")
    (folder / "config.yaml").write_text(yaml.safe_dump({"build": {"workers": 1}}))
    config = load_config(str(folder / "config.yaml"))
    with db.open_db(config.db_path) as conn:
        job = db.create_job(conn, "Every shape")
        for size in [(4000, 3000), (3000, 4000), (12000, 3000), (20000, 1000), (1000, 20000), (1500, 1500)]:
            add_photo(config, conn, job.id, smooth_jpeg(size), size=size, description=f"{size[0]}x{size[1]}")
    assert build_site(config).ok
    with serving(config.paths.output) as url:
        yield f"{url}{job.gallery_path()}"


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}])
def test_thumbnails_are_sharp_at_2x_in_their_cells(browser, shapes_site: str, viewport: dict) -> None:
    context = browser.new_context(viewport=viewport, device_scale_factor=2)
    page = context.new_page()
    try:
        page.goto(shapes_site, wait_until="load")
        page.evaluate("Promise.all([...document.images].map(i => (i.loading = 'eager', i.decode())))")
        cells = page.evaluate(
            """[...document.querySelectorAll('.photo img')].map(i => ({
                alt: i.alt, src: i.currentSrc, w: i.naturalWidth, h: i.naturalHeight,
                cw: i.getBoundingClientRect().width, ch: i.getBoundingClientRect().height}))"""
        )
    finally:
        context.close()
    assert len(cells) == 6
    for cell in cells:
        assert "-thumb2x-webp-" in cell["src"], cell
        width, height = (int(v) for v in cell["alt"].split()[-1].split("x"))
        assert abs(cell["cw"] / cell["ch"] / (width / height) - 1) < 0.02, cell
        # naturalWidth of a "2x" srcset candidate is in CSS pixels (half its pixels).
        shown = max(cell["cw"] / (2 * cell["w"]), cell["ch"] / (2 * cell["h"]))
        assert shown <= 0.5 * 1.01, f"{cell['alt']}: {1 / shown:.2f} image pixels per CSS pixel"


@pytest.mark.parametrize(
    ("size", "zoom"),
    [
        ((4000, 3000), (2560, 1920)),
        ((12000, 3000), (4434, 1109)),
        ((1000, 3000), (1000, 3000)),
        ((8000, 6000), (2560, 1920)),
    ],
)
def test_the_zoom_image_has_the_area_of_a_4_3_one_so_panoramas_and_tall_photos_zoom_too(size, zoom) -> None:
    assert RECIPE.zoom_fit(size) == zoom
    display = display_fit(size, 1024)
    assert zoom[0] > display[0] and zoom[1] > display[1]
