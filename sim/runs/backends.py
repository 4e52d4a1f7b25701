"""Where simulations run: in this process, in a local process pool, or on a Dask cluster.

Every command that simulates many things (run, compare, calibrate, sweep, solve) hands plain
picklable calls ``fn(*args)`` to one of these backends. A backend only runs calls; what a call
computes, and the order its results are put back in, is the caller's business, so results
never depend on which backend ran them or on how many workers it had.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from sim.scenario.loading import InputError

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class Backend(Protocol):
    """Runs calls and says when they are done (futures-like)."""

    @property
    def workers(self) -> int:
        """How many calls run at once (live for Dask: read it when needed)."""

    @property
    def capacity(self) -> int:
        """How many calls to keep in flight (live for Dask)."""

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
    """A local process pool; a pool broken by a dead worker is replaced for the retries.

    The pool is made at the first call submitted: a command whose work is a single call runs
    it in this process (:func:`run_ordered`), and then no pool is ever started."""

    def __init__(self, workers: int):
        self.workers = workers
        self.capacity = 2 * workers
        self._pool: ProcessPoolExecutor | None = None

    @property
    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = worker_pool(self.workers)
        return self._pool

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self.pool.submit(fn, *args)
        except BrokenProcessPool:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self._pool = worker_pool(self.workers)
            return self.pool.submit(fn, *args)

    def wait_any(self, futures: list[Future]) -> list[Future]:
        return wait_interruptibly(futures)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """Stop now (on an interrupt): see :func:`stop_pool`."""
        if self._pool is not None:
            stop_pool(self._pool)


TIMEOUT = "20s"   # how long to wait for a Dask scheduler before giving up


class DaskBackend:
    """A Dask distributed cluster; the workers need this package installed. Results come back
    to this process, which alone writes files.

    ``workers`` and ``capacity`` are read live from the scheduler, so the tasks kept in flight
    follow the cluster as workers join (``cluster.scale``, new batch jobs) and leave. A
    cluster this backend started itself (``--dask local:N``) is closed with it. ``option``
    is the command-line option that chose the cluster, for error messages.
    """

    def __init__(self, client: Any, cluster: Any = None, option: str = "--dask"):
        self.client, self.cluster = client, cluster
        try:
            check_worker_versions(client, option)
        except BaseException:
            self.close()
            raise

    def threads(self) -> int:
        """Threads on the cluster's workers right now (one scheduler round trip)."""
        return sum(self.client.nthreads().values())

    @property
    def workers(self) -> int:
        return max(1, self.threads())

    @property
    def capacity(self) -> int:
        """Two calls per thread keep every thread busy while results travel; at least 2."""
        return max(2, 2 * self.threads())

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        name = getattr(fn, "__name__", "call")
        return self.client.submit(fn, *args, pure=False, key=f"{name}-{uuid.uuid4().hex}")

    def wait_any(self, futures: list[Any]) -> list[Any]:
        from distributed import wait as dask_wait

        return list(dask_wait(futures, return_when="FIRST_COMPLETED").done)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


# -- interrupts and a dead parent --------------------------------------------------------------

PARENT_POLL_SECONDS = 0.5


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers ignore Ctrl-C (the parent stops them) and exit on their
    own when the parent dies (SIGKILL, SIGTERM), instead of waiting for work forever."""
    from concurrent.futures import ProcessPoolExecutor   # multiprocessing: only when used

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
    # Let the pool's manager thread see its dead workers and close its wakeup pipe now: at
    # exit, concurrent.futures writes to that pipe unless it is closed, and a close racing
    # the write prints "Bad file descriptor" after the command's last word.
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None:
        manager.join(grace)


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


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise InputError("--dask", None, "needs dask[distributed]: pip install "
                         "'wps-deploy-sim[dask]'") from None
    return distributed


def local_cluster(workers: int) -> DaskBackend:
    """``--dask local:N``: a LocalCluster of N one-thread worker processes on this machine."""
    distributed = _distributed()
    try:
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                           processes=True, host="127.0.0.1",
                                           dashboard_address=None,
                                           silence_logs=logging.ERROR)   # no shutdown chatter
    except (OSError, TimeoutError, RuntimeError) as err:
        raise InputError("--dask", None, f"cannot start a local cluster: {err}") from None
    try:
        client = distributed.Client(cluster, timeout=TIMEOUT)
    except BaseException:
        cluster.close()
        raise
    return DaskBackend(client, cluster)


def connect(address: str, timeout: str | None = None, option: str = "--dask") -> DaskBackend:
    """A client of the running scheduler at ``address``; InputError naming ``option`` if it
    cannot be reached within the timeout."""
    distributed = _distributed()
    try:
        client = connect_within(distributed.Client, address, timeout or TIMEOUT)
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        raise InputError(option, None, f"cannot reach a Dask scheduler at {address}: "
                         f"{err}") from None
    return DaskBackend(client, option=option)


def scheduler_address(path: Path) -> str:
    """The scheduler's address from a scheduler file (what ``dask scheduler
    --scheduler-file``, dask-mpi and ``Client.write_scheduler_file`` write)."""
    try:
        address = json.loads(path.read_text(encoding="utf-8"))["address"]
    except FileNotFoundError:
        raise InputError(path, None, "no such scheduler file (the Dask scheduler writes it "
                         "when it starts)") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise InputError(path, "address", f"not a Dask scheduler file: {err}") from None
    if not isinstance(address, str):
        raise InputError(path, "address", "must be a string such as tcp://HOST:8786")
    return address


def dask_backend(dask: str | None = None, scheduler_file: Path | str | None = None,
                 timeout: str | None = None) -> DaskBackend:
    """``--dask local`` / ``local:N`` / ``ADDRESS``, or ``--scheduler-file PATH``."""
    if scheduler_file is not None:
        path = Path(scheduler_file)
        return connect(scheduler_address(path), timeout, option="--scheduler-file")
    assert dask is not None
    if dask == "local" or dask.startswith("local:"):
        count = dask.partition(":")[2] or str(default_workers())
        if not count.isdigit() or int(count) < 1:
            raise InputError("--dask", None, f"{dask!r}: local:N needs a whole number N of at "
                             "least 1")
        return local_cluster(int(count))
    return connect(dask, timeout)


MUST_MATCH = ("wps-deploy-sim", "numpy", "numba")   # what fixes the numbers a worker computes


def _package_versions() -> dict[str, str]:
    """Runs on each worker (and here): the versions that must match for identical results."""
    from sim.runs.provenance import library_versions

    found = library_versions()
    return {name: found[name] for name in MUST_MATCH}


def check_worker_versions(client: Any, option: str = "--dask") -> None:
    """Refuse a cluster whose workers run another package, numpy or numba version than this
    process: their results would silently differ (numpy fixes the random streams). Workers that join
    later are started from the same environment by the same job script, which is the rule."""
    here = _package_versions()
    try:
        remote = client.run(_package_versions)
    except Exception as err:   # a worker without this package cannot even unpickle the call
        raise InputError(option, None, f"the workers cannot run wps-deploy-sim "
                         f"({type(err).__name__}: {err}); install it on them") from None
    for worker, theirs in sorted(remote.items()):
        if theirs != here:
            differ = ", ".join(f"{k} {theirs.get(k)} (here {v})" for k, v in here.items()
                               if theirs.get(k) != v)
            raise InputError(option, None, f"worker {worker} runs {differ}; every worker "
                             "needs the same versions as this process")


def backend_for(workers: int, dask: str | None = None,
                scheduler_file: Path | str | None = None) -> Backend:
    """The backend the options ask for: Dask when ``dask`` or ``scheduler_file`` is given,
    else ``workers`` local processes (in this process for one)."""
    if dask or scheduler_file:
        return dask_backend(dask, scheduler_file)
    return InlineBackend() if workers <= 1 else PoolBackend(workers)


def local_for(backend: Backend, calls: int) -> Backend:
    """Where ``calls`` calls run: a single call for a local pool runs in this process, since
    starting the pool (forking, the workers' first allocations) can cost more than the call,
    and a call's result does not depend on the process that computes it. A Dask cluster is
    used as asked."""
    return InlineBackend() if calls <= 1 and isinstance(backend, PoolBackend) else backend


def run_ordered(backend: Backend, fn: Callable[..., Any], calls: Sequence[tuple],
                on_result: Callable[[Any], None] | None = None,
                keep: Callable[[Any], Any] | None = None) -> list[Any]:
    """``[fn(*call) for call in calls]`` on the backend, at most ``capacity`` in flight;
    results in the order of ``calls`` whatever order they finish in. ``keep`` reduces each
    result as it arrives (after ``on_result`` saw it), so only the reductions are held."""
    backend = local_for(backend, len(calls))
    results: list[Any] = [None] * len(calls)
    pending: dict[Any, int] = {}
    next_call = 0
    try:
        while next_call < len(calls) or pending:
            capacity = backend.capacity   # read at each top-up: a Dask cluster may have grown
            while next_call < len(calls) and len(pending) < capacity:
                pending[backend.submit(fn, *calls[next_call])] = next_call
                next_call += 1
            for fut in backend.wait_any(list(pending)):
                i = pending.pop(fut)
                results[i] = fut.result()
                if on_result:
                    on_result(results[i])
                if keep:
                    results[i] = keep(results[i])
    except BaseException:
        for fut in pending:
            fut.cancel()
        raise
    return results
