"""Take the README's screenshots: docs/sign-in-phone.png, upload-phone.png, queue-phone.png, job-page.png,
photo-zoomed.png, shared-page.png, report-page.png,
office-jobs-phone.png and office-photos.png.

    .venv/bin/python scripts/screenshots.py

Run it with the Python that has jobgallery installed from this checkout and
Playwright (``./scripts/test.sh`` sets up both in .venv); Debian's chromium
is the browser. Nothing is downloaded: the photos are drawn here with
Pillow, a sample site is made with the ``jobgallery`` commands in a temp
folder, a real ``jobgallery serve`` answers on a free loopback port, and
headless Chromium takes the pictures; a page of the job's report is rendered
by Debian's ``pdftoppm``. Drawing and EXIF dates are seeded, so
a second run gives the same pages; a PNG is rewritten only when it looks
different (``--force`` rewrites it anyway).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 1}
DESKTOP = {"viewport": {"width": 1280, "height": 800}, "device_scale_factor": 1}
CREW = {"username": "sam", "password": "sample-crew-password"}
BOSS = {"username": "office", "password": "sample-admin-password"}
MAX_PNG_BYTES = 300 * 1024
SAME_PICTURE_SHARE = 0.0005
SIZE = (1600, 1200)
DATETIME_ORIGINAL = 0x9003
EXIF_IFD = 0x8769

Draw = Callable[[Image.Image, random.Random], None]


# ---------------------------------------------------------------- drawing: the pieces of a job site


def noise(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """Grey noise from the seeded generator (Pillow's effect_noise is not seedable)."""
    grain = Image.frombytes("L", size, rng.randbytes(size[0] * size[1]))
    return grain.filter(ImageFilter.GaussianBlur(0.6)).convert("RGB")


def sky(image: Image.Image, horizon: int, rng: random.Random) -> None:
    """Blue fading to haze at the horizon, with a few soft clouds."""
    width = image.width
    gradient = Image.linear_gradient("L").resize((width, horizon))
    image.paste(ImageOps.colorize(gradient, (72, 128, 196), (196, 218, 236)), (0, 0))
    clouds = Image.new("L", (width, horizon), 0)
    draw = ImageDraw.Draw(clouds)
    for _ in range(rng.randint(3, 6)):
        x, y = rng.randrange(width), rng.randrange(horizon // 2)
        for _ in range(5):
            dx, dy, r = rng.randint(-90, 90), rng.randint(-20, 20), rng.randint(40, 90)
            draw.ellipse((x + dx - 2 * r, y + dy - r, x + dx + 2 * r, y + dy + r), fill=200)
    image.paste((250, 250, 252), (0, 0), clouds.filter(ImageFilter.GaussianBlur(30)))


def ground(image: Image.Image, horizon: int, colour: tuple[int, int, int], rng: random.Random) -> None:
    """Grass (or dirt) with a little mottling, from the horizon down."""
    width, height = image.size
    band = Image.new("RGB", (width, height - horizon), colour)
    mottle = noise((width // 8, (height - horizon) // 8), rng).resize(band.size)
    image.paste(Image.blend(band, mottle, 0.18), (0, horizon))
    ImageDraw.Draw(image).line((0, horizon, width, horizon), fill=tuple(c - 30 for c in colour), width=3)


def shingles(size: tuple[int, int], base: tuple[int, int, int], spread: int, rng: random.Random) -> Image.Image:
    """Rows of staggered tabs, each a shade of ``base``: asphalt shingles seen from the street."""
    tile = Image.new("RGB", size, base)
    draw = ImageDraw.Draw(tile)
    row, tab = 22, 48
    for y in range(0, size[1], row):
        offset = (y // row) % 2 * tab // 2
        for x in range(-offset, size[0], tab):
            shade = rng.randint(-spread, spread)
            draw.rectangle((x, y, x + tab - 3, y + row - 3), fill=tuple(max(0, c + shade) for c in base))
    return tile


def decking(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """Plywood sheets with their seams, after the old roof came off."""
    tile = Image.new("RGB", size, (206, 168, 112))
    draw = ImageDraw.Draw(tile)
    for y in range(0, size[1], 120):
        for x in range(-(y // 120) % 2 * 120, size[0], 240):
            shade = rng.randint(-18, 18)
            draw.rectangle((x + 2, y + 2, x + 238, y + 118), fill=(206 + shade, 168 + shade, 112 + shade // 2))
    return tile


def felt(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """Grey underlayment in overlapping courses with printed guide lines."""
    tile = Image.new("RGB", size, (150, 152, 156))
    draw = ImageDraw.Draw(tile)
    for y in range(0, size[1], 70):
        draw.rectangle((0, y, size[0], y + 4), fill=(118, 120, 124))
        for x in range(rng.randrange(60), size[0], 160):
            draw.line((x, y + 30, x + 60, y + 30), fill=(214, 214, 214), width=3)
    return tile


@dataclass(frozen=True)
class House:
    """A one-storey house seen from the street: where its wall and roof are."""

    left: int
    right: int
    eaves: int
    ridge: int
    ground: int

    def roof(self) -> list[tuple[int, int]]:
        return [
            (self.left - 50, self.eaves),
            (self.right + 50, self.eaves),
            (self.right - 170, self.ridge),
            (self.left + 170, self.ridge),
        ]


def paste_roof(image: Image.Image, house: House, surface: Image.Image) -> None:
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).polygon(house.roof(), fill=255)
    full = Image.new("RGB", image.size)
    full.paste(surface, (house.left - 50, house.ridge))
    image.paste(full, (0, 0), mask)
    ImageDraw.Draw(image).line([*house.roof(), house.roof()[0]], fill=(60, 56, 52), width=6)


def walls(image: Image.Image, house: House, siding: tuple[int, int, int]) -> None:
    """Lap siding, two windows and a door."""
    draw = ImageDraw.Draw(image)
    draw.rectangle((house.left, house.eaves, house.right, house.ground), fill=siding)
    for y in range(house.eaves + 18, house.ground, 22):
        draw.line((house.left, y, house.right, y), fill=tuple(c - 22 for c in siding), width=2)
    middle = (house.left + house.right) // 2
    for x in (house.left + 90, house.right - 290):
        draw.rectangle((x - 8, house.eaves + 62, x + 208, house.eaves + 238), fill=(245, 245, 240))
        draw.rectangle((x, house.eaves + 70, x + 200, house.eaves + 230), fill=(96, 122, 146))
        draw.line((x + 100, house.eaves + 70, x + 100, house.eaves + 230), fill=(245, 245, 240), width=8)
    draw.rectangle((middle - 60, house.ground - 250, middle + 60, house.ground), fill=(128, 40, 36))
    draw.ellipse((middle + 30, house.ground - 130, middle + 44, house.ground - 116), fill=(212, 180, 90))


def ladder(image: Image.Image, foot: tuple[int, int], top: tuple[int, int]) -> None:
    draw = ImageDraw.Draw(image)
    for dx in (0, 56):
        draw.line((foot[0] + dx, foot[1], top[0] + dx, top[1]), fill=(196, 198, 200), width=12)
    for i in range(1, 16):
        x = foot[0] + (top[0] - foot[0]) * i / 16
        y = foot[1] + (top[1] - foot[1]) * i / 16
        draw.line((x, y, x + 56, y), fill=(170, 172, 176), width=8)


def cone(image: Image.Image, x: int, y: int) -> None:
    draw = ImageDraw.Draw(image)
    draw.rectangle((x - 60, y - 12, x + 60, y), fill=(40, 40, 40))
    draw.polygon([(x - 44, y - 12), (x + 44, y - 12), (x + 10, y - 170), (x - 10, y - 170)], fill=(240, 106, 20))
    draw.polygon([(x - 30, y - 70), (x + 30, y - 70), (x + 22, y - 105), (x - 22, y - 105)], fill=(245, 245, 245))


def dumpster(image: Image.Image, x: int, y: int) -> None:
    draw = ImageDraw.Draw(image)
    draw.polygon([(x, y - 200), (x + 520, y - 200), (x + 480, y), (x + 40, y)], fill=(46, 92, 62))
    for i in range(1, 6):
        draw.line((x + 40 + i * 80, y - 196, x + 50 + i * 72, y - 4), fill=(36, 72, 48), width=6)
    draw.rectangle((x - 10, y - 214, x + 530, y - 196), fill=(38, 76, 52))
    for i in range(10):
        draw.rectangle((x + 30 + i * 46, y - 236 + (i * 7) % 20, x + 70 + i * 46, y - 214), fill=(70, 66, 64))


# ---------------------------------------------------------------- drawing: whole scenes


ROOFS: dict[str, Callable[[tuple[int, int], random.Random], Image.Image]] = {
    "old": lambda size, rng: shingles(size, (92, 84, 80), 26, rng),
    "decking": decking,
    "felt": felt,
    "new": lambda size, rng: shingles(size, (58, 60, 66), 6, rng),
}


def house_scene(roof: str, extras: tuple[str, ...] = ()) -> Draw:
    """A street view of the house with its roof at one stage of the work."""

    def draw(image: Image.Image, rng: random.Random) -> None:
        shift = rng.randint(-120, 120)  # the crew never stands in quite the same spot
        house = House(left=300 + shift, right=1300 + shift, eaves=560, ridge=300, ground=960)
        sky(image, 820, rng)
        ground(image, 820, (92, 138, 64), rng)
        path = [(650 + shift, 1200), (950 + shift, 1200), (860 + shift, 960), (740 + shift, 960)]
        ImageDraw.Draw(image).polygon(path, fill=(150, 146, 140))
        walls(image, house, (224, 216, 196))
        paste_roof(image, house, ROOFS[roof]((house.right - house.left + 100, house.eaves - house.ridge), rng))
        if "tarp" in extras:
            tarp = [(820 + shift, 470), (1180 + shift, 470), (1110 + shift, 330), (880 + shift, 330)]
            ImageDraw.Draw(image).polygon(tarp, fill=(34, 92, 186), outline=(20, 60, 130), width=5)
        if "ladder" in extras:
            ladder(image, (1360 + shift, 1000), (1240 + shift, 520))
        if "cone" in extras:
            cone(image, 200, 1080)
        if "dumpster" in extras:
            dumpster(image, 1000, 1160)

    return draw


def fence_scene(posts_done: int) -> Draw:
    """A back garden with new fence posts; pickets on the first bays."""

    def draw(image: Image.Image, rng: random.Random) -> None:
        sky(image, 640, rng)
        ground(image, 640, (84, 130, 58), rng)
        pen = ImageDraw.Draw(image)
        pen.rectangle((0, 420, 1600, 640), fill=(66, 104, 60))
        for i in range(9):
            x = 80 + i * 180
            pen.rectangle((x, 560, x + 34, 980), fill=(150, 110, 72))
            pen.ellipse((x - 40, 960, x + 74, 1010), fill=(120, 92, 60))
            if i < posts_done:
                pen.rectangle((x, 640, x + 180, 660), fill=(168, 126, 84))
                pen.rectangle((x, 880, x + 180, 900), fill=(168, 126, 84))
                for px in range(x + 34, x + 180, 30):
                    pen.rectangle((px, 600, px + 24, 960), fill=(186 + rng.randint(-10, 10), 144, 98))
        cone(image, 1450, 1150)

    return draw


def kitchen_scene(tiled: bool) -> Draw:
    """Base and wall cabinets, a window over the sink, bare or tiled splashback."""

    def draw(image: Image.Image, rng: random.Random) -> None:
        pen = ImageDraw.Draw(image)
        pen.rectangle((0, 0, 1600, 1200), fill=(232, 226, 212))
        pen.rectangle((600, 200, 1000, 520), fill=(240, 240, 236))
        view = Image.new("RGB", (380, 300))
        sky(view, 300, rng)
        image.paste(view, (610, 210))
        for y in range(600, 760, 40 if tiled else 160):
            for x in range(0, 1600, 80 if tiled else 1600):
                pen.rectangle((x + 2, y + 2, x + 78 if tiled else 1600, y + 38 if tiled else 758), fill=(246, 246, 244))
        pen.rectangle((0, 740, 1600, 780), fill=(70, 72, 76))
        pen.rectangle((700, 744, 900, 760), fill=(150, 154, 160))
        pen.arc((770, 660, 830, 760), 180, 360, fill=(190, 192, 196), width=10)
        for x in range(0, 1600, 200):
            pen.rectangle((x + 6, 786, x + 194, 1100), fill=(52, 84, 120))
            pen.rectangle((x + 90, 830, x + 110, 900), fill=(200, 200, 204))
        for x in (0, 200, 1000, 1200, 1400):
            pen.rectangle((x + 6, 40, x + 194, 420), fill=(52, 84, 120))
        floor = shingles((1600, 100), (170, 150, 120), 10, rng)
        image.paste(floor, (0, 1100))

    return draw


# ---------------------------------------------------------------- the sample site


def strip(*scenes: Draw) -> Draw:
    """A panorama: the scenes side by side, each ``SIZE``."""

    def draw(image: Image.Image, rng: random.Random) -> None:
        for index, scene in enumerate(scenes):
            part = Image.new("RGB", SIZE)
            scene(part, rng)
            image.paste(part, (index * SIZE[0], 0))

    return draw


def cropped(scene: Draw, box: tuple[int, int, int, int]) -> Draw:
    """A tall shot: part of a scene drawn at ``SIZE``."""

    def draw(image: Image.Image, rng: random.Random) -> None:
        part = Image.new("RGB", SIZE)
        scene(part, rng)
        image.paste(part.crop(box), (0, 0))

    return draw


@dataclass(frozen=True)
class Photo:
    taken: str  # local time on the camera, "YYYY-MM-DD HH:MM"
    description: str
    tags: str
    draw: Draw
    size: tuple[int, int] = SIZE

    def exif_time(self) -> str:
        return self.taken.replace("-", ":") + ":00"


JOBS: dict[str, list[Photo]] = {
    "Kitchen remodel, 27 Birch Ave": [
        Photo("2026-02-11 10:05", "Cabinets set, splashback bare", "kitchen", kitchen_scene(False)),
        Photo("2026-02-18 15:40", "Splashback tiled and grouted", "kitchen,after", kitchen_scene(True)),
    ],
    "Fence, 4 Oak Rd": [
        Photo("2026-02-24 09:12", "Posts set in concrete", "fence", fence_scene(0)),
        Photo("2026-02-25 14:02", "First four bays boarded", "fence", fence_scene(4)),
        Photo("2026-02-26 16:30", "All bays boarded", "fence,after", fence_scene(9)),
    ],
    "Roof replacement, 12 Elm St": [
        Photo("2026-03-02 08:41", "Front before work", "before,roof", house_scene("old", ("cone",))),
        Photo("2026-03-02 08:55", "Leak over the porch, tarped", "leak", house_scene("old", ("tarp",))),
        Photo("2026-03-03 11:20", "Tear-off done, decking sound", "decking", house_scene("decking", ("ladder",))),
        Photo("2026-03-03 16:02", "Underlayment and drip edge", "roof", house_scene("felt", ("ladder",))),
        Photo(
            "2026-03-03 16:20",
            "Street front from the corner, decking done",
            "decking",
            strip(house_scene("decking"), house_scene("felt", ("ladder",)), house_scene("old", ("cone",))),
            (4800, 1200),
        ),
        Photo(
            "2026-03-05 15:40",
            "Ladder and downpipe at the corner",
            "gutter",
            cropped(house_scene("new", ("ladder",)), (1180, 100, 1580, 1300)),
            (400, 1200),
        ),
        Photo("2026-03-05 15:15", "New shingles, ridge vent in", "after,roof", house_scene("new", ("ladder",))),
        Photo("2026-03-05 16:31", "Gutters cleared, downpipe fixed", "gutter", house_scene("new", ("ladder", "cone"))),
        Photo("2026-03-05 17:48", "Site cleaned, skip collected", "after", house_scene("new", ("dumpster",))),
        Photo("2026-03-06 09:05", "Final walk-round with the owner", "after", house_scene("new")),
    ],
}


def photo_bytes(photo: Photo, seed: int) -> bytes:
    """The scene as a phone would save it: softened a little, some sensor noise, EXIF date, JPEG."""
    rng = random.Random(seed)
    image = Image.new("RGB", photo.size)
    photo.draw(image, rng)
    image = Image.blend(image, noise(photo.size, rng), 0.02).filter(ImageFilter.GaussianBlur(1.2))
    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] = photo.exif_time()
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88, exif=exif)
    return out.getvalue()


def jobgallery_command() -> list[str]:
    script = Path(sys.executable).with_name("jobgallery")
    return [str(script)] if script.exists() else [sys.executable, "-m", "jobgallery"]


def cli(config: Path, *args: str, stdin: str = "") -> str:
    result = subprocess.run(
        [*jobgallery_command(), "--config", str(config), *args], input=stdin, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"jobgallery {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


@dataclass(frozen=True)
class Site:
    config: Path
    job_id: int  # the job both screenshots show
    title: str
    picked: list[Path]  # photos chosen in the upload form
    queued: list[Path]  # photos chosen with no signal


def make_site(folder: Path, port: int) -> Site:
    """A fresh instance with a crew user and three jobs of drawn photos, built; the last job is shown."""
    config = folder / "config.yaml"
    settings = {"server": {"host": "127.0.0.1", "port": port}, "gallery": {"site_url": "https://photos.example.com/"}}
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    cli(config, "user", "add", CREW["username"], stdin=CREW["password"] + "\n")
    cli(config, "user", "add", BOSS["username"], "--admin", stdin=BOSS["password"] + "\n")
    seed, files = 0, []
    for title, photos in JOBS.items():
        job_id = int(cli(config, "job", "add", title))
        for photo in photos:
            seed += 1
            card = folder / "camera" / str(seed)  # one folder a photo: each has its own description
            card.mkdir(parents=True)
            files.append(card / f"IMG_{4000 + seed:04}.jpg")
            files[-1].write_bytes(photo_bytes(photo, seed))
            details = ["--description", photo.description, "--tags", photo.tags]
            cli(config, "import", str(card), "--job", str(job_id), *details)
    cli(config, "build")
    return Site(config, job_id, title, files[-2:], files[:2])


def check_templates_are_this_checkout() -> None:
    """Screenshots of an older installed copy would be wrong: refuse when the templates differ."""
    from jobgallery.templating import builtin_templates

    installed, here = builtin_templates(), REPO / "templates"
    for path in here.rglob("*"):
        copy = installed / path.relative_to(here)
        if path.is_file() and not (copy.is_file() and copy.read_bytes() == path.read_bytes()):
            reinstall = f"{sys.executable} -m pip install ."
            raise SystemExit(f"{installed} differs from this checkout's templates/: reinstall ({reinstall})")


# ---------------------------------------------------------------- the daemon


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def daemon(config: Path, port: int) -> Iterator[str]:
    """``jobgallery serve`` for the block; yields its base URL once /healthz answers."""
    log = open(config.with_name("serve.log"), "wb")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen([*jobgallery_command(), "--config", str(config), "serve"], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, url, config.with_name("serve.log"))
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def wait_healthy(process: subprocess.Popen, url: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"jobgallery serve exited:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url + "/healthz", timeout=2) as reply:
            if reply.status == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"jobgallery serve did not answer within {timeout:.0f} s:\n{log.read_text(errors='replace')}")


# ---------------------------------------------------------------- the browser


def sign_in_page(browser, url: str, site: Site) -> tuple[bytes, object]:
    """The sign-in page a phone sees when it opens the form's address; and the context, still open."""
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(f"{url}/upload?job={site.job_id}")  # the sign-in page, which leads back here
    page.fill("#username", CREW["username"])
    page.locator("#username").blur()
    shot = page.screenshot(animations="disabled", caret="hide")
    page.fill("#password", CREW["password"])
    with page.expect_navigation():
        page.click("button.go")
    return shot, context


def upload_form(context, url: str, site: Site) -> bytes:
    """The form as a crew member sees it on a phone, a job chosen and two photos picked."""
    page = context.pages[0]
    page.set_input_files("#photos", [str(path) for path in site.picked])
    page.fill("#description", "North slope after the storm")
    page.fill("#tags", "roof, leak")
    page.locator("#tags").blur()
    page.locator("#badge").wait_for()
    return page.screenshot(animations="disabled", caret="hide")


def offline_queue(context, url: str, site: Site) -> bytes:
    """The queue with no signal: the two picked photos were on the server already, two more wait for signal."""
    page = context.pages[0]
    page.click("button.go")
    page.locator("#queue li[data-state=done]").nth(1).wait_for()
    context.set_offline(True)
    page.set_input_files("#photos", [str(path) for path in site.queued])
    page.fill("#description", "Gutter, east side")
    page.click("button.go")
    page.get_by_text("Waiting for a connection").first.wait_for()
    page.evaluate("() => window.scrollTo(0, document.getElementById('progress').offsetTop - 16)")
    shot = page.screenshot(animations="disabled", caret="hide")
    context.set_offline(False)
    return shot


# Resolves once every image in view is loaded, decoded and painted (two frames later).
SHOWN_IMAGES_DECODED = """async () => {
  const shown = [...document.images].filter(i => i.getBoundingClientRect().top < innerHeight);
  await Promise.all(shown.map(i => i.decode()));
  await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
}"""


def job_page(browser, url: str, site: Site) -> bytes:
    """The job's gallery on a desktop, opened from the index like a visitor would: days of photos in rows.

    The window is taller than ``DESKTOP`` so the picture reaches the panorama on its own row.
    """
    context = browser.new_context(**{**DESKTOP, "viewport": {"width": 1280, "height": 1280}})
    page = context.new_page()
    page.goto(url + "/")
    page.get_by_text(site.title, exact=True).click()
    page.wait_for_load_state("load")
    page.evaluate(SHOWN_IMAGES_DECODED)
    shot = page.screenshot(animations="disabled", caret="hide")
    context.close()
    return shot


ZOOMED_IMAGE = '.pswp__item[aria-hidden="false"] img.pswp__img:not(.pswp__img--placeholder)'


def zoomed_photo(browser, url: str, site: Site) -> bytes:
    """One photo opened in the viewer and zoomed in with the wheel on the tarp, the zoom image loaded."""
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    page.goto(url + "/")
    page.get_by_text(site.title, exact=True).click()
    page.get_by_text("Leak over the porch, tarped").locator("xpath=ancestor::figure").locator("a").click()
    page.wait_for_selector(ZOOMED_IMAGE)
    page.wait_for_timeout(600)
    page.mouse.move(700, 300)
    for _ in range(2):
        page.mouse.wheel(0, -240)
        page.wait_for_timeout(120)
    page.wait_for_function(f"document.querySelector('{ZOOMED_IMAGE}').currentSrc.includes('-zoom-')")
    page.evaluate(f"document.querySelector('{ZOOMED_IMAGE}').decode()")
    page.mouse.move(1279, 799)
    page.wait_for_timeout(400)
    shot = page.screenshot(animations="disabled", caret="hide")
    context.close()
    return shot


def shared_page(browser, url: str, site: Site) -> bytes:
    """The job as a share link shows it to a customer: its photos, the download and the report."""
    path = cli(site.config, "share", "add", str(site.job_id), "--days", "14", "--note", "for the owner").strip()
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    page.goto(f"{url}/{path}")
    page.evaluate(SHOWN_IMAGES_DECODED)
    shot = page.screenshot(animations="disabled", caret="hide")
    context.close()
    return shot


def report_page(site: Site, pdftoppm: str) -> bytes:
    """The second page of the job's report (two photos with their captions), as pdftoppm draws it."""
    pdf = site.config.with_name("report.pdf")
    cli(site.config, "report", str(site.job_id), "-o", str(pdf))
    subprocess.run(
        [pdftoppm, "-r", "80", "-png", "-f", "2", "-l", "2", "-singlefile", str(pdf), str(pdf.with_suffix(""))],
        check=True,
    )
    return pdf.with_suffix(".png").read_bytes()


def signed_in_admin(browser, url: str, device: dict) -> object:
    """A page signed in as the office's admin, on ``device``."""
    page = browser.new_context(**device).new_page()
    page.goto(f"{url}/login?next=%2Fadmin%2Fjobs")
    page.fill("#username", BOSS["username"])
    page.fill("#password", BOSS["password"])
    with page.expect_navigation():
        page.click("button.go")
    return page


def office_jobs(browser, url: str, site: Site) -> bytes:
    """The office's jobs page on a phone: the jobs, what they hold, their links."""
    page = signed_in_admin(browser, url, PHONE)
    shot = page.screenshot(animations="disabled", caret="hide")
    page.context.close()
    return shot


def office_photos(browser, url: str, site: Site) -> bytes:
    """The office's photos page of the shown job on a desktop, two photos ticked for a bulk change."""
    page = signed_in_admin(browser, url, DESKTOP)
    page.goto(f"{url}/admin/jobs/{site.job_id}/photos")
    boxes = page.locator(".photos-form input[name=photo]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.evaluate(SHOWN_IMAGES_DECODED)
    shot = page.screenshot(animations="disabled", caret="hide")
    page.context.close()
    return shot


# ---------------------------------------------------------------- writing the PNGs


def small_png(shot: bytes) -> bytes:
    """The screenshot as an optimised PNG; with 32 levels a channel only when it is still too large.

    Rounding each pixel on its own (no shared palette) halves the size of the
    photos' part, cannot be seen, and keeps a change where it happened.
    """
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    if out.tell() > MAX_PNG_BYTES:
        out = io.BytesIO()
        image.point([min(255, (value + 4) // 8 * 8) for value in range(256)] * 3).save(out, "PNG", optimize=True)
    return out.getvalue()


def same_picture(old: bytes, new: bytes) -> bool:
    """Chromium anti-aliases the photos' rounded corners a little differently from one launch to the
    next (about 150 pixels of a million); a picture that differs from the last one in fewer pixels
    than ``SAME_PICTURE_SHARE`` is the same picture, so the committed file is left as it is."""
    before, after = (Image.open(io.BytesIO(data)).convert("RGB") for data in (old, new))
    if before.size != after.size:
        return False
    changed = sum(ImageChops.difference(before, after).convert("L").histogram()[1:])
    return changed < before.width * before.height * SAME_PICTURE_SHARE


def write_png(path: Path, shot: bytes, force: bool) -> None:
    data = small_png(shot)
    if path.exists() and not force and same_picture(path.read_bytes(), data):
        print(f"{os.path.relpath(path)}: unchanged ({path.stat().st_size // 1024} KiB)")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".tmp-{path.name}")
    temp.write_bytes(data)
    os.replace(temp, path)
    print(f"{os.path.relpath(path)}: written ({len(data) // 1024} KiB)")


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description="Regenerate the README's screenshots in docs/.")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium", help="browser binary")
    parser.add_argument("--pdftoppm", default=shutil.which("pdftoppm") or "/usr/bin/pdftoppm", help="PDF renderer")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for the PNGs (default: docs/)")
    parser.add_argument("--force", action="store_true", help="rewrite the PNGs even when they look the same")
    args = parser.parse_args()
    check_templates_are_this_checkout()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="jobgallery-screenshots-") as temp:
        folder, port = Path(temp), free_port()
        site = make_site(folder, port)
        with daemon(site.config, port) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            sign_in, context = sign_in_page(browser, url, site)
            write_png(args.out / "sign-in-phone.png", sign_in, args.force)
            write_png(args.out / "upload-phone.png", upload_form(context, url, site), args.force)
            write_png(args.out / "queue-phone.png", offline_queue(context, url, site), args.force)
            context.close()
            write_png(args.out / "job-page.png", job_page(browser, url, site), args.force)
            write_png(args.out / "photo-zoomed.png", zoomed_photo(browser, url, site), args.force)
            write_png(args.out / "shared-page.png", shared_page(browser, url, site), args.force)
            write_png(args.out / "office-jobs-phone.png", office_jobs(browser, url, site), args.force)
            write_png(args.out / "office-photos.png", office_photos(browser, url, site), args.force)
            browser.close()
        write_png(args.out / "report-page.png", report_page(site, args.pdftoppm), args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
