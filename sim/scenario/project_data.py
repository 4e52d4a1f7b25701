"""Where the project's own data live: the plan's figures, the UN targets, the calibration.

One home for these paths, so every reader (targets, reports, calibration) opens the same files,
whatever folder the command runs from and however the package was installed.

The canonical files stay at the top of the repository (``calibration/``, ``scenarios/``): the
tests, the docs and ``calibrate`` (which rewrites ``fitted.toml``) refer to them there. A wheel
carries a copy of both folders as package data, ``sim/_data/calibration`` and
``sim/_data/scenarios`` (``[tool.setuptools.package-dir]`` in pyproject.toml maps those
package names onto the top-level folders, so a build copies them in without a build script).

Which copy is used: a source checkout (the folder above ``sim/`` holds ``pyproject.toml`` and
``calibration/``; also an editable install) reads the repository's own files, so an edited
figure takes effect at once; any other install reads the copy shipped in the package, found
with :mod:`importlib.resources`. Both copies keep the repository's layout, so the relative
paths inside the files (``calibration = "../calibration/fitted.toml"``) hold in either.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import polars as pl


def _source_checkout() -> Path | None:
    """The repository root when ``sim`` is imported from a source checkout, else None."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "calibration").is_dir():
        return root
    return None


def data_root() -> Path:
    """The folder that holds ``calibration/`` and ``scenarios/`` (see the module)."""
    root = _source_checkout()
    if root is not None:
        return root
    shipped = files("sim").joinpath("_data")
    if not isinstance(shipped, Path):   # a zipped install: the CSV readers need real files
        raise RuntimeError(f"wps-deploy-sim must be installed as plain files, not {shipped}")
    return shipped


DATA_ROOT = data_root()
CALIBRATION_DIR = DATA_ROOT / "calibration"
SCENARIOS_DIR = DATA_ROOT / "scenarios"                # the shipped scenarios and sweeps
OBSERVED_CSV = CALIBRATION_DIR / "observed.csv"       # the plan's figures (section 4)
TARGETS_CSV = CALIBRATION_DIR / "targets.csv"         # UN DPO (section 2) and national targets
FITTED_TOML = CALIBRATION_DIR / "fitted.toml"         # the calibration's fitted parameters
CALIBRATION_CONFIG = CALIBRATION_DIR / "config.toml"  # what the calibration fits, and how


def load_observed(path: Path = OBSERVED_CSV) -> pl.DataFrame:
    """The plan's figures that a model series is held to (``use = calibrate``)."""
    frame = pl.read_csv(path, schema_overrides={"count": pl.Float64})
    return frame.filter(pl.col("use") == "calibrate").select(
        "series", "year", "measure", "value", "source")


def check_project_data(*paths: Path) -> None:
    """Read the project's data files now (default: targets and observed figures), so a
    missing or corrupt one is an InputError naming it before anything is simulated, not a
    traceback after."""
    from sim.scenario.loading import InputError
    from sim.scenario.targets import load_targets

    readers = {TARGETS_CSV: load_targets, OBSERVED_CSV: load_observed}
    for path in paths or tuple(readers):
        try:
            readers.get(path, _read_csv)(path)
        except FileNotFoundError:
            raise InputError(path, None, "no such file (a project data file)") from None
        except Exception as err:   # polars' many error types: unreadable, wrong columns
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise InputError(path, None, f"cannot be read: {first}") from None


def _read_csv(path: Path) -> pl.DataFrame:
    return pl.read_csv(path)
