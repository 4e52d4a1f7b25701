"""How a run's processes return freed memory (sim.runs.allocator): the parent that hands work
to a pool maps large blocks on their own; its forked workers, which simulate, do not."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from sim.runs import allocator, backends


def test_only_glibc_is_touched(monkeypatch):
    """Elsewhere than glibc (musl, macOS) the allocator is left as it is."""
    monkeypatch.setattr(os, "confstr", lambda name: "musl 1.2", raising=False)
    assert allocator.set_mmap_threshold(allocator.COLLECTOR_THRESHOLD) is False

    def no_confstr(name):
        raise ValueError(name)

    monkeypatch.setattr(os, "confstr", no_confstr, raising=False)
    assert allocator.collecting() is False


@pytest.mark.skipif(not allocator._glibc(), reason="glibc only")
def test_glibc_takes_both_settings():
    assert allocator.collecting() is True
    assert allocator.simulating() is True


def test_a_pool_makes_its_parent_a_collector_and_its_workers_simulators(monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(allocator, "collecting", lambda: calls.append("collecting"))
    monkeypatch.setattr(allocator, "simulating", lambda: calls.append("simulating"))
    monkeypatch.setattr(backends, "watch_parent", lambda: None)
    pool = backends.worker_pool(1)
    pool.shutdown()
    assert calls == ["collecting"]
    previous = (backends.signal.getsignal(backends.signal.SIGINT),
                backends.signal.getsignal(backends.signal.SIGTERM))
    try:
        backends.init_worker()
    finally:
        backends.signal.signal(backends.signal.SIGINT, previous[0])
        backends.signal.signal(backends.signal.SIGTERM, previous[1])
    assert calls == ["collecting", "simulating"]


@pytest.mark.skipif(not allocator._glibc(), reason="glibc only")
def test_a_collector_gives_a_large_freed_block_back():
    """With the collector's setting, an 8 MiB block freed after a 16 MiB one was is unmapped:
    resident memory falls back. By default glibc's threshold had moved up to 16 MiB at that
    first free, so the block came from the heap and stays resident once freed."""
    script = textwrap.dedent("""
        import ctypes, sys
        from sim.runs import allocator
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc.restype = ctypes.c_void_p
        libc.free.argtypes = [ctypes.c_void_p]
        libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
        def rss():
            return int(open("/proc/self/statm").read().split()[1])
        if sys.argv[1] == "collector":
            allocator.collecting()
        big = libc.malloc(16 << 20); libc.memset(big, 1, 16 << 20); libc.free(big)
        before = rss()
        block = libc.malloc(8 << 20); libc.memset(block, 1, 8 << 20)
        after = libc.malloc(1024)      # keeps the block off the top of the heap
        libc.free(block)
        print(rss() - before)
    """)
    grown = {}
    for role in ("collector", "default"):
        out = subprocess.run([sys.executable, "-c", script, role], capture_output=True,
                             text=True, check=True)
        grown[role] = int(out.stdout) * os.sysconf("SC_PAGE_SIZE") >> 20    # MiB kept
    assert grown["collector"] < 2          # unmapped at free: nothing kept
    assert grown["default"] >= 7           # served from the heap and kept
