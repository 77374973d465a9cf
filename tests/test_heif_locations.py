"""The HEIC ``iloc`` reader shared by the upload's checks and the zip's clean copies.

``iloc`` bodies are written here byte by byte (ISO/IEC 14496-12, 8.11.3), as
libheif and phones write them and as a hostile file would: the check and the
blanking must read the same entries the same way.
"""

from __future__ import annotations

import struct

import pytest

from jobgallery import clean_copy, containers
from jobgallery.errors import BadImage


def iloc(version: int, items: list[tuple[int, int, int, list[tuple[int, int]]]], count: int | None = None) -> bytes:
    """An ``iloc`` body: 4-byte offsets and lengths, 4-byte base offsets; items are (id, method, base, extents)."""
    body = struct.pack(">B3sBB", version, b"\0\0\0", 0x44, 0x40)
    body += struct.pack(">H" if version < 2 else ">I", len(items) if count is None else count)
    for item_id, method, base, extents in items:
        body += struct.pack(">H" if version < 2 else ">I", item_id)
        if version in (1, 2):
            body += struct.pack(">H", method)
        body += struct.pack(">HIH", 0, base, len(extents))
        for offset, length in extents:
            body += struct.pack(">II", offset, length)
    return body


@pytest.mark.parametrize("version", [0, 1, 2])
def test_every_version_reads_the_same_entries(version: int) -> None:
    body = iloc(version, [(1, 0, 1000, [(0, 500), (600, 20)]), (2, 0, 0, [(3000, 40)])])
    found = [(item.item_id, item.method, item.extents) for item in containers.item_locations(body)]
    assert found == [(1, 0, [(1000, 500), (1600, 20)]), (2, 0, [(3000, 40)])]


def test_clean_copies_find_idat_items_and_skip_items_stored_elsewhere() -> None:
    body = iloc(1, [(1, 0, 0, [(100, 10)]), (2, 1, 0, [(4, 8)]), (3, 2, 0, [(0, 5)])])
    assert list(clean_copy.item_extents(body, idat_start=900)) == [(1, [(100, 10)]), (2, [(904, 8)])]


def test_more_items_than_any_phone_writes_are_refused() -> None:
    body = iloc(2, [], count=containers.MAX_HEIF_ITEMS + 1)
    with pytest.raises(BadImage, match=r"more than \d+ items"):
        list(containers.item_locations(body))


@pytest.mark.parametrize("cut", [3, 9, 20])
def test_a_body_that_breaks_off_is_damage(cut: int) -> None:
    body = iloc(1, [(1, 0, 0, [(100, 10), (200, 10)])])
    with pytest.raises(BadImage, match="damaged"):
        list(containers.item_locations(body[: len(body) - cut]))


def test_data_past_the_end_of_the_file_or_of_idat_is_refused() -> None:
    types = {1: b"hvc1", 2: b"Exif"}
    containers.check_locations(iloc(1, [(1, 0, 0, [(0, 100)]), (2, 1, 0, [(0, 8)])]), types, 100, 8)
    with pytest.raises(BadImage, match="item 1 lies past the end"):
        containers.check_locations(iloc(1, [(1, 0, 50, [(0, 51)])]), types, 100, 8)
    with pytest.raises(BadImage, match="item 2 lies past the end"):
        containers.check_locations(iloc(1, [(2, 1, 0, [(4, 5)])]), types, 100, 8)


def test_a_metadata_item_over_the_cap_is_refused_wherever_its_extents_are() -> None:
    half = containers.MAX_METADATA_BYTES // 2 + 1
    body = iloc(0, [(2, 0, 0, [(0, half), (half, half)])])
    with pytest.raises(BadImage, match="bytes of metadata in one item"):
        containers.check_locations(body, {2: b"Exif"}, 10 * half, 0)
    containers.check_locations(body, {2: b"hvc1"}, 10 * half, 0)
