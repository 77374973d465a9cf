"""Worker processes that die with the process that started them, however it ends.

Pool workers come from a fork server, and each holds copies of the pipes
whose closing would tell the fork server and the resource tracker that the
pool's owner is gone. When the owner is killed with SIGKILL nobody closes
those copies: workers, fork server and tracker then wait for ever (about
116 MB on a Pi). So every worker watches, from a thread, the pipe end that
multiprocessing keeps open for it in its owner (``parent_process().sentinel``,
at end of file as soon as the owner exits, by any signal) and leaves at once.
It also asks the kernel for SIGKILL should its own parent, the fork server,
die first (``PR_SET_PDEATHSIG``). Once the workers are gone their copies are
closed, and the fork server and the tracker see end of file and exit.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading

PR_SET_PDEATHSIG = 1
# Exit status of a worker whose owner went away (128 + SIGHUP, as a shell reports a hang-up).
ORPHANED = 129


def die_with_owner() -> None:
    """Pool initializer: end this worker when the process that owns its pool ends.

    Raises OSError when the kernel refuses ``prctl`` (not Linux).
    """
    kill_me_with_parent()
    owner = multiprocessing.parent_process()
    if owner is None:
        return
    watcher = threading.Thread(target=exit_when_closed, args=(owner.sentinel,), name="lifeline", daemon=True)
    watcher.start()


def kill_me_with_parent() -> None:
    """SIGKILL for this process the moment its parent process exits."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def exit_when_closed(sentinel: int) -> None:
    """Block until the owner's end of the pipe is closed, then leave without cleanup (there is no one to report to)."""
    multiprocessing.connection.wait([sentinel])
    os._exit(ORPHANED)
