"""The upload form's app files in the repository: icons as the script draws them, vendored code as pinned.

The icons are drawn by ``scripts/icons.py``; drawing them again must give
the same pictures. ``scripts/vendor.sh`` pins each front-end package by
version and the registry's sha512 integrity, and writes both into the
``VERSION`` file beside the copied files (its ``--check`` mode refetches
and compares; that needs the network, so it is a script, not a test).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageChops

REPO = Path(__file__).resolve().parent.parent
ICONS = REPO / "templates" / "static" / "upload" / "icons"
VENDOR = REPO / "templates" / "static" / "vendor"


def test_the_committed_icons_are_what_the_script_draws(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(REPO / "scripts" / "icons.py"), "--out", str(tmp_path)], check=True)
    drawn = sorted(path.name for path in tmp_path.iterdir())
    assert drawn == sorted(path.name for path in ICONS.iterdir())
    assert (tmp_path / "icon.svg").read_text() == (ICONS / "icon.svg").read_text()
    for name in drawn:
        if name.endswith((".png", ".ico")):
            with Image.open(tmp_path / name) as new, Image.open(ICONS / name) as old:
                assert new.size == old.size, name
                assert ImageChops.difference(new.convert("RGBA"), old.convert("RGBA")).getbbox() is None, name
    sizes = {name: Image.open(ICONS / name).size for name in drawn if name.endswith(".png")}
    assert sizes == {
        "apple-touch-icon.png": (180, 180),
        "icon-192.png": (192, 192),
        "icon-512.png": (512, 512),
        "icon-maskable-512.png": (512, 512),
    }
    assert Image.open(ICONS / "favicon.ico").info["sizes"] == {(16, 16), (32, 32), (48, 48)}


def test_every_vendored_package_is_the_pinned_one_with_its_licence() -> None:
    script = (REPO / "scripts" / "vendor.sh").read_text(encoding="utf-8")
    pins = re.findall(r'^\s+"([^"|]+)\|([^"|]+)\|(sha512-[A-Za-z0-9+/=]+)\|([^"]+)"$', script, re.M)
    assert pins, "no package pinned in scripts/vendor.sh"
    assert sorted(path.name for path in VENDOR.iterdir()) == sorted(name for name, *_ in pins)
    for name, version, integrity, files in pins:
        folder = VENDOR / name
        assert (folder / "VERSION").read_text(encoding="utf-8") == f"{name} {version} {integrity}\n"
        copied = sorted(Path(file).name for file in files.split())
        assert sorted(path.name for path in folder.iterdir()) == sorted([*copied, "VERSION"])
        assert any(re.match(r"LICEN[CS]E", file) for file in copied), f"{name} ships without its licence"
        for file in copied:
            if file.endswith(".js"):
                assert version in (folder / file).read_text(encoding="utf-8")[:400]
