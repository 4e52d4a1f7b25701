"""A fitted file with a ``[meta.posterior]`` for tests: the shipped fit's values and sds
(``[meta.estimates]``) turned into a logit-normal per agency, as a calibrate run writes it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import tomli_w

from sim.analysis.calibration.config import load_config
from sim.analysis.calibration.posterior import EDGE, prior_sd, to_unbounded

ROOT = Path(__file__).resolve().parent.parent
CALIBRATION = ROOT / "calibration"


def fitted_with_posterior(folder: Path, at_bound: str | None = None, scale: float = 1.0,
                          mutate=None) -> Path:
    """``folder/fitted.toml``: the shipped fit plus a posterior; ``at_bound`` puts that
    parameter's centre on its low bound (as a fit on a bound does)."""
    raw = tomllib.loads((CALIBRATION / "fitted.toml").read_text())
    cfg = load_config(CALIBRATION / "config.toml")
    estimates = raw["meta"]["estimates"]
    posterior = {}
    for agency in cfg.agencies:
        params = cfg.agency_parameters(agency)
        lo = np.array([p.lo for p in params])
        hi = np.array([p.hi for p in params])
        # Parameters the shipped fit predates: their start and prior sd.
        x = np.array([estimates.get(p.name, {}).get("value", p.start) for p in params])
        sd = scale * np.array([estimates.get(p.name, {}).get("sd", prior_sd(p)) for p in params])
        if at_bound is not None:
            x = np.where([p.name == at_bound for p in params], lo, x)
        xc = np.clip(x, lo + EDGE * (hi - lo), hi - EDGE * (hi - lo))
        jac = (hi - lo) / ((xc - lo) * (hi - xc))
        posterior[agency] = {"names": [p.name for p in params], "lo": lo.tolist(),
                             "hi": hi.tolist(), "center": to_unbounded(x, lo, hi).tolist(),
                             "cov": np.diag((sd * jac) ** 2).tolist()}
    raw["meta"]["posterior"] = posterior
    raw["meta"]["config"] = str(CALIBRATION / "config.toml")
    if mutate is not None:
        mutate(raw)
    path = folder / "fitted.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def scenario_with(folder: Path, fitted: Path, name: str = "drawn", parent: str = "baseline.toml",
                  extra: str = "", start_year: int = 2018, horizon: int = 2026) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\nextends = "{ROOT / "scenarios" / parent}"\n'
                    f'calibration = "{fitted}"\nstart_year = {start_year}\n'
                    f'horizon = {horizon}\n{extra}')
    return path
