"""The index's card meta line in Chromium: "N photos" and the date range stay whole, and no dot dangles.

At 1366 px the cards are about 260 px wide, too narrow for "8 photos ·
2024-03-01 – 2024-03-08" on one line. The line may break only between the
count and the dates, and the dot between them must then be out of sight;
when both fit, the dot sits between them.
"""

from __future__ import annotations

import photos
import pytest
from generator_support import add_photo

from generator.build import build_site
from jobgallery import db
from jobgallery.config import load_config

pytestmark = pytest.mark.browser

# Each card's parts as the page lays them out: the count's and dates' boxes, the clip box, the dot's box.
MEASURE = """() => [...document.querySelectorAll('.job-card .job-meta')].map(meta => {
  const count = meta.querySelector('.count').getBoundingClientRect();
  const dates = meta.querySelector('.dates');
  const box = meta.getBoundingClientRect();
  if (!dates) return {count: [count.top, count.height], dates: null};
  const d = dates.getBoundingClientRect();
  const dot = getComputedStyle(dates, '::before');
  const dotLeft = d.left + parseFloat(dot.marginLeft);
  return {count: [count.top, count.height], dates: [d.top, d.height, d.left], clipLeft: box.left,
          dot: [dot.content, dotLeft, dotLeft + parseFloat(dot.width)], countRight: count.right,
          overflow: getComputedStyle(meta).overflowX, lineHeight: parseFloat(getComputedStyle(meta).lineHeight)};
})"""


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("index-cards")
    (folder / "config.yaml").write_text("gallery:\n  title: Cards\n")
    config = load_config(str(folder / "config.yaml"))
    with db.open_db(config.db_path) as conn:
        for n, (title, count) in enumerate((("Roof, 12 Elm St", 8), ("Porch", 1), ("Garage slab", 12))):
            job = db.create_job(conn, title)
            for i in range(count):
                taken = f"2024-03-{1 + i % 9:02d}T07:10:00"
                add_photo(config, conn, job.id, photos.jpeg_bytes(160, 120, seed=n * 20 + i), taken_at=taken)
        db.create_job(conn, "Empty so far")
    assert build_site(config).ok
    return config.paths.output / "index.html"


@pytest.mark.parametrize("width", [1366, 1024, 390, 320])
def test_the_meta_line_keeps_its_parts_whole_and_never_leaves_the_dot_dangling(browser, index, width: int) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(index.as_uri())
    cards = page.evaluate(MEASURE)
    page.close()
    assert len(cards) == 4
    wrapped = 0
    for card in cards:
        if card["dates"] is None:
            continue
        count_top, count_height = card["count"]
        dates_top, dates_height, dates_left = card["dates"]
        line = card["lineHeight"]
        assert count_height <= line * 1.5 and dates_height <= line * 1.5, f"a part broke inside at {width} px"
        content, dot_left, dot_right = card["dot"]
        assert content == '"·"'
        if dates_top > count_top:  # broken cleanly: the dates start their own line, the dot is clipped off
            wrapped += 1
            assert dates_left == pytest.approx(card["clipLeft"], abs=0.5) and card["overflow"] == "hidden"
            assert dot_right <= card["clipLeft"] + 0.5
        else:  # on one line: the dot sits in the gap between the count and the dates
            assert card["countRight"] - 0.5 <= dot_left and dot_right <= dates_left + 0.5
    if width == 1366:
        assert wrapped >= 1, "the sample's long date ranges are expected to wrap at 1366 px"
