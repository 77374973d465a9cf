"""Where files live, and the one way every file is written.

Every write goes through a temp file in the target's own folder, is fsynced,
renamed over the target and the folder fsynced, so a power cut leaves either
the old file or the new one, never half of either. Temp files carry a fixed
prefix so that cleanup can recognise the leftovers of a crash.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from jobgallery.errors import UnsafePath

TEMP_PREFIX = ".tmp-"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
PUBLIC_DIR = 0o755
PUBLIC_FILE = 0o644


def masters_root(data_dir: Path) -> Path:
    return data_dir / "images"


def job_folder(data_dir: Path, job_id: int) -> Path:
    """The folder of one job's masters: ``<data>/images/job_<id>``."""
    return masters_root(data_dir) / f"job_{int(job_id)}"


def master_path(data_dir: Path, job_id: int, filename: str) -> Path:
    return job_folder(data_dir, job_id) / safe_name(filename)


def safe_name(filename: str) -> str:
    """Refuse anything but a plain file name; names come from our own rows, but stay careful."""
    if not filename or "/" in filename or "\\" in filename or filename in (".", "..") or "\0" in filename:
        raise ValueError(f"not a plain file name: {filename!r}")
    return filename


def within(root: Path, path: Path) -> Path:
    """``path`` itself when it stays inside ``root`` once every ``..`` and symlink is resolved.

    The last check before a write or delete whose path was made from stored
    data (a row, a manifest): whatever the row says, nothing outside the folder
    it belongs in is touched. Raises UnsafePath otherwise, NULs included.
    """
    try:
        real_root = os.path.realpath(root)
        real = os.path.realpath(path)
    except (ValueError, OSError):
        raise UnsafePath(f"refused an unusable path under {root}") from None
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise UnsafePath(f"refused {str(path)[:200]!r}: it leads outside {root}")
    return path


def refuse_upward(path: Path) -> Path:
    """Refuse a path with a ``..`` part or a NUL: no writer or deleter here ever needs one."""
    text = os.fspath(path)
    if "\0" in text or ".." in Path(text).parts:
        raise UnsafePath(f"refused {text[:200]!r}: it climbs out of its folder")
    return path


def is_temp(name: str) -> bool:
    return name.startswith(TEMP_PREFIX)


def temp_path(folder: Path, hint: str = "") -> Path:
    """A fresh temp name in ``folder`` that names the process writing it.

    Cleanup recognises leftovers by the prefix; the process id lets a
    restarting daemon remove the leftovers of writers that are dead without
    touching the temp files of a ``jobgallery import`` still running.
    """
    return folder / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}{hint}"


def temp_owner(name: str) -> int | None:
    """The process id in a temp name made by ``temp_path``; None when there is none."""
    head = name[len(TEMP_PREFIX) :].split("-", 1)[0] if is_temp(name) else ""
    return int(head) if head.isdigit() else None


def process_alive(pid: int) -> bool | None:
    """True when ``pid`` is a process of this user, False when there is none, None when another user's has it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return None
    return True


def process_started(pid: int) -> float | None:
    """When process ``pid`` started (Unix time); None when its /proc entry cannot be read.

    Reads only ``/proc/<pid>/stat`` (its start in clock ticks since boot): the
    shipped units mount /proc with ``ProcSubset=pid``, which hides
    ``/proc/stat`` and ``/proc/uptime``. The boot time comes from
    ``CLOCK_BOOTTIME``, the clock that start time is counted in.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    ticks = int(stat.rsplit(")", 1)[1].split()[19])
    booted = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    return booted + ticks / os.sysconf("SC_CLK_TCK")


def temp_is_dead(path: Path) -> bool:
    """True when the process that wrote temp file ``path`` is gone.

    After a power cut a new process may have the dead writer's pid, so a
    living pid counts only when that process started before the file was
    last written (with a little slack for clock granularity). A pid that
    another user's process holds now is not the writer of a file this user
    owns: the writer made the file as itself. (Under the units'
    ``ProtectProc=invisible`` such a process is not even in /proc.)
    """
    owner = temp_owner(path.name)
    alive = process_alive(owner) if owner is not None else False
    if alive is False:
        return True
    try:
        info = path.stat()
    except FileNotFoundError:
        return False
    if alive is None:
        return info.st_uid == os.geteuid()
    started = process_started(owner)
    return started is not None and started > info.st_mtime + 2


def remove_dead_temps(data_dir: Path) -> list[Path]:
    """Remove temp files in the job folders whose writer has died (a crash mid-upload)."""
    removed = []
    for path in masters_root(data_dir).glob(f"job_*/{TEMP_PREFIX}*"):
        if temp_is_dead(path) and remove_file(path):
            removed.append(path)
    return removed


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(folder: Path, private: bool = False) -> Path:
    """Create ``folder`` (and parents) and make each new entry durable.

    A new folder is private (0700) when asked for or when the folder it is
    made in is private: ``data/`` is made private, so every job folder of
    masters under it is too. Any other folder (``output/`` and all under it)
    is 0755. Both whatever the umask: 000 would leave the public site
    writable by every local user, 077 would hide it from the web server.
    """
    refuse_upward(folder)
    if folder.is_dir():
        return folder
    parent = folder.parent
    if parent != folder and not os.path.lexists(parent):
        ensure_dir(parent)
    try:
        folder.mkdir()
    except FileExistsError:
        if folder.is_dir():  # made meanwhile by another writer
            return folder
        raise
    with contextlib.suppress(PermissionError):  # a FAT or exFAT drive keeps no modes
        os.chmod(folder, PRIVATE_DIR if private or is_private(parent) else PUBLIC_DIR)
    fsync_dir(parent)
    return folder


def is_private(folder: Path) -> bool:
    """Only its owner may enter ``folder`` (no group or other bits)."""
    try:
        return folder.stat().st_mode & 0o077 == 0
    except OSError:
        return False


def file_mode(folder: Path) -> int:
    """The mode of a new file in ``folder``: private (0600) in a private folder, else readable (0644)."""
    return PRIVATE_FILE if is_private(folder) else PUBLIC_FILE


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the filesystem has no room (ENOSPC) or the user's quota is spent (EDQUOT).

    Such a write failure is transient: the same write works once space is freed.
    """
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def create_file(path: Path, mode: int | None = None) -> BinaryIO:
    """A new buffered file at ``path`` (which must not exist).

    Always buffered: a raw file's ``write`` may take only part of the bytes
    (a disk with less room left than the chunk) and say so only in its return
    value, so a caller that ignores it keeps a file cut short. A buffered file
    writes everything or raises (ENOSPC on a full disk). Callers flush before
    they fsync.
    """
    refuse_upward(path)
    mode = file_mode(path.parent) if mode is None else mode
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with contextlib.suppress(PermissionError):  # exactly ``mode`` whatever the umask; FAT or exFAT keeps none
        os.fchmod(fd, mode)
    return os.fdopen(fd, "wb", closefd=True)


def create_private_file(path: Path) -> None:
    """An empty 0600 file at ``path`` unless one is there (SQLite fills it and gives its WAL the same mode)."""
    with contextlib.suppress(FileExistsError):
        create_file(path, PRIVATE_FILE).close()


@contextlib.contextmanager
def atomic_writer(target: Path, mode: int | None = None) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``target`` only when the block ends without error.

    Its mode is ``file_mode`` of its folder unless given: masters in ``data/`` are 0600.
    """
    refuse_upward(target)
    folder = ensure_dir(target.parent)
    tmp = temp_path(folder, target.suffix)
    raw = create_file(tmp, mode)
    try:
        with raw as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def atomic_write(target: Path, data: bytes | Iterable[bytes], mode: int | None = None) -> None:
    """Write ``data`` (bytes or chunks) to ``target`` atomically and durably."""
    with atomic_writer(target, mode) as handle:
        if isinstance(data, (bytes, bytearray, memoryview)):
            handle.write(data)
        else:
            for chunk in data:
                handle.write(chunk)


def publish_file(tmp: Path, target: Path) -> None:
    """Durably move an already-fsynced temp file over ``target`` in the same folder."""
    refuse_upward(target)
    os.replace(tmp, target)
    fsync_dir(target.parent)


def remove_file(path: Path) -> bool:
    """Unlink ``path`` durably; False when it was already gone."""
    refuse_upward(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True
