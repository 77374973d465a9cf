"""Putting files into ``output/`` and taking them out, atomically and only when needed.

Every file is replaced by rename (``storage.atomic_write``), so Nginx serves
either the old or the new bytes. A file whose bytes would not change is not
touched: its mtime, and so every cache's validator, stays as it was.
Removal is the last step of a build, after the pages that referenced the
removed files have been replaced.
"""

from __future__ import annotations

import os
from pathlib import Path

from jobgallery.storage import atomic_write, ensure_dir, fsync_dir, remove_file, temp_path


def write_if_changed(path: Path, data: bytes) -> bool:
    """Replace ``path`` with ``data`` unless it already holds exactly these bytes; True when written."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    atomic_write(path, data)
    return True


def link_file(source: Path, target: Path) -> bool:
    """Publish ``target`` as a hard link to ``source``: the same bytes without copying or re-encoding.

    Files in ``output/`` are only ever replaced, never changed in place, so two
    names may share an inode. False when ``source`` is gone or the file system
    has no hard links; the caller then makes the file anew.
    """
    tmp = temp_path(ensure_dir(target.parent), target.suffix)
    try:
        os.link(source, tmp)
    except OSError:
        return False
    os.replace(tmp, target)
    fsync_dir(target.parent)
    return True


def list_names(folder: Path) -> set[str]:
    """Names of the regular files in ``folder`` (empty when it does not exist)."""
    try:
        with os.scandir(folder) as entries:
            return {entry.name for entry in entries if entry.is_file(follow_symlinks=False)}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def list_dirs(folder: Path) -> set[str]:
    try:
        with os.scandir(folder) as entries:
            return {entry.name for entry in entries if entry.is_dir(follow_symlinks=False)}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def prune_folder(folder: Path, keep: set[str], present: set[str] | None = None) -> int:
    """Remove every file in ``folder`` not named in ``keep``; return how many went."""
    names = list_names(folder) if present is None else present
    removed = 0
    for name in sorted(names - keep):
        removed += remove_file(folder / name)
    return removed


def remove_tree(folder: Path) -> int:
    """Remove a folder we generated, files first; return how many files went."""
    removed = 0
    for root, dirs, files in os.walk(folder, topdown=False):
        for name in files:
            os.unlink(os.path.join(root, name))
            removed += 1
        for name in dirs:
            os.rmdir(os.path.join(root, name))
    if folder.is_dir():
        os.rmdir(folder)
        fsync_dir(folder.parent)
    return removed
