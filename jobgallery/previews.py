"""Small JPEG previews of masters for the office's pages, trash included (the site's derivatives are not).

A preview is at most ``size`` pixels on its long edge, upright (EXIF
orientation applied), without metadata. A JPEG is decoded at a reduced
scale (``draft``), so a 12-megapixel photo costs a 1/8-scale decode; other
formats are decoded whole, inside the box-wide decode budget like any
derivative (``images.decoding``).
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import ImageOps

from jobgallery import images

SIZES = (320, 1024)
QUALITY = 75


def preview_jpeg(path: Path, limits: images.Limits, size: int) -> bytes:
    """The preview's JPEG bytes; BadImage/UnsupportedImage for a master that cannot be read."""
    with images.open_image(path, limits.max_pixels) as picture:
        full_size = picture.size
        picture.draft("RGB", (size, size))
        with images.decoding(picture, full_size, limits.max_decode_mb, resizing=True):
            images.load(picture)
            upright = ImageOps.exif_transpose(picture)
            upright.thumbnail((size, size))
            out = io.BytesIO()
            upright.convert("RGB").save(out, "JPEG", quality=QUALITY)
    return out.getvalue()
