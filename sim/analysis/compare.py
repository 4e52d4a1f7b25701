"""Comparing scenarios with common random numbers: paired differences, not two noisy forecasts.

Replication ``r`` of a scenario draws every random number from streams keyed by
``(seed, r, agency, process)``. Run two scenarios with the same seed and the same replication
indices and replication ``r`` of each meets the same people, the same draft lotteries and the
same attrition clocks wherever the levers leave them alone: the difference between the two
replications ``r`` is the lever's effect plus far less noise than the difference of two
independent forecasts. So a comparison

1. puts every scenario on one seed and one set of replications (the first scenario's, or
   ``--seed``/``--replications``), saying so when a scenario file stated another;
2. takes differences replication by replication (:func:`paired_differences`): per year and
   series, the mean difference in women's share with its 90% confidence interval, and the
   spread of the paired differences (their 5th-95th percentiles);
3. holds every scenario to the targets (:func:`target_effects`): the paired change in the share
   in the target year, in the probability of meeting the target, and the years gained or lost
   before the median forecast reaches it (with a paired bootstrap interval).

The first scenario is the reference every other one is compared with.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import polars as pl

from sim.analysis.attainment import meets, prob_meet, probability
from sim.analysis.intervals import Z90
from sim.scenario.schema import Scenario
from sim.scenario.targets import UnTarget

BOOTSTRAP = 400      # paired resamples for the years-gained interval


@dataclass(frozen=True)
class Pairing:
    """The scenarios as they will run: one seed, one set of replications, unique labels."""

    scenarios: tuple[Scenario, ...]
    labels: tuple[str, ...]
    seed: int
    replications: int
    notes: tuple[str, ...]


def pair(scenarios: Sequence[Scenario], seed: int | None = None,
         replications: int | None = None) -> Pairing:
    """Put every scenario on the same seed and replications so that their runs are paired."""
    first = scenarios[0]
    notes = []
    for s in scenarios[1:]:
        if seed is None and s.seed != first.seed:
            notes.append(f"{s.name} states seed {s.seed}; it runs with {first.name}'s seed "
                         f"{first.seed} so that its replications are paired with the others'.")
        if replications is None and s.replications != first.replications:
            notes.append(f"{s.name} states {s.replications} replications; every scenario runs "
                         f"{first.name}'s {first.replications}.")
    seed = first.seed if seed is None else seed
    replications = first.replications if replications is None else replications
    if len({s.start_year for s in scenarios}) > 1:
        notes.append("The scenarios start in different years: their people differ from the "
                     "start, so the pairing removes less noise.")
    paired = tuple(s.model_copy(update={"seed": seed, "replications": replications})
                   for s in scenarios)
    return Pairing(paired, unique_labels([s.name for s in scenarios]), seed, replications,
                   tuple(notes))


def unique_labels(names: Sequence[str]) -> tuple[str, ...]:
    """Scenario names, with ``(2)``, ``(3)``... added where two are the same; the suffix
    skips any label already taken (``a``, ``a``, ``a (2)`` gives ``a``, ``a (3)``,
    ``a (2)``), so no scenario's results overwrite another's."""
    taken = set(names)
    used: set[str] = set()
    out = []
    for n in names:
        label, k = n, 1
        while label in used or (label != n and label in taken):
            k += 1
            label = f"{n} ({k})"
        used.add(label)
        out.append(label)
    return tuple(out)


def common_years(runs: Mapping[str, pl.DataFrame]) -> list[int]:
    years = None
    for frame in runs.values():
        ys = set(frame["year"].unique().to_list())
        years = ys if years is None else years & ys
    return sorted(years or ())


# -- paired differences --------------------------------------------------------------------------


def paired_frame(reference: pl.DataFrame, other: pl.DataFrame) -> pl.DataFrame:
    """Replication by replication: both shares and their difference, where both are defined."""
    keys = ["replication", "year", "series"]
    ref = reference.select(*keys, "measure", pl.col("share").alias("share_ref"),
                           pl.col("women").alias("women_ref"), pl.col("total").alias("total_ref"))
    oth = other.select(*keys, pl.col("share").alias("share_oth"),
                       pl.col("women").alias("women_oth"), pl.col("total").alias("total_oth"))
    return (ref.join(oth, on=keys, how="inner")
            .with_columns((pl.col("share_oth") - pl.col("share_ref")).alias("diff")))


def paired_differences(runs: Mapping[str, pl.DataFrame], reference: str) -> pl.DataFrame:
    """Per scenario (other than the reference), year and series: the paired difference in
    women's share, scenario minus reference.

    ``diff_mean`` with ``diff_mean_lo``/``diff_mean_hi``: the mean effect and its 90% confidence
    interval (± 1.645 standard errors of the paired mean); ``diff_p05``..``diff_p95``: how the
    difference spreads over the pairs; ``prob_higher``/``prob_lower``: the share of pairs in
    which the scenario's share is above/below the reference's.
    """
    frames = []
    for label, frame in runs.items():
        if label == reference:
            continue
        p = paired_frame(runs[reference], frame).drop_nulls("diff")
        d = pl.col("diff")
        agg = (p.group_by("year", "series", "measure")
               .agg(d.count().alias("n_pairs"),
                    pl.col("share_ref").mean().alias("share_mean_reference"),
                    pl.col("share_oth").mean().alias("share_mean_scenario"),
                    d.mean().alias("diff_mean"), (d.std() / d.count().sqrt()).alias("diff_se"),
                    *(d.quantile(q, "linear").alias(f"diff_p{round(100 * q):02d}")
                      for q in (0.05, 0.25, 0.5, 0.75, 0.95)),
                    (d > 0).mean().alias("prob_higher"), (d < 0).mean().alias("prob_lower"),
                    (pl.col("women_oth") - pl.col("women_ref")).mean().alias("women_diff_mean"),
                    (pl.col("total_oth") - pl.col("total_ref")).mean().alias("total_diff_mean")))
        frames.append(agg.with_columns(
            pl.lit(label).alias("scenario"), pl.lit(reference).alias("reference"),
            (pl.col("diff_mean") - Z90 * pl.col("diff_se").fill_null(0)).alias("diff_mean_lo"),
            (pl.col("diff_mean") + Z90 * pl.col("diff_se").fill_null(0)).alias("diff_mean_hi")))
    columns = ["scenario", "reference", "year", "series", "measure", "n_pairs",
               "share_mean_reference", "share_mean_scenario", "diff_mean", "diff_se",
               "diff_mean_lo", "diff_mean_hi", "diff_p05", "diff_p25", "diff_p50", "diff_p75",
               "diff_p95", "prob_higher", "prob_lower", "women_diff_mean", "total_diff_mean"]
    return pl.concat(frames).select(columns).sort("scenario", "series", "year")


# -- targets -------------------------------------------------------------------------------------


def share_matrix(runs: pl.DataFrame, series: str, years: Sequence[int],
                 replications: Sequence[int]) -> np.ndarray:
    """``[replication, year]`` shares of one series (NaN where the group is empty)."""
    frame = (runs.filter(pl.col("series") == series)
             .select("replication", "year", "share")
             .pivot(on="year", index="replication", values="share")
             .sort("replication"))
    out = np.full((len(replications), len(years)), np.nan)
    index = {r: i for i, r in enumerate(frame["replication"].to_list())}
    rows = [index[r] for r in replications]
    for j, y in enumerate(years):
        if str(y) in frame.columns:
            col = frame[str(y)].cast(pl.Float64).fill_null(float("nan")).to_numpy()
            out[:, j] = col[rows]
    return out


def first_year(medians: np.ndarray, years: Sequence[int], target: float) -> np.ndarray:
    """First year each row of medians reaches the target; ``horizon + 1`` if none does."""
    reached = np.nan_to_num(medians, nan=-1.0) >= target
    idx = np.where(reached.any(axis=-1), reached.argmax(axis=-1), len(years))
    return np.asarray(list(years) + [years[-1] + 1])[idx]


def years_gained(ref: np.ndarray, other: np.ndarray, years: Sequence[int], target: float,
                 seed: int) -> tuple[int, int, float, float]:
    """First year the median reaches the target, for reference and scenario, and the paired
    bootstrap 90% interval of the difference (reference year minus scenario year: positive =
    the scenario gets there earlier). Not reaching it counts as the year after the horizon."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xB007,)))
    idx = rng.integers(0, ref.shape[0], size=(BOOTSTRAP, ref.shape[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # years nobody is in the group: NaN
        first_ref = int(first_year(np.nanmedian(ref, axis=0), years, target))
        first_oth = int(first_year(np.nanmedian(other, axis=0), years, target))
        boot_ref = first_year(np.nanmedian(ref[idx], axis=1), years, target)
        boot_oth = first_year(np.nanmedian(other[idx], axis=1), years, target)
    gain = boot_ref - boot_oth
    # Whole years, widened outward rather than interpolated (a gain of -0.25 years means nothing).
    return (first_ref, first_oth, float(np.percentile(gain, 5, method="lower")),
            float(np.percentile(gain, 95, method="higher")))


def target_effects(runs: Mapping[str, pl.DataFrame], reference: str,
                   targets: Sequence[UnTarget], horizon: int, seed: int) -> pl.DataFrame:
    """Per scenario (other than the reference) and modelled target within the horizon: the
    paired effect on the share in the target year, on the probability of meeting it, and on
    the year the median forecast first reaches it."""
    years = common_years(runs)
    reps = sorted(runs[reference]["replication"].unique().to_list())
    rows = []
    for t in targets:
        if t.series is None or t.year > horizon or t.year not in years:
            continue
        ref = share_matrix(runs[reference], t.series, years, reps)
        j = years.index(t.year)
        for label, frame in runs.items():
            if label == reference:
                continue
            oth = share_matrix(frame, t.series, years, reps)
            rows.append({"scenario": label, "reference": reference, "target_id": t.target_id,
                         "series": t.series, "year": t.year, "target": t.target,
                         "status": t.status,
                         **_share_effect(ref[:, j], oth[:, j]),
                         **_meet_effect(ref[:, j], oth[:, j], t.target),
                         **_gain(ref, oth, years, t.target, seed),
                         "sign_holds": sign_holds(oth[:, j] - ref[:, j])})
    return pl.DataFrame(rows, schema=EFFECT_SCHEMA)


EFFECT_SCHEMA = {
    "scenario": pl.Utf8, "reference": pl.Utf8, "target_id": pl.Utf8, "series": pl.Utf8,
    "year": pl.Int64, "target": pl.Float64, "status": pl.Utf8, "n_pairs": pl.Int64,
    "diff_mean": pl.Float64, "diff_mean_lo": pl.Float64, "diff_mean_hi": pl.Float64,
    "diff_p05": pl.Float64, "diff_p95": pl.Float64,
    "prob_meet_reference": pl.Float64, "prob_meet_scenario": pl.Float64,
    "prob_meet_diff": pl.Float64, "prob_meet_diff_lo": pl.Float64,
    "prob_meet_diff_hi": pl.Float64,
    "first_year_p50_reference": pl.Int64, "first_year_p50_scenario": pl.Int64,
    "years_gained": pl.Int64, "years_gained_p05": pl.Float64, "years_gained_p95": pl.Float64,
    "censored": pl.Boolean, "sign_holds": pl.Float64,
}

SIGN_HOLDS = 0.9     # the report flags an effect whose sign holds in at least this share


def sign_holds(d: np.ndarray) -> float | None:
    """The share of paired differences with the sign of their mean (a zero difference does
    not hold it); None when the mean is 0 or there are no pairs. With parameter draws each
    pair runs under its own draw, so this is the share of draws (and chances) in which the
    lever moves the share the way it does on average."""
    d = d[np.isfinite(d)]
    if not len(d) or d.mean() == 0:
        return None
    return float(np.mean(np.sign(d) == np.sign(d.mean())))


def _share_effect(ref: np.ndarray, oth: np.ndarray) -> dict[str, float | int | None]:
    ok = np.isfinite(ref) & np.isfinite(oth)
    d = oth[ok] - ref[ok]
    if not len(d):
        return {"n_pairs": 0, "diff_mean": None, "diff_mean_lo": None, "diff_mean_hi": None,
                "diff_p05": None, "diff_p95": None}
    se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else 0.0
    return {"n_pairs": int(len(d)), "diff_mean": float(d.mean()),
            "diff_mean_lo": float(d.mean() - Z90 * se), "diff_mean_hi": float(d.mean() + Z90 * se),
            "diff_p05": float(np.percentile(d, 5)), "diff_p95": float(np.percentile(d, 95))}


def _meet_effect(ref: np.ndarray, oth: np.ndarray, target: float) -> dict[str, float | None]:
    """Paired change in the probability of meeting (the rule of :mod:`sim.analysis.attainment`:
    a replication whose group is empty is left out): each scenario's probability over its own
    defined replications; the change as the mean of the indicator differences over the
    replications defined in both, ± Z90 standard errors of that paired mean."""
    a, b = meets(ref, target), meets(oth, target)
    both = np.isfinite(a) & np.isfinite(b)
    d = b[both] - a[both]
    se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else 0.0
    mean = float(d.mean()) if len(d) else None
    return {"prob_meet_reference": probability(*prob_meet(ref, target)),
            "prob_meet_scenario": probability(*prob_meet(oth, target)),
            "prob_meet_diff": mean,
            "prob_meet_diff_lo": mean - Z90 * se if mean is not None else None,
            "prob_meet_diff_hi": mean + Z90 * se if mean is not None else None}


def _gain(ref: np.ndarray, oth: np.ndarray, years: Sequence[int], target: float,
          seed: int) -> dict[str, object]:
    first_ref, first_oth, lo, hi = years_gained(ref, oth, years, target, seed)
    last = years[-1]
    censored = first_ref > last or first_oth > last
    both_never = first_ref > last and first_oth > last
    return {"first_year_p50_reference": first_ref if first_ref <= last else None,
            "first_year_p50_scenario": first_oth if first_oth <= last else None,
            "years_gained": None if both_never else first_ref - first_oth,
            "years_gained_p05": lo, "years_gained_p95": hi, "censored": censored}
