"""Where simulations run: in this process, in a local process pool, or on a Dask cluster.

Every command that simulates many things (run, compare, calibrate, sweep, solve) hands plain
picklable calls ``fn(*args)`` to one of these backends. A backend only runs calls; what a call
computes, and the order its results are put back in, is the caller's business, so results
never depend on which backend ran them or on how many workers it had.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Protocol, Sequence

from sim.scenario.loading import InputError


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class Backend(Protocol):
    """Runs calls and says when they are done (futures-like)."""

    workers: int      # how many calls run at once
    capacity: int     # how many calls to keep in flight

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any: ...

    def wait_any(self, futures: list[Any]) -> list[Any]: ...

    def close(self) -> None: ...


class InlineBackend:
    """One worker: calls run in this process, one at a time, when submitted."""

    workers = 1
    capacity = 1

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args))
        except Exception as err:  # the caller decides what a failure means
            fut.set_exception(err)
        return fut

    def wait_any(self, futures: list[Future]) -> list[Future]:
        return list(wait(futures, return_when=FIRST_COMPLETED).done)

    def close(self) -> None:
        pass


class PoolBackend:
    """A local process pool; a pool broken by a dead worker is replaced for the retries."""

    def __init__(self, workers: int):
        self.workers = workers
        self.capacity = 2 * workers
        self.pool = worker_pool(workers)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        try:
            return self.pool.submit(fn, *args)
        except BrokenProcessPool:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = worker_pool(self.workers)
            return self.pool.submit(fn, *args)

    def wait_any(self, futures: list[Future]) -> list[Future]:
        return wait_interruptibly(futures)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """Stop now (on an interrupt): see :func:`stop_pool`."""
        stop_pool(self.pool)


class DaskBackend:
    """A running Dask distributed scheduler (``tcp://HOST:PORT``); the workers need this
    package installed. Results come back to this process, which alone writes files."""

    def __init__(self, address: str, timeout: str = "20s"):
        try:
            from distributed import Client
        except ImportError:
            raise InputError("--dask", None, "needs dask[distributed]: pip install "
                             "'wps-deploy-sim[dask]'") from None
        try:
            self.client = connect_within(Client, address, timeout)
        except (OSError, TimeoutError, ValueError) as err:
            raise InputError("--dask", None, f"cannot reach a Dask scheduler at {address}: "
                             f"{err}") from None
        threads = sum(self.client.nthreads().values())
        self.workers = max(1, threads)
        self.capacity = max(4, 2 * threads)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        name = getattr(fn, "__name__", "call")
        return self.client.submit(fn, *args, pure=False, key=f"{name}-{uuid.uuid4().hex}")

    def wait_any(self, futures: list[Any]) -> list[Any]:
        from distributed import wait as dask_wait

        return list(dask_wait(futures, return_when="FIRST_COMPLETED").done)

    def close(self) -> None:
        self.client.close()


# -- interrupts and a dead parent --------------------------------------------------------------

PARENT_POLL_SECONDS = 0.5


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers ignore Ctrl-C (the parent stops them) and exit on their
    own when the parent dies (SIGKILL, SIGTERM), instead of waiting for work forever."""
    return ProcessPoolExecutor(max_workers=workers, initializer=init_worker)


def init_worker() -> None:
    """Worker initializer: ignore SIGINT (the terminal sends it to the whole process group;
    the parent decides what an interrupt means), let SIGTERM end the worker silently (a
    forked worker inherits the command's handler), and watch the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    watch_parent()


def watch_parent(poll: float = PARENT_POLL_SECONDS) -> threading.Thread:
    """A daemon thread that ends this process when its parent is gone: the parent process
    id changes when the parent dies (the orphan is adopted), whatever the start method.
    Usable as (part of) any pool's initializer."""
    start = os.getppid()

    def loop() -> None:
        while os.getppid() == start:
            time.sleep(poll)
        os._exit(1)

    thread = threading.Thread(target=loop, name="watch-parent", daemon=True)
    thread.start()
    return thread


_FOLLOWING = {"active": False, "registered": False}


class children_follow_parent:
    """While active, every process this one forks behaves like an :func:`init_worker`
    worker (ignores Ctrl-C, dies with its parent), and Ctrl-C here terminates those children
    before raising KeyboardInterrupt, so a pool made elsewhere (the calibration's own pool,
    which cannot take :func:`init_worker`) neither prints worker tracebacks nor makes the
    interrupt wait for running work. A no-op outside the ``with`` block."""

    def __enter__(self) -> "children_follow_parent":
        if not _FOLLOWING["registered"] and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_follow_if_active)
            _FOLLOWING["registered"] = True
        _FOLLOWING["active"] = True
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, _stop_children_and_interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        _FOLLOWING["active"] = False
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def _follow_if_active() -> None:
    if _FOLLOWING["active"]:
        _FOLLOWING["active"] = False     # the child's own forks are its own business
        init_worker()


def _stop_children_and_interrupt(signum: int, frame: object) -> None:
    import multiprocessing

    for child in multiprocessing.active_children():
        child.terminate()
    raise KeyboardInterrupt


def stop_pool(pool: ProcessPoolExecutor, grace: float = 2.0) -> None:
    """Cancel what has not started, do not wait for what runs: terminate the workers (then
    kill any still alive after ``grace`` seconds)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + grace
    for proc in processes:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join(1.0)


def wait_interruptibly(futures: list[Future], poll: float = 0.25) -> list[Future]:
    """The futures done, waiting in short slices: a signal may be delivered to one of the
    pool's threads, and Python runs its handler (Ctrl-C's KeyboardInterrupt) only when the
    main thread executes again, which an untimed wait would postpone until a result came."""
    while True:
        done = wait(futures, timeout=poll, return_when=FIRST_COMPLETED).done
        if done:
            return list(done)


def connect_within(client: Callable[..., Any], address: str, timeout: str,
                   grace: float = 5.0) -> Any:
    """``client(address, timeout=timeout)``, but never longer than the timeout plus
    ``grace`` seconds of wall-clock time: a peer that accepts the connection and never
    answers (not a Dask scheduler) makes the client's own timeout wait forever."""
    from dask.utils import parse_timedelta

    limit = parse_timedelta(timeout, default="seconds") + grace
    box: dict[str, Any] = {}

    def connect() -> None:
        try:
            box["client"] = client(address, timeout=timeout)
        except BaseException as err:   # handed to the caller's thread below
            box["error"] = err

    thread = threading.Thread(target=connect, name="dask-connect", daemon=True)
    thread.start()
    thread.join(limit)
    if "error" in box:
        raise box["error"]
    if "client" not in box:
        raise TimeoutError(f"no answer within {limit:g} s (is it a Dask scheduler?)")
    return box["client"]


def abort(backend: Backend) -> None:
    """Stop a backend at once (an interrupt): ``backend.abort()`` where it has one, else
    ``close()``."""
    getattr(backend, "abort", backend.close)()


def backend_for(workers: int, dask: str | None = None) -> Backend:
    if dask:
        return DaskBackend(dask)
    return InlineBackend() if workers <= 1 else PoolBackend(workers)


def run_ordered(backend: Backend, fn: Callable[..., Any], calls: Sequence[tuple],
                on_result: Callable[[Any], None] | None = None) -> list[Any]:
    """``[fn(*call) for call in calls]`` on the backend, at most ``capacity`` in flight;
    results in the order of ``calls`` whatever order they finish in."""
    results: list[Any] = [None] * len(calls)
    pending: dict[Any, int] = {}
    next_call = 0
    try:
        while next_call < len(calls) or pending:
            while next_call < len(calls) and len(pending) < backend.capacity:
                pending[backend.submit(fn, *calls[next_call])] = next_call
                next_call += 1
            for fut in backend.wait_any(list(pending)):
                i = pending.pop(fut)
                results[i] = fut.result()
                if on_result:
                    on_result(results[i])
    except BaseException:
        for fut in pending:
            fut.cancel()
        raise
    return results
