"""The objective of one agency's fit: a weighted least-squares misfit of the simulated mean
share to each figure, plus the priors (see the package docstring for the weights)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from sim.analysis.calibration.config import Config, FreeParameter, placement
from sim.analysis.calibration.figures import Figure, shares
from sim.analysis.calibration.simulator import Simulator
from sim.scenario.loading import merge


def prior_rows(params: Sequence[FreeParameter], values: np.ndarray) -> np.ndarray:
    return np.array([(v - p.prior.mean) / p.prior.sd for p, v in zip(params, values)
                     if p.prior is not None])


def prior_jacobian(params: Sequence[FreeParameter]) -> np.ndarray:
    """d(prior residual)/d(value) rows."""
    rows = [np.eye(len(params))[i] / p.prior.sd for i, p in enumerate(params) if p.prior]
    return np.array(rows).reshape(len(rows), len(params))


def bounds_precision(params: Sequence[FreeParameter]) -> np.ndarray:
    """Precision of the uniform-over-bounds prior of parameters without a Gaussian one."""
    return np.diag([0.0 if p.prior else 12.0 / p.span ** 2 for p in params])


class AgencyObjective:
    """The simulated, weighted misfit of one agency's parameters to its figures."""

    def __init__(self, cfg: Config, agency: str, figures: Sequence[Figure], sim: Simulator,
                 reps: int, seed: int, horizon: int, start_year: int):
        self.cfg, self.agency, self.figures, self.sim = cfg, agency, tuple(figures), sim
        self.params = cfg.agency_parameters(agency)
        self.reps = list(range(reps))
        self.fixed = {"seed": seed, "horizon": horizon}
        self.cells = [f.cell(start_year) for f in self.figures]
        self.observed = np.array([f.value for f in self.figures])
        self.rounding = np.array([f.precision for f in self.figures]) ** 2 / 3
        self.sigma = np.sqrt(self.rounding)
        self._cache: dict[bytes, np.ndarray] = {}

    def overrides(self, values: np.ndarray) -> dict[str, Any]:
        named = {p.name: float(v) for p, v in zip(self.params, values)}
        others = {p.name: p.start for p in self.cfg.parameters if p.agency != self.agency}
        return merge(self.fixed, placement(self.cfg, {**others, **named}, self.sim.base,
                                           self.agency))

    def values(self, u: np.ndarray) -> np.ndarray:
        return np.array([p.from_unit(x) for p, x in zip(self.params, u)])

    def simulate(self, points: list[np.ndarray], reps: list[int] | None = None
                 ) -> list[np.ndarray]:
        """Per-replication shares ``[rep, figure]`` at each parameter point (values)."""
        jobs = [self.overrides(v) for v in points]
        out = self.sim.cells(jobs, self.agency, reps or self.reps, self.cells)
        return [shares(w, t) for w, t in out]

    def set_weights(self, draws: np.ndarray) -> None:
        """Figure variances: rounding + process noise + Monte Carlo error of the mean."""
        process = np.nanvar(draws, axis=0, ddof=1)
        process = np.where(np.isfinite(process), process, 0.25)
        self.sigma = np.sqrt(self.rounding + process * (1 + 1 / len(self.reps)))

    def data_residuals(self, means: np.ndarray) -> np.ndarray:
        r = (means - self.observed) / self.sigma
        return np.where(np.isfinite(r), r, 10.0)   # a group that does not exist: a big miss

    def means(self, points: list[np.ndarray]) -> list[np.ndarray]:
        """Mean simulated share per figure at each point (values), cached by point."""
        keys = [np.asarray(v, float).tobytes() for v in points]
        todo = {k: v for k, v in zip(keys, points) if k not in self._cache}
        if todo:
            for k, draws in zip(todo, self.simulate(list(todo.values()))):
                self._cache[k] = np.nanmean(draws, axis=0)
        return [self._cache[k] for k in keys]

    def residuals(self, u: np.ndarray) -> np.ndarray:
        v = self.values(u)
        return np.concatenate([self.data_residuals(self.means([v])[0]),
                               prior_rows(self.params, v)])

    def jacobian(self, u: np.ndarray, step: float) -> np.ndarray:
        """Forward differences in unit coordinates (backward at the upper bound), in parallel."""
        steps = np.where(u + step <= 1, step, -step)
        points = [self.values(u)]
        for i in range(len(u)):
            x = u.copy()
            x[i] += steps[i]
            points.append(self.values(x))
        means = self.means(points)
        base = self.data_residuals(means[0])
        cols = [(self.data_residuals(m) - base) / s for m, s in zip(means[1:], steps)]
        data = np.column_stack(cols) if cols else np.zeros((len(base), 0))
        span = np.array([p.span for p in self.params])
        return np.vstack([data, prior_jacobian(self.params) * span])


def least_squares_fit(obj: AgencyObjective, u0: np.ndarray, step: float, iterations: int
                   ) -> tuple[np.ndarray, str]:
    """Trust-region least squares in unit coordinates; returns the point and how it ended."""
    if iterations == 0:
        return u0, "not fitted (no iterations in this mode)"
    # Imported here: the posterior's draws (every ``run``) import this module, and
    # scipy.optimize alone took half a second to import.
    from scipy.optimize import least_squares

    res = least_squares(obj.residuals, u0, jac=lambda u: obj.jacobian(u, step), bounds=(0, 1),
                        method="trf", x_scale=1.0, max_nfev=iterations, ftol=1e-4, xtol=1e-3,
                        gtol=1e-6)
    ended = "iteration limit reached" if res.status == 0 else "converged"
    return np.clip(res.x, 0, 1), f"{ended} after {res.nfev} iterations"
