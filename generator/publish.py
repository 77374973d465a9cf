"""Putting files into ``output/`` and taking them out, atomically and only when needed.

Every file is replaced by rename (``storage.atomic_write``), so Nginx serves
either the old or the new bytes. A file whose bytes would not change is not
touched: its mtime, and so every cache's validator, stays as it was.
Removal is the last step of a build, after the pages that referenced the
removed files have been replaced.

Every function takes the ``root`` it works in (``output/``) and refuses a
path that would leave it (``storage.within``): folder names come from rows,
and a crafted row must not aim a prune at ``data/``.
"""

from __future__ import annotations

import os
from pathlib import Path

from jobgallery.errors import UnsafePath
from jobgallery.storage import atomic_write, ensure_dir, fsync_dir, remove_file, temp_path, within


def write_if_changed(path: Path, data: bytes, root: Path) -> bool:
    """Replace ``path`` with ``data`` unless it already holds exactly these bytes; True when written."""
    within(root, path)
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    atomic_write(path, data)
    return True


def link_file(source: Path, target: Path, root: Path) -> bool:
    """Publish ``target`` as a hard link to ``source``: the same bytes without copying or re-encoding.

    Files in ``output/`` are only ever replaced, never changed in place, so two
    names may share an inode. False when ``source`` is gone or the file system
    has no hard links; the caller then makes the file anew.
    """
    within(root, source)
    tmp = temp_path(ensure_dir(within(root, target).parent), target.suffix)
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


def prune_folder(folder: Path, keep: set[str], root: Path, present: set[str] | None = None) -> int:
    """Remove every file in ``folder`` not named in ``keep``; return how many went."""
    within(root, folder)
    names = list_names(folder) if present is None else present
    removed = 0
    for name in sorted(names - keep):
        removed += remove_file(within(root, folder / name))
    return removed


def remove_tree(folder: Path, root: Path) -> int:
    """Remove a folder we generated, files first; return how many files went.

    The folder must lie strictly inside ``root``; a symlink is removed as a link, never followed.
    """
    if folder.is_symlink():
        return int(remove_file(folder))
    if os.path.realpath(within(root, folder)) == os.path.realpath(root):
        raise UnsafePath(f"refused to remove {folder}: it is the whole of {root}")
    removed = 0
    for parent, dirs, files in os.walk(folder, topdown=False):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(parent, d))]:
            os.unlink(os.path.join(parent, name))
            removed += 1
        for name in dirs:
            if not os.path.islink(os.path.join(parent, name)):
                os.rmdir(os.path.join(parent, name))
    if folder.is_dir():
        os.rmdir(folder)
        fsync_dir(folder.parent)
    return removed
