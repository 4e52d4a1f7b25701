"""The versions that made a result: the one list recorded in every output's provenance.

A result is reproducible to the library version: ``scenario.toml`` ([versions]) and a sweep's
``sweep.json`` carry these, and a sweep refuses to resume under another numpy, whose generators
fix every random stream (``constraints/reproduce.txt`` pins the versions of the published
figures).
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from sim import __version__

# The libraries whose versions can change a number in the outputs (or how it was computed).
LIBRARIES = ("numpy", "numba", "scipy", "polars", "simpy", "pydantic")


def library_versions() -> dict[str, str]:
    """``{"python": ..., "wps-deploy-sim": ..., "numpy": ..., ...}`` for this process."""
    found = {"python": platform.python_version(), "wps-deploy-sim": __version__}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:   # not installed as a distribution (a vendored copy)
            found[name] = "unknown"
    return found
