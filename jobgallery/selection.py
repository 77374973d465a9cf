"""The photos a form or a command chose: each once, at least one, not absurdly many."""

from __future__ import annotations

from jobgallery.errors import UsageError

MAX_BATCH = 500


def chosen_ids(image_ids: list[int]) -> list[int]:
    """The ids in their order without repeats; UsageError for none or more than ``MAX_BATCH``."""
    ids = list(dict.fromkeys(image_ids))
    if not ids:
        raise UsageError("choose at least one photo")
    if len(ids) > MAX_BATCH:
        raise UsageError(f"change at most {MAX_BATCH} photos at once")
    return ids
