"""Worker processes that end with the process that started them.

A pool's workers otherwise outlive a parent that was killed (SIGKILL, the OOM killer): each
finishes its job, up to tens of seconds of CPU, then fails writing its result to the dead
parent with a BrokenPipe traceback, and multiprocessing's resource tracker warns about the
pool's semaphores. `pool_initializer(os.getpid())` in each worker asks Linux to send it
SIGKILL when its parent goes (prctl PR_SET_PDEATHSIG); `quiet_resource_tracker()` in the
parent keeps the tracker from warning about semaphores a killed run could not release.
"""
from __future__ import annotations

import concurrent.futures as cf
import ctypes
import ctypes.util
import multiprocessing as mp
import os
import signal
import sys

import numpy as np

from cfcbase.numerics import THREAD_ENV

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> bool:
    """SIGKILL this process when its parent exits. False where the OS has no such call."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent_pid:          # the parent died before the call: nobody will signal
        os._exit(1)
    return True


def pool_initializer(parent_pid: int) -> None:
    die_with_parent(parent_pid)
    np.seterr(all="ignore")      # divergence is detected explicitly (one TrainerError line)


def quiet_resource_tracker() -> None:
    """The resource tracker is started with this interpreter's -W options: ignore its
    leaked-semaphore warning, which only a killed parent can cause."""
    opt = "ignore::UserWarning:multiprocessing.resource_tracker"
    if opt not in sys.warnoptions:
        sys.warnoptions.append(opt)


def single_threaded_blas() -> None:
    os.environ.update(THREAD_ENV)


def run_graph(jobs, n_workers: int, on_done) -> None:
    """Jobs that make other jobs ready. jobs: the first ones, each (priority, key, fn, args);
    on_done(key, result) is called in this process as each job finishes (in the order they
    finish) and returns the jobs that this makes ready (a list, maybe empty). Of the ready jobs
    the one with the highest priority runs first (the earliest given among equals). In this
    process when n_workers is 1, else in up to n_workers spawned worker processes, one pool for
    the whole graph, a job started only when a worker is free (as run_jobs: nothing inherited
    but the arguments; one-thread BLAS; they die with this one). The order jobs run in is the
    only thing n_workers changes. The first job that raises cancels the others and raises here."""
    ready = []

    def add(new):
        for j in new:                    # stable: highest priority first, then the order given
            i = next((i for i, r in enumerate(ready) if r[0] < j[0]), len(ready))
            ready.insert(i, j)
    add(jobs)
    if n_workers <= 1:
        with np.errstate(all="ignore"):
            while ready:
                _, key, fn, args = ready.pop(0)
                add(on_done(key, fn(*args)))
        return
    single_threaded_blas()
    quiet_resource_tracker()
    with cf.ProcessPoolExecutor(n_workers, mp_context=mp.get_context("spawn"),
                                initializer=pool_initializer, initargs=(os.getpid(),)) as ex:
        running = {}
        try:
            while ready or running:
                while ready and len(running) < n_workers:
                    _, key, fn, args = ready.pop(0)
                    running[ex.submit(fn, *args)] = key
                done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for f in sorted(done, key=lambda f: str(running[f])):
                    key = running.pop(f)
                    add(on_done(key, f.result()))
        except BaseException:
            for f in running:
                f.cancel()
            raise


def run_jobs(fn, argslist, n_workers: int, on_done) -> None:
    """fn(*args) for every args of argslist, on_done(i, result) in the order they finish: in
    this process when n_workers or the job count is 1, else in up to n_workers spawned worker
    processes (nothing inherited but the arguments; one-thread BLAS; they die with this one).
    The first job that raises cancels the ones not yet started and raises here."""
    if n_workers <= 1 or len(argslist) <= 1:
        with np.errstate(all="ignore"):
            for i, a in enumerate(argslist):
                on_done(i, fn(*a))
        return
    single_threaded_blas()
    quiet_resource_tracker()
    with cf.ProcessPoolExecutor(min(n_workers, len(argslist)), mp_context=mp.get_context("spawn"),
                                initializer=pool_initializer, initargs=(os.getpid(),)) as ex:
        futs = {ex.submit(fn, *a): i for i, a in enumerate(argslist)}
        try:
            for f in cf.as_completed(futs):
                on_done(futs[f], f.result())
        except BaseException:
            for f in futs:
                f.cancel()
            raise
