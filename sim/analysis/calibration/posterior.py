"""What a fit leaves uncertain: the Laplace (Gauss-Newton) posterior of each agency's
parameters, one-dimensional profiles of the data misfit, and draws from the posterior."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from sim.analysis.calibration.config import FreeParameter

if TYPE_CHECKING:       # annotations only: ``run`` reads a posterior without the objective
    from sim.analysis.calibration.figures import Figure
    from sim.analysis.calibration.objective import AgencyObjective

FLAT_COVERAGE = 0.5             # a profile open over half the prior's range or more is flat

PROFILE_LEVEL = 2.71            # chi-square(1) 90% quantile: profile intervals and flatness


# -- the objective and the fit of one agency ------------------------------------------------


@dataclass
class Profile:
    """The data misfit along one parameter, the others at their linearised conditional best."""

    parameter: str
    values: np.ndarray
    chi2_data: np.ndarray

    @property
    def delta(self) -> np.ndarray:
        return self.chi2_data - np.nanmin(self.chi2_data)

    def interval(self) -> tuple[float, float]:
        """Where the profile misfit is within the 90% level of its minimum, interpolating
        linearly between grid points (the grid's ends if it never rises that far)."""
        x, d = self.values, self.delta
        best = int(np.nanargmin(d))
        ends = []
        for step in (-1, 1):
            i = best
            while 0 <= i + step < len(x) and d[i + step] <= PROFILE_LEVEL:
                i += step
            j = i + step
            if 0 <= j < len(x):
                frac = (PROFILE_LEVEL - d[i]) / (d[j] - d[i])
                ends.append(x[i] + frac * (x[j] - x[i]))
            else:
                ends.append(x[i])
        return float(min(ends)), float(max(ends))

    @property
    def coverage(self) -> float:
        """The share of the profiled range (the prior's plausible range) the data cannot
        exclude at the 90% level."""
        lo, hi = self.interval()
        span = self.values.max() - self.values.min()
        return float((hi - lo) / span) if span > 0 else 1.0

    @property
    def flat(self) -> bool:
        """The data leave at least half of the prior's plausible range open: the prior decides."""
        return self.coverage >= FLAT_COVERAGE


@dataclass
class AgencyFit:
    """What fitting one agency produced."""

    agency: str
    parameters: tuple[FreeParameter, ...]
    figures: tuple[Figure, ...]
    values: np.ndarray
    cov: np.ndarray
    sigma: np.ndarray              # per figure: the standard deviation used as its weight
    simulated: np.ndarray          # per figure: the simulated mean share at the fit
    process_sd: np.ndarray         # per figure: between-replication sd at the fit
    chi2_data: float
    penalty: float
    evaluations: int
    message: str
    profiles: list[Profile] = field(default_factory=list)

    @property
    def objective(self) -> float:
        return self.chi2_data + self.penalty

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0, None))

    def data_weight(self) -> np.ndarray:
        """How much the data narrowed each parameter: 1 - (posterior sd / prior sd)**2
        (0 = the prior alone, 1 = the data alone)."""
        prior = np.array([prior_sd(p) for p in self.parameters])
        return np.clip(1 - (self.sd / prior) ** 2, 0, 1)




UNIFORM_UNIT_PRECISION = math.sqrt(12.0)   # 1 / sd of a uniform prior over [0, 1]


def _conditional(jac: np.ndarray, r0: np.ndarray, u: np.ndarray, i: int, target: float,
                 uniform: Sequence[bool] | None = None) -> np.ndarray:
    """Unit coordinates with parameter ``i`` at ``target`` and the others at the linearised
    minimiser of the full (data + prior) residual.

    A parameter with no Gaussian prior (``uniform``) is held by its bounds' prior, a uniform one
    of sd 1/sqrt(12) in unit coordinates, as in the Laplace approximation. Without that row a
    Jacobian column made only of Monte Carlo noise (a parameter the figures do not see, e.g.
    the 2024 academy point in a fit up to 2021) reads as a lever of any strength, and the
    least-squares step throws such parameters to their bounds: the profile then measures the
    throw, not the data.
    """
    if target == u[i]:
        return u.copy()
    d_i = target - u[i]
    others = [k for k in range(len(u)) if k != i]
    x = u.copy()
    x[i] = target
    if others:
        held = [k for k in others if uniform is not None and uniform[k]]
        damping = np.zeros((len(held), len(others)))
        for row, k in enumerate(held):
            damping[row, others.index(k)] = UNIFORM_UNIT_PRECISION
        a = np.vstack([jac[:, others], damping])
        b = np.concatenate([-(r0 + jac[:, i] * d_i), np.zeros(len(held))])
        delta, *_ = np.linalg.lstsq(a, b, rcond=None)
        x[others] = np.clip(u[others] + delta, 0, 1)
    return x


def prior_sd(p: FreeParameter) -> float:
    """The prior's sd: the Gaussian one, or that of a uniform prior over the bounds."""
    return p.prior.sd if p.prior else p.span / math.sqrt(12)


def profile_grid(p: FreeParameter, best: float, points: int) -> np.ndarray:
    """``points`` values evenly from 2 prior sds below the fit to 2 above, clipped to the bounds
    (the fit itself among them when ``points`` is odd): the range the prior calls plausible,
    over which a flat profile means the prior decides."""
    grid = best + np.linspace(-2, 2, points) * prior_sd(p)
    return np.unique(np.concatenate([np.clip(grid, p.lo, p.hi), [best]]))


def profiles(obj: AgencyObjective, u: np.ndarray, jac: np.ndarray, points: int
             ) -> list[Profile]:
    """Simulated one-step profiles of the data misfit around the fit, one per parameter."""
    r0 = obj.residuals(u)
    uniform = [p.prior is None for p in obj.params]
    plan = []
    for i, p in enumerate(obj.params):
        for value in profile_grid(p, p.from_unit(u[i]), points):
            plan.append((i, value, _conditional(jac, r0, u, i, p.to_unit(value), uniform)))
    means = obj.means([obj.values(x) for _, _, x in plan])
    out = []
    for i, p in enumerate(obj.params):
        rows = [(v, m) for (k, v, _), m in zip(plan, means) if k == i]
        chi2 = np.array([np.sum(obj.data_residuals(m) ** 2) for _, m in rows])
        out.append(Profile(p.name, np.array([v for v, _ in rows]), chi2))
    return out



# -- the posterior in unbounded coordinates -----------------------------------------------------

EDGE = 1e-4          # a fit on a bound is moved at least this fraction of the range inside
INWARD = math.sqrt(2 / math.pi)   # ... and this many sds (a half-normal's mean)


def to_unbounded(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """logit((x - lo) / (hi - lo)): a bounded parameter on the whole real line."""
    q = np.clip((np.asarray(x, float) - lo) / (hi - lo), EDGE, 1 - EDGE)
    return np.log(q) - np.log1p(-q)


def from_unbounded(u: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_unbounded`: always strictly inside the bounds."""
    return lo + (hi - lo) * expit(np.asarray(u, float))


def expit(u: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-u))`` element by element, computed as ``scipy.special.expit`` computes
    it (the C library's ``exp``, then one division), so every draw keeps its last bit: every
    ``run`` draws parameters, and importing scipy.special for this took a quarter of a second.
    The arrays are a few parameters per draw."""
    u = np.asarray(u, float)
    return np.array([_expit(v) for v in u.ravel().tolist()], float).reshape(u.shape)


def _expit(v: float) -> float:
    try:
        return 1.0 / (1.0 + math.exp(-v))
    except OverflowError:       # exp(-v) beyond the largest double: 1 / inf
        return 0.0


@dataclass(frozen=True)
class Posterior:
    """One agency's approximate posterior as a normal in logit coordinates.

    The Laplace covariance in the parameters' own units is carried over by the delta method
    (``J C J'``, ``J = d logit / dx`` at the fit), so a draw mapped back lies strictly inside
    the bounds: where the normal in the original units would put mass beyond a bound (and
    clipping would pile it on the bound), the logit-normal thins out towards it instead. To
    first order around the fit the two agree.
    """

    names: tuple[str, ...]
    lo: np.ndarray
    hi: np.ndarray
    center: np.ndarray           # logit coordinates
    cov: np.ndarray              # logit coordinates

    @classmethod
    def of(cls, fit: AgencyFit) -> "Posterior":
        lo = np.array([p.lo for p in fit.parameters], float)
        hi = np.array([p.hi for p in fit.parameters], float)
        return cls.normal(tuple(p.name for p in fit.parameters), lo, hi,
                          np.asarray(fit.values, float), np.asarray(fit.cov, float))

    @classmethod
    def normal(cls, names: tuple[str, ...], lo: np.ndarray, hi: np.ndarray, x: np.ndarray,
               cov: np.ndarray) -> "Posterior":
        """The logit-normal matching a normal (``x``, ``cov``) in the parameters' units.

        The delta method is taken at ``x`` moved inside the bounds by ``INWARD`` standard
        deviations where the fit lies closer than that to a bound (the mean of a normal
        truncated at its centre lies 0.8 sd inside). Taken at the bound itself it would blow
        the logit sd up (``1 / EDGE`` times) and throw the draws onto both bounds.
        """
        span = hi - lo
        sd = np.sqrt(np.clip(np.diag(cov), 0, None))
        margin = np.minimum(np.maximum(INWARD * sd, EDGE * span), 0.25 * span)
        x = np.clip(x, lo + margin, hi - margin)
        jac = span / ((x - lo) * (hi - x))
        return cls(names, lo, hi, to_unbounded(x, lo, hi), cov * np.outer(jac, jac))

    def original(self) -> tuple[np.ndarray, np.ndarray]:
        """The expansion point and covariance in the parameters' own units."""
        x = from_unbounded(self.center, self.lo, self.hi)
        jac = (self.hi - self.lo) / ((x - self.lo) * (self.hi - x))
        return x, self.cov / np.outer(jac, jac)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` parameter vectors (rows), in the parameters' own units."""
        u = rng.multivariate_normal(self.center, self.cov, size=n, method="eigh")
        return from_unbounded(u, self.lo, self.hi)

    def dump(self) -> dict[str, object]:
        return {"names": list(self.names), "lo": self.lo.tolist(), "hi": self.hi.tolist(),
                "center": self.center.tolist(), "cov": self.cov.tolist()}

    @classmethod
    def load(cls, data: dict[str, object]) -> "Posterior":
        """A dumped posterior; one written with the delta method at a bound (before
        ``INWARD``) is re-expanded inside the bounds, so its draws do not pile on them."""
        post = cls(tuple(data["names"]), *(np.array(data[k], float)  # type: ignore[arg-type]
                                           for k in ("lo", "hi", "center", "cov")))
        x, cov = post.original()
        return cls.normal(post.names, post.lo, post.hi, x, cov)


def draw_parameters(fits: Sequence[AgencyFit], n: int, seed: int) -> list[dict[str, float]]:
    """``n`` parameter sets from the approximate posterior (:class:`Posterior`), each agency
    independently. The draws use their own stream (not the model's), keyed by ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xCA1,)))
    out: list[dict[str, float]] = [{} for _ in range(n)]
    for fit in fits:
        if not len(fit.values):
            continue
        post = Posterior.of(fit)
        z = post.draw(rng, n)
        for i in range(n):
            out[i].update({name: float(v) for name, v in zip(post.names, z[i])})
    return out
