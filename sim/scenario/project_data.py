"""Where the project's own data live: the plan's figures, the UN targets, the calibration.

One home for these paths, so every reader (targets, reports, calibration) opens the same files.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

CALIBRATION_DIR = Path(__file__).resolve().parents[2] / "calibration"
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
