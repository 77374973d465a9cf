"""Running derivative tasks: in this process for a few photos, a process pool for batches.

The daemon runs builds from a thread, and forking a process that has threads
can deadlock, so the pool never uses ``fork``: workers come from a fork
server (a small single-threaded process started once) that has already
loaded the imaging code, so each worker starts warm. Workers die with the
process that owns the pool, even when it is killed with SIGKILL (``lifeline``),
and their big decodes take their share of the owner's box-wide decode budget.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from generator.derivatives import PhotoResult, PhotoTask, make_photo
from jobgallery.decode_budget import DECODES
from jobgallery.workers import start_worker

# Below this many photos a pool costs more to start than it saves...
POOL_THRESHOLD = 4
# ...unless one is this big: its decode at zoom scale (4 bytes a pixel, about twice that while it is resized)
# then stays out of the build process, and out of the daemon that runs builds.
BIG_PIXELS = 4_000_000
# Tasks handed to the pool per worker before earlier ones finish: enough to keep workers busy.
IN_FLIGHT = 4


def run_tasks(tasks: Sequence[PhotoTask], workers: int) -> Iterator[PhotoResult]:
    """Make every task's derivatives, yielding one result per task as each is done (in no set order)."""
    if all(task.pixels < BIG_PIXELS for task in tasks) and (workers <= 1 or len(tasks) < POOL_THRESHOLD):
        return in_process(tasks)
    return in_pool(tasks, max(1, workers))


def in_process(tasks: Sequence[PhotoTask]) -> Iterator[PhotoResult]:
    for task in tasks:
        yield make_photo(task)


def pool_context() -> multiprocessing.context.BaseContext:
    """Workers fork from a server that loaded the main module and the imaging code once, so each starts warm."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", "generator.worker"])
    return context


def in_pool(tasks: Sequence[PhotoTask], workers: int) -> Iterator[PhotoResult]:
    """Fan the tasks out over ``workers`` processes; a worker that dies fails its photos, not the build.

    Only a few tasks per worker are in flight at once, so a build of thousands of
    photos does not hold thousands of pending futures.
    """
    queue = iter(tasks)
    size = min(workers, len(tasks))
    context = pool_context()
    with ProcessPoolExecutor(size, mp_context=context, initializer=start_worker, initargs=(DECODES.path,)) as pool:
        running = {pool.submit(make_photo, task): task for task in itertools.islice(queue, IN_FLIGHT * workers)}
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield outcome(future, running.pop(future))
            for task in itertools.islice(queue, len(done)):
                running[pool.submit(make_photo, task)] = task


def outcome(future: Future, task: PhotoTask) -> PhotoResult:
    try:
        return future.result()
    except BrokenProcessPool:
        return PhotoResult(task.image_id, task.filename, error="the worker process died (out of memory?)")
