"""Fitting: each agency's parameters to its own figures, predictions at the fit, and the
whole calibration (:func:`calibrate`)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from sim.analysis.calibration.config import MIN_FIT_HORIZON, Config, Mode, placement
from sim.analysis.calibration.figures import SERIES_INDEX, Figure, load_figures, shares
from sim.analysis.calibration.objective import (
    AgencyObjective,
    bounds_precision,
    least_squares_fit,
    prior_jacobian,
    prior_rows,
)
from sim.analysis.calibration.posterior import AgencyFit, draw_parameters, profiles
from sim.analysis.calibration.simulator import Simulator
from sim.model.census import Tally
from sim.runs.backends import Backend
from sim.scenario import loading
from sim.scenario.loading import InputError, merge



def fit_agency(cfg: Config, agency: str, figures: Sequence[Figure], sim: Simulator, mode: Mode,
               seed: int, horizon: int, start_year: int,
               stage: Callable[[str], None] = lambda s: None) -> AgencyFit:
    """Fit one agency: pilot weights, least squares, renewed weights, Laplace, profiles."""
    obj = AgencyObjective(cfg, agency, figures, sim, mode.replications[agency], seed, horizon,
                          start_year)
    evaluations_before = sim.evaluations
    params = obj.params
    u = np.array([p.to_unit(p.start) for p in params])
    message = "no figure to fit: the parameters stay at their start values"
    if figures:
        stage(f"{agency}: pilot ({mode.pilot_replications} replications) for the weights")
        pilot = list(range(mode.pilot_replications))
        obj.set_weights(obj.simulate([obj.values(u)], pilot)[0])
        stage(f"{agency}: fitting {len(params)} parameters to {len(figures)} figures")
        u, message = least_squares_fit(obj, u, cfg.step[agency], mode.iterations)
        old = obj.sigma.copy()
        obj.set_weights(obj.simulate([obj.values(u)], pilot)[0])
        if np.max(np.abs(np.log(obj.sigma / old))) > math.log(1.25):
            stage(f"{agency}: weights changed at the fit; refining")
            u, again = least_squares_fit(obj, u, cfg.step[agency], max(1, mode.iterations // 2))
            message += f"; weights renewed at the fit, then {again}"
    values = obj.values(u)
    jac = obj.jacobian(u, cfg.step[agency]) if figures else np.zeros((0, len(params)))
    n_data = len(figures)
    jd = jac[:n_data] / np.array([p.span for p in params])      # per unit of value
    jp = prior_jacobian(params)
    precision = jd.T @ jd + jp.T @ jp + bounds_precision(params)
    cov = np.linalg.pinv(precision)
    draws = obj.simulate([values])[0] if figures else np.zeros((1, 0))
    means = np.nanmean(draws, axis=0) if figures else np.zeros(0)
    chi2 = float(np.sum(obj.data_residuals(means) ** 2)) if figures else 0.0
    penalty = float(np.sum(prior_rows(params, values) ** 2))
    fit = AgencyFit(agency, params, tuple(figures), values, cov, obj.sigma.copy(), means,
                    np.nanstd(draws, axis=0, ddof=1) if figures else np.zeros(0), chi2, penalty,
                    0, message)
    if figures and mode.profile_points:
        stage(f"{agency}: profiles ({mode.profile_points} points per parameter)")
        fit.profiles = profiles(obj, u, jac, mode.profile_points)
    fit.evaluations = sim.evaluations - evaluations_before
    return fit




# -- predictions: the fitted model, with and without parameter uncertainty -------------------


@dataclass
class Predictions:
    """Per-replication shares by year and series (``[rep, year, series]``)."""

    years: np.ndarray
    women: np.ndarray
    total: np.ndarray
    women_end: np.ndarray
    total_end: np.ndarray

    @classmethod
    def of(cls, tallies: list[Tally]) -> "Predictions":
        return cls(tallies[0].years, *(np.stack([getattr(t, k) for t in tallies])
                                       for k in ("women", "total", "women_end", "total_end")))

    def share(self, series: str, end: bool = False) -> np.ndarray:
        j = SERIES_INDEX[series]
        w, t = (self.women_end, self.total_end) if end else (self.women, self.total)
        return shares(w[:, :, j], t[:, :, j])

    def at(self, f: Figure) -> np.ndarray:
        y = int(np.searchsorted(self.years, f.model_year))
        return self.share(f.series, f.end)[:, y]

    def size(self, f: Figure) -> float:
        y = int(np.searchsorted(self.years, f.model_year))
        j = SERIES_INDEX[f.series]
        t = self.total_end if f.end else self.total
        return float(np.nanmean(t[:, y, j]))




# -- the whole calibration ------------------------------------------------------------------


@dataclass
class Calibration:
    """Everything a calibration run found, for the report and the fitted file."""

    cfg: Config
    mode_name: str
    until: int | None
    seed: int
    start_year: int
    fits: list[AgencyFit]
    fitted_figures: tuple[Figure, ...]
    held_out: tuple[Figure, ...]
    overrides: dict[str, Any]
    process: Predictions            # the fitted point, process noise only
    predictive: Predictions         # parameters drawn from the approximate posterior
    mode: Mode
    date: str

    @property
    def objective(self) -> float:
        return sum(f.objective for f in self.fits)

    @property
    def chi2_data(self) -> float:
        return sum(f.chi2_data for f in self.fits)


def split_figures(figures: Sequence[Figure], until: int | None
                  ) -> tuple[tuple[Figure, ...], tuple[Figure, ...]]:
    """Figures fitted (year <= until) and held out for the back-test (year > until)."""
    if until is None:
        return tuple(figures), ()
    return (tuple(f for f in figures if f.year <= until),
            tuple(f for f in figures if f.year > until))


def calibrate(cfg: Config, mode_name: str = "full", until: int | None = None, workers: int = 1,
              stage: Callable[[str], None] = lambda s: None,
              tick: Callable[[int], None] | None = None,
              backend: Backend | None = None) -> Calibration:
    """Fit every agency, then simulate the fitted model with and without parameter uncertainty
    (on ``backend`` when given, which the caller closes; else on ``workers`` local processes)."""
    mode = cfg.modes[mode_name]
    base = loading.resolve(cfg.scenario, calibrated=False)
    start_year = int(base["start_year"])
    seed = cfg.seed if cfg.seed is not None else int(base["seed"])
    figures = load_figures(cfg.observed, start_year)
    fitted_figs, held_out = split_figures(figures, until)
    if not fitted_figs:
        raise InputError("--until", None, f"no observed figure up to {until} to fit")
    last = max(f.model_year for f in figures)
    horizon = max(MIN_FIT_HORIZON, last + 1)
    fits = []
    with Simulator(base, workers, tick, backend) as sim:
        for agency in cfg.agencies:
            own = [f for f in fitted_figs if f.agency == agency]
            fits.append(fit_agency(cfg, agency, own, sim, mode, seed, horizon, start_year,
                                   stage))
        best = {p.name: float(v) for fit in fits for p, v in zip(fit.parameters, fit.values)}
        overrides = placement(cfg, best, base)
        stage(f"simulating the fitted model ({mode.report_replications} replications) and "
              f"{mode.draws} posterior draws")
        with_seed = merge(overrides, {"seed": seed})
        process = Predictions.of(sim.tallies([(with_seed, list(range(mode.report_replications)))]))
        draws = draw_parameters(fits, mode.draws, seed)
        jobs = [(merge(placement(cfg, d, base), {"seed": seed}), [i])
                for i, d in enumerate(draws)]
        predictive = Predictions.of(sim.tallies(jobs))
    return Calibration(cfg, mode_name, until, seed, start_year, fits,
                       fitted_figs, held_out, overrides, process, predictive, mode,
                       dt.date.today().isoformat())
