"""The versions that made a result: the one list recorded in every output's provenance.

A result is reproducible to the library version: ``scenario.toml`` ([versions]) and a sweep's
``sweep.json`` carry these, and a sweep refuses to resume under another numpy, whose generators
fix every random stream (``constraints/reproduce.txt`` pins the versions of the published
figures).
"""

from __future__ import annotations

import platform
import sys

from sim import __version__

# The libraries whose versions can change a number in the outputs (or how it was computed).
LIBRARIES = ("numpy", "numba", "scipy", "polars", "simpy", "pydantic")


def library_versions() -> dict[str, str]:
    """``{"python": ..., "wps-deploy-sim": ..., "numpy": ..., ...}`` for this process."""
    found = {"python": platform.python_version(), "wps-deploy-sim": __version__}
    for name in LIBRARIES:
        found[name] = _version(name)
    return found


def _version(name: str) -> str:
    """A loaded library's ``__version__`` (each of :data:`LIBRARIES` declares the version it
    is installed as), else its installed metadata's, else "unknown". Why not the metadata
    first: importing importlib.metadata and parsing six packages' metadata took ~80 ms of
    every run (issue #18), where most of the modules are loaded already. A module not loaded
    is not imported for this (numba alone would add 0.3 s and ~40 MiB to a run's parent)."""
    module = sys.modules.get(name)
    if module is not None and isinstance(getattr(module, "__version__", None), str):
        return module.__version__
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:   # not installed as a distribution (a vendored copy)
        return "unknown"
