"""Commands: the command line, one module per command (validate, run, compare, calibrate,
sweep, solve, schema), each importing the heavy layers only when it runs.

May import: every layer.
"""

import os

# The command line's processes give the memory polars frees straight back to the system. Its
# allocator (jemalloc) otherwise keeps freed pages 0.5-1.5 s, which put ~30 MiB on the peak of
# a 1,000-replication run's parent, tabulating and writing (issue #18). Read when polars
# loads, so set here, before any command imports it; a value set by the user is kept.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
