"""Parameter draws: each replication's own parameter set, so a forecast carries what the
calibration leaves uncertain and what the stated assumptions leave open, not only chance.

Why. With the calibrated parameters held at their fitted point, every interval and every
P(met) is the spread of chance alone (who joins, leaves, is drawn), yet many calibrated
parameters are not pinned down by the plan's figures, and several inputs are stated assumptions
with a plausible range (men's volunteering, the reform's behavioural effect...). So, by
default, replication ``r`` runs with a parameter set drawn for it:

- **calibrated parameters** from the calibration's approximate posterior
  (``[meta.posterior.<agency>]`` of the fitted file, a logit-normal per agency:
  :class:`~sim.analysis.calibration.posterior.Posterior`, strictly inside the bounds), placed
  into scenario keys as the calibration places them (the config named by ``[meta] config``);
- **stated assumptions**: every schema field with a ``plausible`` range, uniform on that range.
  A dated lever's range is the range of its last point's value; its shape is rescaled,
  ``p' = first + (p - first) * (v - first) / (last - first)`` (a constant becomes ``v``).

A value the scenario sets itself is a lever the user chose and is never drawn: a drawn value
replaces only the layer beneath the scenario (the fitted file, or the schema default), and the
scenario's own changes are layered on top again -- a plain value replaces the draw entirely, a
dated change ``[[2026-01-01, v]]`` keeps the drawn value before 2026.

Draws are paired: replication ``r`` uses draw ``r // 2``, so two replications share each draw
and the variance of a result splits into parameters and chance (law of total variance,
:mod:`sim.analysis.uncertainty`). A draw comes from its own stream,
``SeedSequence(seed, spawn_key=(draw, 0xD4A))``, independent of the model's streams
``(seed, (r, agency, process))``: results do not depend on the number of workers or the
backend, and the draw depends only on the seed, the replication and the fitted file (not on
a scenario's levers), so ``compare`` evaluates every scenario's replication ``r`` under the
same parameters.

This module lives in ``sim.analysis`` (not ``sim.runs``) because it reads the calibration's
posterior and placements (``sim.analysis.calibration``), which ``sim.runs`` may not import;
the runs layer receives the drawn scenarios, one per replication.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import polars as pl
from pydantic import BaseModel, ValidationError

from sim.analysis.calibration.config import AGENCY_ORDER, Config, load_config, placement
from sim.analysis.calibration.posterior import Posterior
from sim.scenario import loading
from sim.scenario.dated import Dated, Point, layer
from sim.scenario.loading import Fitted, InputError, input_error, leaves, read_toml
from sim.scenario.schema import Scenario

STREAM = 0xD4A            # the draws' spawn-key tag (the model's streams use (r, agency, i))
PER_DRAW = 2              # replications sharing one draw (for the variance split)


def draw_of(replication: int) -> int:
    """The draw replication ``r`` runs under."""
    return replication // PER_DRAW


@dataclass(frozen=True)
class Assumption:
    """A schema field with a plausible range: drawn uniform on it where the scenario keeps
    the default."""

    key: str
    lo: float
    hi: float
    default: Dated | float


def assumptions() -> tuple[Assumption, ...]:
    """Every field of the schema that declares a ``plausible`` range, in schema order."""
    out: list[Assumption] = []

    def walk(instance: BaseModel, prefix: str) -> None:
        for name, info in type(instance).model_fields.items():
            value = getattr(instance, name)
            if isinstance(value, BaseModel):
                walk(value, f"{prefix}{name}.")
                continue
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            if "plausible" in extra:
                lo, hi = extra["plausible"]   # type: ignore[misc,str-unpack]
                out.append(Assumption(prefix + name, float(lo),  # type: ignore[arg-type]
                                      float(hi), value))  # type: ignore[arg-type]

    walk(Scenario(name="defaults"), "")
    return tuple(out)


def rescaled(default: Dated | float, v: float) -> Dated | float:
    """The default with its last value moved to ``v``, its shape kept (see the module)."""
    if not isinstance(default, Dated):
        return v
    pts = default.points
    first, last = pts[0].value, pts[-1].value
    if first is None or last is None:
        return default
    if len(pts) == 1:
        return Dated.constant(v)
    if last == first:
        new = [Point(p.month, None if p.value is None else p.value + (v - last), p.linear)
               for p in pts]
    else:
        k = (v - first) / (last - first)
        new = [Point(p.month, None if p.value is None else first + (p.value - first) * k,
                     p.linear) for p in pts]
    return Dated(tuple(new))


def _get(instance: Any, key: str) -> Any:
    for part in key.split("."):
        instance = getattr(instance, part)
    return instance


def _set(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    for part in parts[:-1]:
        tree = tree[part]
    tree[parts[-1]] = value


def _as_dated(value: Any) -> Dated:
    return value if isinstance(value, Dated) else Dated.constant(value)


def combined(own: Any, base: Any, drawn: Any) -> Any:
    """The scenario's value ``own`` with ``drawn`` in place of ``base``, the layer beneath it:
    ``drawn`` where the scenario keeps the base, the scenario's own changes layered over the
    draw from their first date, the scenario's value where it replaces the base outright."""
    if own == base:
        return drawn
    if not (isinstance(own, Dated) or isinstance(base, Dated) or isinstance(drawn, Dated)):
        return own
    o, b = _as_dated(own), _as_dated(base)
    changes = [p for p in o.points if p not in b.points and p.value != b.at(p.month)]
    if not changes or changes[0].month == float("-inf"):
        return own
    start = changes[0].month
    tail = Dated(tuple(p for p in o.points if p.month >= start))
    return layer(_as_dated(drawn), tail)


@dataclass
class ParameterDraws:
    """Where a scenario's draws come from: the posterior per agency (if the fitted file has
    one), the calibration config placing it, and the stated assumptions."""

    fitted_file: Path | None
    fitted_values: dict[str, Any]            # the fitted layer (nested scenario fragment)
    config: Config | None
    posteriors: dict[str, Posterior]
    placement_base: dict[str, Any]           # the config's own scenario ("base" references)
    assumed: tuple[Assumption, ...]
    notes: list[str] = field(default_factory=list)
    _beneath: Scenario | None = None
    # Keys the scenario's own files state: not drawn even where the value stated is the one
    # beneath (a user who writes the default pins it). See :func:`pinned_keys`.
    pinned: frozenset[str] = frozenset()

    def with_pinned(self, keys: Iterable[str]) -> "ParameterDraws":
        """The same draws for a scenario whose files state ``keys``."""
        return replace(self, pinned=frozenset(keys), notes=list(self.notes))

    @classmethod
    def load(cls, fitted: Fitted | Path | str | None) -> "ParameterDraws":
        """Read the fitted file's ``[meta.posterior]`` and its config; a malformed posterior
        is an InputError naming the fitted file and the key."""
        if isinstance(fitted, (str, Path)):
            fitted = loading.read_fitted(Path(fitted))
        if fitted is None or fitted.file is None:
            return cls(None, {}, None, {}, {}, assumptions(),
                       ["no calibration file: only the stated assumptions are drawn"])
        path = fitted.file
        raw = read_toml(path)
        meta = raw.get("meta", {})
        if not isinstance(meta, dict):
            raise InputError(path, "meta", "must be a table")
        post_raw = meta.get("posterior")
        if post_raw is None:
            return cls(path, fitted.values, None, {}, {}, assumptions(),
                       [f"{path.name} has no [meta.posterior] (an older calibration): the "
                        "calibrated parameters stay at their fitted values; only the stated "
                        "assumptions are drawn"])
        if not isinstance(post_raw, dict):
            raise InputError(path, "meta.posterior", "must be a table of agencies")
        ref = meta.get("config")
        if not isinstance(ref, str) or not ref:
            raise InputError(path, "meta.config", "must name the calibration config (a file "
                             "name relative to the fitted file) to place the posterior's draws")
        cfg_path = path.parent / ref
        if not cfg_path.is_file():
            raise InputError(path, "meta.config", f"no such file: {ref}")
        cfg = load_config(cfg_path, check=False)   # apply() validates each drawn scenario
        known = {p.name: p for p in cfg.parameters}
        posteriors = {}
        for agency, data in post_raw.items():
            posteriors[agency] = _posterior(path, f"meta.posterior.{agency}", agency, data, known)
        base = loading.resolve(cfg.scenario, calibrated=False)
        return cls(path, fitted.values, cfg, posteriors, base, assumptions())

    # -- one draw --------------------------------------------------------------------------

    def values(self, seed: int, draw: int) -> dict[str, float]:
        """Draw ``draw``'s parameters: calibrated ones by name, assumptions by scenario key."""
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(draw, STREAM)))
        out: dict[str, float] = {}
        for agency in AGENCY_ORDER:
            post = self.posteriors.get(agency)
            if post is not None:
                out.update(zip(post.names, map(float, post.draw(rng, 1)[0])))
        for a in self.assumed:
            out[a.key] = float(rng.uniform(a.lo, a.hi))
        return out

    def overrides(self, values: Mapping[str, float]) -> dict[str, Any]:
        """Dotted scenario key -> drawn value (Dated or number), replacing the layer beneath
        the scenario's own values."""
        out: dict[str, Any] = {}
        if self.config is not None:
            for agency, post in self.posteriors.items():
                named = {n: values[n] for n in post.names}
                placed = placement(self.config, named, self.placement_base, agency)
                for key, value in leaves(placed):
                    default = _get(_DEFAULTS, key)
                    if isinstance(default, Dated):
                        value = layer(default, Dated.parse(value))
                    out[key] = value
        fitted_keys = {k for k, _ in leaves(self.fitted_values)}
        for a in self.assumed:
            if a.key not in fitted_keys:
                out[a.key] = rescaled(a.default, values[a.key])
        return out

    def base_value(self, key: str) -> Any:
        """What lies beneath a scenario at ``key``: the fitted value, else the default."""
        if self._beneath is None:
            data = loading.merge_layers([(self.fitted_file or Path("<defaults>"),
                                          self.fitted_values)])
            self._beneath = Scenario.model_validate({**data, "name": "beneath"})
        return _get(self._beneath, key)

    def apply(self, scenario: Scenario, replication: int, seed: int | None = None) -> Scenario:
        """The scenario with replication ``replication``'s draw in place of what lies beneath
        its own values (see the module); validated."""
        seed = scenario.seed if seed is None else seed
        drawn = self.overrides(self.values(seed, draw_of(replication)))
        data = scenario.model_dump(mode="python")
        for key, value in drawn.items():
            own = _get(scenario, key)
            base = self.base_value(key)
            new = own if key in self.pinned and own == base else combined(own, base, value)
            _set(data, key, new.dump() if isinstance(new, Dated) else new)
        try:
            return Scenario.model_validate(data)
        except ValidationError as err:
            problem = input_error(err, self.fitted_file or "<draws>")
            raise InputError(self.fitted_file or "<draws>", problem.key,
                             f"a parameter draw makes an invalid scenario (replication "
                             f"{replication}): {problem.problem}") from None

    def scenarios(self, scenario: Scenario, replications: Iterable[int]
                  ) -> "DrawnScenarios":
        """Each replication's scenario, made when it is asked for (a drawn scenario is
        hundreds of KB: a run of 1,000 holding them all would double the parent's memory)."""
        return DrawnScenarios(self, scenario, tuple(replications))

    def drawn_keys(self, scenario: Scenario) -> list[str]:
        """The scenario keys whose values the draws change (some of the time) for this
        scenario: those it does not replace with its own value."""
        drawn = self.overrides(self.values(scenario.seed, 0))
        out = []
        for key, value in drawn.items():
            own = _get(scenario, key)
            base = self.base_value(key)
            if key in self.pinned and own == base:
                continue
            if combined(own, base, value) is not own:
                out.append(key)
        return out

    def table(self, seed: int, replications: Iterable[int], scenario: Scenario | None = None
              ) -> "Any":
        """``parameters.parquet``: one row per replication and drawn parameter (``draw``,
        ``source``: calibrated / assumed, ``agency``). Assumptions the scenario sets itself
        are left out."""
        keep = set(self.drawn_keys(scenario)) if scenario is not None else None
        assumed = {a.key for a in self.assumed}
        agency = {n: a for a, post in self.posteriors.items() for n in post.names}
        rows: list[dict[str, Any]] = []
        for r in replications:
            values = self.values(seed, draw_of(r))
            for name, v in values.items():
                if name in assumed and keep is not None and name not in keep:
                    continue
                rows.append({"replication": r, "draw": draw_of(r), "parameter": name,
                             "value": v,
                             "source": "assumed" if name in assumed else "calibrated",
                             "agency": agency.get(name, name.split(".")[0])})
        return pl.DataFrame(rows, schema=PARAMETER_COLUMNS)

    def describe(self) -> str:
        """What is drawn, in one sentence for the report."""
        cal = (f"the calibrated parameters from the calibration's posterior "
               f"({sum(len(p.names) for p in self.posteriors.values())} parameters, "
               f"{self.fitted_file.name if self.fitted_file else ''})" if self.posteriors else
               "no calibrated parameter (the fitted file has no posterior: they stay at the "
               "fit)")
        return (f"Each pair of replications draws {cal} and the stated assumptions from their "
                f"plausible ranges ({len(self.assumed)} fields), unless the scenario sets them")


_DEFAULTS = Scenario(name="defaults")
PARAMETER_COLUMNS = {"replication": pl.Int32, "draw": pl.Int32, "parameter": pl.Utf8,
                     "value": pl.Float64, "source": pl.Utf8, "agency": pl.Utf8}


def pinned_keys(path: Path | str, scenario: Scenario) -> set[str]:
    """The keys a scenario's files state (its ``extends`` chain, not the fitted layer): a value
    the user chose is never drawn. A resolved scenario (an output folder's ``scenario.toml``)
    states every key; its run's pinned keys are the ones recorded in ``[meta.uncertainty]``."""
    recorded = scenario.meta.get("uncertainty") if isinstance(scenario.meta, dict) else None
    if isinstance(recorded, dict):
        pinned = recorded.get("pinned", [])
        return {k for k in pinned if isinstance(k, str)} if isinstance(pinned, list) else set()
    out: set[str] = set()
    for _, data in loading.scenario_layers(Path(path), calibrated=False):
        out |= {k for k, _ in leaves(data) if k not in ("name", "description", "meta")}
    return out


def _posterior(path: Path, key: str, agency: str, data: Any, known: Mapping[str, Any]
               ) -> Posterior:
    """One agency's posterior, checked: names of the config, shapes, finite numbers, bounds,
    a symmetric positive semi-definite covariance."""
    if agency not in AGENCY_ORDER:
        raise InputError(path, key, f"{agency!r} is not an agency "
                         f"(expected one of {', '.join(AGENCY_ORDER)})")
    if not isinstance(data, dict):
        raise InputError(path, key, "must be a table with names, lo, hi, center, cov")
    for k in ("names", "lo", "hi", "center", "cov"):
        if k not in data:
            raise InputError(path, f"{key}.{k}", "required key is missing")
    names = data["names"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise InputError(path, f"{key}.names", "must be a non-empty list of parameter names")
    n = len(names)
    for name in names:
        if name not in known:
            raise InputError(path, f"{key}.names", f"{name!r} is not a parameter of the "
                             "calibration config")
    arrays = {}
    for k in ("lo", "hi", "center"):
        try:
            a = np.array(data[k], dtype=float)
        except (TypeError, ValueError):
            raise InputError(path, f"{key}.{k}", "must be a list of numbers") from None
        if a.shape != (n,) or not np.all(np.isfinite(a)):
            raise InputError(path, f"{key}.{k}", f"must be {n} finite numbers, one per name")
        arrays[k] = a
    try:
        cov = np.array(data["cov"], dtype=float)
    except (TypeError, ValueError):
        raise InputError(path, f"{key}.cov", "must be a square table of numbers") from None
    if cov.shape != (n, n) or not np.all(np.isfinite(cov)):
        raise InputError(path, f"{key}.cov", f"must be {n} x {n} finite numbers")
    if not np.allclose(cov, cov.T, rtol=1e-8, atol=1e-12):
        raise InputError(path, f"{key}.cov", "must be symmetric")
    scale = max(1.0, float(np.max(np.abs(np.diag(cov)))))
    if np.min(np.linalg.eigvalsh(cov)) < -1e-8 * scale:
        raise InputError(path, f"{key}.cov", "must be positive semi-definite")
    if not np.all(arrays["lo"] < arrays["hi"]):
        raise InputError(path, f"{key}.lo", "each low bound must be below its high bound")
    missing = [p.name for p in known.values() if p.agency == agency and p.name not in names]
    if missing:
        raise InputError(path, f"{key}.names", f"misses {agency}'s parameter {missing[0]!r} "
                         "of the calibration config")
    for name, lo, hi in zip(names, arrays["lo"], arrays["hi"]):
        p = known[name]
        if not (math.isclose(lo, p.lo) and math.isclose(hi, p.hi)):
            raise InputError(path, f"{key}.lo", f"{name}: bounds [{lo:g}, {hi:g}] differ from "
                             f"the config's [{p.lo:g}, {p.hi:g}]")
    return Posterior.load({"names": names, "lo": arrays["lo"], "hi": arrays["hi"],
                           "center": arrays["center"], "cov": cov})


class DrawnScenarios(Mapping[int, Scenario]):
    """Replication -> its scenario under its parameter draw, made on each lookup."""

    def __init__(self, draws: ParameterDraws, scenario: Scenario, replications: tuple[int, ...]):
        self.draws, self.scenario, self.replications = draws, scenario, replications
        self._known = frozenset(replications)

    def __getitem__(self, replication: int) -> Scenario:
        if replication not in self._known:
            raise KeyError(replication)
        return self.draws.apply(self.scenario, replication)

    def __iter__(self) -> Iterator[int]:
        return iter(self.replications)

    def __len__(self) -> int:
        return len(self.replications)
