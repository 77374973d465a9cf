"""Opening untrusted images safely: which formats we accept and how we decode them."""

from __future__ import annotations

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")


def enable_heif() -> None:
    """Teach Pillow to read HEIC/HEIF (iPhone photos); harmless to call more than once."""
    import pillow_heif

    pillow_heif.register_heif_opener()
