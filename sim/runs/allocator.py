"""How a run's processes give freed memory back to the system (glibc's allocator only).

A parent that hands replications to worker processes only collects their results, tabulates
them, writes the files and builds the report: large frames made and dropped one after another.
glibc serves blocks under a moving threshold (raised to the size of each large block freed,
up to 32 MiB) from its heap, where freed pages stay counted against the process; fixed at
128 KiB, every large block is mapped on its own and unmapped when freed. That took a
1,000-replication run's parent from ~260 to ~225 MiB at its peak (issue #18; measured with
``benchmarks/run_speed.py``).

The workers simulate, and their kernels make and drop arrays of a roster's length (~150 KiB)
thousands of times a replication: mapped each time, a replication took ~40% longer. So a
worker (forked from the parent, it inherits the setting) sets the threshold back up.

Elsewhere (musl, macOS, Windows) nothing is changed.
"""

from __future__ import annotations

import ctypes
import os

M_MMAP_THRESHOLD = -3          # mallopt's parameter number (glibc's malloc.h)
COLLECTOR_THRESHOLD = 128 * 1024
WORKER_THRESHOLD = 32 * 1024 * 1024    # glibc's upper bound for its moving threshold


def set_mmap_threshold(size: int) -> bool:
    """Blocks of ``size`` bytes or more mapped on their own (``mallopt``); False where the C
    library has no such setting."""
    if not _glibc():
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, size))


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, OSError, ValueError):    # not a GNU system
        return False


def collecting() -> bool:
    """This process now collects and writes (its workers simulate)."""
    return set_mmap_threshold(COLLECTOR_THRESHOLD)


def simulating() -> bool:
    """This process now simulates (a worker)."""
    return set_mmap_threshold(WORKER_THRESHOLD)
