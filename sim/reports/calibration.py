"""What a calibration run shows: tables, the HTML report, the fitted file, the back-test table.

Everything here reads a :class:`sim.analysis.calibration.fit.Calibration` and computes nothing new
about the model, so the report, the CSV tables, ``fitted.toml`` and the back-test Markdown always
agree. Two kinds of 90% interval appear, and the tables say which is which:

- *process*: the fitted parameters, many replications: the noise of people and draws alone
  (what ``run`` on the fitted baseline shows);
- *predictive*: parameters drawn from the approximate posterior, one replication each: process
  noise plus parameter uncertainty. The back-test is judged on this one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
import tomli_w
from pydantic import BaseModel

from sim import __version__
from sim.analysis.calibration.fit import Calibration
from sim.analysis.calibration.posterior import PROFILE_LEVEL, AgencyFit, Posterior
from sim.analysis.calibration.config import REFERENCE_RE, FreeParameter
from sim.model.series import BY_ID
from sim.runs.provenance import library_versions
from sim.analysis.intervals import Z90
from sim.reports.style import pct
from sim.reports.page import Page
from sim.scenario.schema import Scenario

METHOD = ("weighted least squares of simulated mean shares (scipy.optimize.least_squares, "
          "trust-region reflective, bounds), common random numbers, each agency separately")
UNCERTAINTY = ("Laplace approximation (Gauss-Newton: posterior covariance from the Jacobian at "
               "the fit, priors and bounds included); one-step profiles of the data misfit "
               "(other parameters at their linearised conditional optimum, then simulated)")
WEAK_DATA_WEIGHT = 0.5   # the data narrowed the prior's variance by less than half


# -- small pieces --------------------------------------------------------------------------


def num(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def interval(draws: np.ndarray) -> tuple[float, float, float]:
    """5th, 50th and 95th percentile, ignoring replications where the group is empty."""
    x = draws[np.isfinite(draws)]
    if not len(x):
        return (math.nan,) * 3
    lo, mid, hi = np.percentile(x, [5, 50, 95])
    return float(lo), float(mid), float(hi)


def provenance(key: str) -> str:
    """The schema's provenance of a scenario key (``source`` of its field)."""
    model: Any = Scenario
    info = None
    for part in key.split("."):
        info = model.model_fields[part]
        ann = info.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return str((info.json_schema_extra or {}).get("source", "")) if info else ""


def placements(cal: Calibration, p: FreeParameter) -> list[tuple[str, str]]:
    """(scenario key, where in it) for every place the parameter is written."""
    out = [(k, "value") for k in p.keys]
    for key, template in cal.cfg.levers.items():
        for point in _points(template):
            m = REFERENCE_RE.match(str(point[1]))
            if m and m.group(1) == p.name:
                out.append((key, f"point {point[0]}" + (" (linear ramp)" if isinstance(
                    template, dict) else "")))
    return out


def _points(template: Any) -> list[list[Any]]:
    if isinstance(template, dict):
        template = template.get("linear", [])
    return [pt for pt in template if isinstance(pt, list)]


# -- tables ----------------------------------------------------------------------------------


def residual_frame(cal: Calibration) -> pl.DataFrame:
    """One row per fitted figure: observed, simulated, weight, residual, inside the intervals."""
    rows = []
    for f in cal.fitted_figures:
        fit = next(x for x in cal.fits if f in x.figures)
        k = fit.figures.index(f)
        lo, mid, hi = interval(cal.process.at(f))
        plo, _, phi = interval(cal.predictive.at(f))
        size = cal.process.size(f)
        rows.append({
            "series": f.series, "year": f.year, "measure": f.measure, "observed": f.value,
            "precision": f.precision, "fit_mean": float(fit.simulated[k]),
            "sigma": float(fit.sigma[k]), "z": float((fit.simulated[k] - f.value) / fit.sigma[k]),
            "p05": lo, "p50": mid, "p95": hi, "inside_process": bool(lo <= f.value <= hi),
            "predictive_p05": plo, "predictive_p95": phi,
            "inside_predictive": bool(plo <= f.value <= phi),
            "observed_count": f.count, "model_size": size,
            "count_mismatch": bool(f.count is not None and abs(size - f.count) > 0.25 * f.count),
        })
    return pl.DataFrame(rows)


def parameter_frame(cal: Calibration) -> pl.DataFrame:
    rows = []
    for fit in cal.fits:
        weights = fit.data_weight()
        for i, p in enumerate(fit.parameters):
            v, sd = float(fit.values[i]), float(fit.sd[i])
            prof = next((x for x in fit.profiles if x.parameter == p.name), None)
            lo_p, hi_p = prof.interval() if prof else (math.nan, math.nan)
            flat_by = flat_criteria(prof.flat if prof else False, float(weights[i]))
            flat = bool(flat_by)
            rows.append({
                "parameter": p.name, "agency": p.agency,
                "placed": "; ".join(f"{k} ({w})" for k, w in placements(cal, p)),
                "provenance": provenance(placements(cal, p)[0][0]),
                "low": p.lo, "high": p.hi, "start": p.start,
                "prior_mean": p.prior.mean if p.prior else None,
                "prior_sd": p.prior.sd if p.prior else None,
                "value": v, "sd": sd, "p05": max(p.lo, v - Z90 * sd),
                "p95": min(p.hi, v + Z90 * sd), "profile_low": lo_p, "profile_high": hi_p,
                "data_weight": float(weights[i]), "flat": flat, "flat_by": flat_by,
                "held_by": (p.prior.why if p.prior else "its bounds (uniform prior)")
                if flat else "",
            })
    return pl.DataFrame(rows)


def flat_criteria(profile_flat: bool, data_weight: float) -> str:
    """Which of the two signs says the data cannot pin a parameter down ('' if neither).

    The simulated profile sees the misfit's real shape but carries Monte Carlo noise (a noisy
    grid can look steep); the Laplace data weight is smooth but linear. A parameter either one
    calls weakly determined is reported as resting on its assumption: the cautious reading.
    """
    signs = (["profile"] if profile_flat else []) + \
        ([f"data weight < {WEAK_DATA_WEIGHT}"] if data_weight < WEAK_DATA_WEIGHT else [])
    return " and ".join(signs)


def backtest_frame(cal: Calibration) -> pl.DataFrame:
    """Held-out figures: forecast error and whether each is inside the 90% intervals."""
    rows = []
    for f in cal.held_out:
        plo, pmid, phi = interval(cal.predictive.at(f))
        lo, _, hi = interval(cal.process.at(f))
        rows.append({"series": f.series, "year": f.year, "observed": f.value,
                     "forecast_p50": pmid, "error": pmid - f.value, "p05": plo, "p95": phi,
                     "inside": bool(plo <= f.value <= phi), "process_p05": lo,
                     "process_p95": hi, "inside_process": bool(lo <= f.value <= hi)})
    return pl.DataFrame(rows, schema={"series": pl.Utf8, "year": pl.Int64, "observed": pl.Float64,
                                      "forecast_p50": pl.Float64, "error": pl.Float64,
                                      "p05": pl.Float64, "p95": pl.Float64, "inside": pl.Boolean,
                                      "process_p05": pl.Float64, "process_p95": pl.Float64,
                                      "inside_process": pl.Boolean})


def inertia_frame(cal: Calibration) -> pl.DataFrame:
    """Yearly change of the Armed Forces' military share, per year, beside DOMAIN.md's range."""
    share = cal.process.share("armed_forces.military")
    change = np.diff(share, axis=1)
    low, high, _ = cal.cfg.inertia
    rows = []
    for i, year in enumerate(cal.process.years[1:]):
        lo, mid, hi = interval(change[:, i])
        rows.append({"year": int(year), "share_p50": float(np.nanmedian(share[:, i + 1])),
                     "change_p50": mid, "change_p05": lo, "change_p95": hi,
                     "within_range": bool(low <= mid <= high)})
    return pl.DataFrame(rows)


def profile_frame(cal: Calibration) -> pl.DataFrame:
    rows = [{"parameter": pr.parameter, "value": float(v), "chi2_data": float(c),
             "delta": float(d)} for fit in cal.fits for pr in fit.profiles
            for v, c, d in zip(pr.values, pr.chi2_data, pr.delta)]
    return pl.DataFrame(rows, schema={"parameter": pl.Utf8, "value": pl.Float64,
                                      "chi2_data": pl.Float64, "delta": pl.Float64})


# -- fitted.toml and the back-test Markdown ---------------------------------------------------


def fitted_toml(cal: Calibration) -> str:
    params = parameter_frame(cal)
    estimates = {r["parameter"]: {k: r[k] for k in ("value", "sd", "p05", "p95", "data_weight",
                                                    "flat")} for r in params.iter_rows(named=True)}
    meta = {
        "method": METHOD, "uncertainty": UNCERTAINTY, "objective": cal.objective,
        "chi2_data": cal.chi2_data, "figures_fitted": len(cal.fitted_figures),
        "date": cal.date, "package_version": __version__,
        "until": cal.until if cal.until is not None else "all figures",
        "mode": cal.mode_name, "replications_per_evaluation": cal.mode.replications,
        "seed": cal.seed, "config": cal.cfg.path.name,
        "observed": [{"series": f.series, "year": f.year, "measure": f.measure,
                      "value": f.value, "precision": f.precision}
                     for f in cal.fitted_figures],
        "estimates": estimates,
        "posterior": {fit.agency: Posterior.of(fit).dump() for fit in cal.fits
                      if len(fit.values)},
        "versions": library_versions(),
    }
    header = ("# Written by `python run_scenario.py calibrate` (do not edit by hand).\n"
              "# [parameters] is layered beneath scenarios that say calibration = \"...\".\n")
    return header + tomli_w.dumps({"meta": meta, "parameters": cal.overrides})


def backtest_markdown(cal: Calibration, command: str) -> str:
    frame = backtest_frame(cal)
    lines = [f"Produced by `{command}` (package {__version__}, {cal.date}; fitted on the "
             f"{len(cal.fitted_figures)} figures up to {cal.until}). Interval: 90% predictive "
             "(parameters drawn from the approximate posterior, one replication each).", "",
             "| series | year | observed | forecast (median) | error (points) | 90% interval "
             "| inside |", "|---|---|---|---|---|---|---|"]
    for r in frame.iter_rows(named=True):
        lines.append(f"| {r['series']} | {r['year']} | {pct(r['observed'])} | "
                     f"{pct(r['forecast_p50'])} | {100 * r['error']:+.1f} | "
                     f"{pct(r['p05'])} – {pct(r['p95'])} | {'yes' if r['inside'] else 'no'} |")
    n_in = int(frame["inside"].sum()) if frame.height else 0
    lines += ["", f"{n_in} of {frame.height} held-out figures inside their 90% interval."]
    return "\n".join(lines) + "\n"


# -- the HTML report -------------------------------------------------------------------------


def _band(fig: go.Figure, years: np.ndarray, draws: np.ndarray, name: str,
          color: str) -> np.ndarray:
    q = np.array([interval(draws[:, i]) for i in range(draws.shape[1])])
    fig.add_trace(go.Scatter(x=years, y=q[:, 2], line=dict(width=0), showlegend=False,
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=years, y=q[:, 0], fill="tonexty", fillcolor=color,
                             line=dict(width=0), name=name))
    return q


def series_figure(cal: Calibration, series: str) -> go.Figure:
    years = cal.process.years
    fig = go.Figure()
    _band(fig, years, cal.predictive.share(series), "90% predictive (with parameter "
          "uncertainty)", "rgba(31,119,180,0.12)")
    q = _band(fig, years, cal.process.share(series), "90% process interval at the fit",
              "rgba(31,119,180,0.3)")
    fig.add_trace(go.Scatter(x=years, y=q[:, 1], name="simulated median",
                             line=dict(color="rgb(31,119,180)")))
    for figs, name, symbol in ((cal.fitted_figures, "observed (fitted)", "circle"),
                               (cal.held_out, "observed (held out)", "diamond-open")):
        own = [f for f in figs if f.series == series]
        if own:
            fig.add_trace(go.Scatter(
                x=[f.model_year for f in own], y=[f.value for f in own], mode="markers",
                name=name, marker=dict(symbol=symbol, size=10, color="black"),
                error_y=dict(type="data", array=[f.precision for f in own])))
    s = BY_ID[series]
    fig.update_layout(title=f"{series}: {s.description} ({s.measure})", height=360,
                      yaxis=dict(title="share of women", tickformat=".0%"),
                      xaxis=dict(title="year"))
    return fig


def profile_figure(fit: AgencyFit) -> go.Figure:
    fig = go.Figure()
    for pr, p in zip(fit.profiles, fit.parameters):
        x = (pr.values - p.lo) / p.span
        fig.add_trace(go.Scatter(x=x, y=pr.delta, mode="lines+markers", name=p.name,
                                 text=[f"{v:.4g}" for v in pr.values]))
    fig.add_hline(y=PROFILE_LEVEL, line_dash="dash", annotation_text="90% level (2.71)")
    fig.update_layout(title=f"{fit.agency}: profiles of the data misfit (Δχ²) against each "
                      "parameter, as a fraction of its bounds (values above 12 run off the "
                      "chart)", height=420,
                      xaxis=dict(title="position in bounds (0 = low, 1 = high)", range=[0, 1]),
                      yaxis=dict(title="Δχ² (data)", range=[0, 12]))
    return fig


def inertia_figure(cal: Calibration, frame: pl.DataFrame) -> go.Figure:
    low, high, _ = cal.cfg.inertia
    fig = go.Figure()
    fig.add_hrect(y0=100 * low, y1=100 * high, fillcolor="rgba(44,160,44,0.15)", line_width=0,
                  annotation_text="range elsewhere (DOMAIN.md)")
    fig.add_trace(go.Scatter(x=frame["year"], y=100 * frame["change_p95"], line=dict(width=0),
                             showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=frame["year"], y=100 * frame["change_p05"], fill="tonexty",
                             line=dict(width=0), name="90% interval",
                             fillcolor="rgba(31,119,180,0.25)"))
    fig.add_trace(go.Scatter(x=frame["year"], y=100 * frame["change_p50"], name="median"))
    fig.update_layout(title="armed_forces.military: yearly change of women's share (points)",
                      height=380, yaxis=dict(title="points per year"), xaxis=dict(title="year"))
    return fig


def _summary(cal: Calibration, page: Page) -> None:
    m = cal.mode
    page.text(f"Mode {cal.mode_name}; fitted on {len(cal.fitted_figures)} figures of "
              f"calibration/observed.csv" + (f" up to {cal.until}" if cal.until else "")
              + f"; {len(cal.held_out)} held out. Seed {cal.seed}; replications per evaluation "
              f"{', '.join(f'{a} {n}' for a, n in m.replications.items())} (the same ones each "
              f"time), weights from {m.pilot_replications}; "
              f"{m.report_replications} replications at the fit and {m.draws} posterior draws "
              f"for the intervals. Date {cal.date}, package {__version__}.")
    page.text(f"Objective {cal.objective:.2f} = data misfit χ² {cal.chi2_data:.2f} + prior "
              f"penalty {cal.objective - cal.chi2_data:.2f}. Fit: {METHOD}. Uncertainty: "
              f"{UNCERTAINTY}.")
    page.text("Weights: each figure's variance is its stated rounding (precision²/3: '9.6%' "
              "is ±0.05 points, '~25%' ±2.5), plus the process noise of the group it counts "
              "(the between-replication variance of the simulated share, which is the binomial "
              "noise of small groups such as DEMA's ~25 posted people), plus the Monte Carlo "
              "error of the mean over the replications. A figure's count is not used; where the "
              "plan's count disagrees with the model's group by more than 25% the residual table "
              "flags it (DEMA's conscripts: see the note).", note=True)
    for fit in cal.fits:
        page.text(f"{fit.agency}: {fit.message}; {fit.evaluations} evaluations; χ² "
                  f"{fit.chi2_data:.2f} on {len(fit.figures)} figures, prior penalty "
                  f"{fit.penalty:.2f}.", note=True)


def _residual_section(cal: Calibration, page: Page) -> None:
    frame = residual_frame(cal)
    page.heading("Residuals")
    page.text("z = (simulated mean - observed) / σ. 'inside' columns: the observed figure is "
              "within the 90% process interval at the fit / the 90% predictive interval.",
              note=True)
    rows, classes = [], []
    for r in frame.iter_rows(named=True):
        rows.append([r["series"], r["year"], r["measure"], pct(r["observed"]),
                     pct(r["p50"]), f"{pct(r['p05'])} – {pct(r['p95'])}",
                     f"{100 * r['sigma']:.2f}", f"{r['z']:+.2f}",
                     "yes" if r["inside_process"] else "NO",
                     "yes" if r["inside_predictive"] else "NO",
                     "" if r["observed_count"] is None else f"{r['observed_count']:.0f}",
                     f"{r['model_size']:.0f}" + (" (mismatch)" if r["count_mismatch"] else "")])
        classes.append("meets" if r["inside_process"] else "misses")
    page.table(["series", "year", "measure", "observed", "simulated median",
                "90% process interval", "σ (points)", "z", "inside (process)",
                "inside (predictive)", "plan's count", "model's group size"], rows, classes)
    outside = frame.filter(~pl.col("inside_process"))
    for r in outside.iter_rows(named=True):
        note = cal.cfg.notes.get(f"{r['series']} {r['year']}", "no known reason recorded in "
                                 "calibration/config.toml [notes]")
        page.text(f"Not reached: {r['series']} {r['year']} ({pct(r['observed'])}, simulated "
                  f"{pct(r['p50'])}): {note}")
    for key, note in cal.cfg.notes.items():
        if not outside.filter((pl.col("series") + " " + pl.col("year").cast(pl.Utf8)) == key
                              ).height:
            page.text(f"Note on {key}: {note}", note=True)


def _parameter_section(cal: Calibration, page: Page) -> None:
    frame = parameter_frame(cal)
    page.heading("Fitted parameters")
    page.text("Value ± sd and the 90% interval from the Laplace approximation (value ± 1.645 sd, "
              "within the bounds); the profile interval is where the data misfit is within 2.71 "
              "of its minimum on the profile grid. 'Data weight' = 1 - (posterior sd / prior "
              "sd)²: 0 means the prior alone, 1 the data alone. Provenance is the schema's.",
              note=True)
    rows = []
    for r in frame.iter_rows(named=True):
        prior = (f"{num(r['prior_mean'])} ± {num(r['prior_sd'])}" if r["prior_mean"] is not None
                 else "uniform")
        prof = ("" if not math.isfinite(r["profile_low"]) else
                f"{num(r['profile_low'])} – {num(r['profile_high'])}")
        rows.append([r["parameter"], r["placed"], r["provenance"],
                     f"{num(r['low'])} – {num(r['high'])}", prior,
                     f"{num(r['value'], 4)} ± {num(r['sd'], 2)}",
                     f"{num(r['p05'])} – {num(r['p95'])}", prof, f"{r['data_weight']:.2f}",
                     f"FLAT ({r['flat_by']})" if r["flat"] else "pinned"])
    page.table(["parameter", "placed at", "schema provenance", "bounds", "prior", "fitted ± sd",
                "90% interval", "profile 90% interval", "data weight", "pinned by the data?"],
               rows)
    others = frame.filter(~pl.col("provenance").str.starts_with("calibrated"))
    if others.height:
        page.text("Fitted although the schema does not mark them 'calibrated' (the fitted file "
                  "overrides their default; the config says why): " + "; ".join(
                      f"{r['parameter']} ({r['provenance']})" for r in
                      others.iter_rows(named=True)) + ".", note=True)


def _flat_section(cal: Calibration, page: Page) -> None:
    page.heading("What the data cannot pin down")
    frame = parameter_frame(cal)
    has_profiles = any(fit.profiles for fit in cal.fits)
    weak = (f"the data narrowed its prior variance by less than half (data weight < "
            f"{WEAK_DATA_WEIGHT})")
    page.text("A parameter is listed when its profile is flat (the data misfit changes by less "
              "than 2.71, the 90% level, over the range the prior calls plausible: fit ± 2 prior "
              f"sd, within the bounds) or when {weak}. The profile carries Monte Carlo noise, "
              "the data weight is a linear approximation; either sign is enough. For these the "
              "data cannot tell the plausible values apart, so the stated assumption decides."
              if has_profiles else "Profiles were not computed in this mode; a parameter is "
              f"listed when {weak}.", note=True)
    flat = frame.filter(pl.col("flat"))
    page.table(["parameter", "fitted", "why listed", "held by"],
               [[r["parameter"], num(r["value"], 4), r["flat_by"], r["held_by"]]
                for r in flat.iter_rows(named=True)])
    for fit in cal.fits:
        if fit.profiles:
            page.figure(profile_figure(fit))


def _inertia_section(cal: Calibration, page: Page) -> None:
    frame = inertia_frame(cal)
    low, high, source = cal.cfg.inertia
    page.heading("Inertia check: armed_forces.military")
    obs = sorted((f for f in (*cal.fitted_figures, *cal.held_out)
                  if f.series == "armed_forces.military"), key=lambda f: f.year)
    if len(obs) >= 2:
        rate = (obs[-1].value - obs[0].value) / (obs[-1].year - obs[0].year)
        page.text(f"The plan's figures rise {100 * rate:.2f} points a year from {obs[0].year} to "
                  f"{obs[-1].year}.")
    page.text(f"Range elsewhere: {100 * low:.1f}-{100 * high:.1f} points a year. Source: "
              f"{source}. Below: the fitted model's yearly change (median over replications of "
              f"each replication's change, and its 90% interval).")
    in_range = frame.filter(pl.col("year") > cal.start_year)
    page.text(f"{int(in_range['within_range'].sum())} of {in_range.height} years have a median "
              f"change inside the range.", note=True)
    page.figure(inertia_figure(cal, frame))
    page.table(["year", "share (median)", "change (points, median)", "90% interval",
                "inside range"],
               [[r["year"], pct(r["share_p50"], 2), f"{100 * r['change_p50']:+.2f}",
                 f"{100 * r['change_p05']:+.2f} – {100 * r['change_p95']:+.2f}",
                 "yes" if r["within_range"] else "no"] for r in frame.iter_rows(named=True)],
               ["meets" if r["within_range"] else "" for r in frame.iter_rows(named=True)])


def _backtest_section(cal: Calibration, page: Page) -> None:
    frame = backtest_frame(cal)
    page.heading(f"Back-test: forecast of the figures after {cal.until}")
    page.text("Fitted only on the figures up to the year given by --until; each later figure is "
              "compared with the forecast: error = median - observed; inside = within the 90% "
              "predictive interval (parameter uncertainty + process noise); the process-only "
              "interval at the fitted point is shown too.", note=True)
    page.table(["series", "year", "observed", "forecast (median)", "error (points)",
                "90% predictive interval", "inside", "90% process interval", "inside (process)"],
               [[r["series"], r["year"], pct(r["observed"]), pct(r["forecast_p50"]),
                 f"{100 * r['error']:+.1f}", f"{pct(r['p05'])} – {pct(r['p95'])}",
                 "yes" if r["inside"] else "NO",
                 f"{pct(r['process_p05'])} – {pct(r['process_p95'])}",
                 "yes" if r["inside_process"] else "NO"] for r in frame.iter_rows(named=True)],
               ["meets" if r["inside"] else "misses" for r in frame.iter_rows(named=True)])
    page.text(f"{int(frame['inside'].sum())} of {frame.height} held-out figures inside their "
              "90% predictive interval.")
    for r in frame.filter(~pl.col("inside")).iter_rows(named=True):
        note = cal.cfg.notes.get(f"{r['series']} {r['year']}")
        if note:
            page.text(f"Missed: {r['series']} {r['year']}: {note}", note=True)


def render(cal: Calibration) -> str:
    title = "Calibration" + (f" (back-test: fitted up to {cal.until})" if cal.until else "")
    page = Page(title)
    _summary(cal, page)
    if cal.held_out:
        _backtest_section(cal, page)
    _residual_section(cal, page)
    page.heading("Observed figures against the simulation")
    for series in dict.fromkeys(f.series for f in (*cal.fitted_figures, *cal.held_out)):
        page.figure(series_figure(cal, series))
    _parameter_section(cal, page)
    _flat_section(cal, page)
    _inertia_section(cal, page)
    return page.render()


def tables(cal: Calibration) -> dict[str, pl.DataFrame]:
    """The CSV files written beside the report."""
    out = {"residuals.csv": residual_frame(cal), "parameters.csv": parameter_frame(cal),
           "inertia.csv": inertia_frame(cal)}
    if cal.held_out:
        out["backtest.csv"] = backtest_frame(cal)
    if any(fit.profiles for fit in cal.fits):
        out["profiles.csv"] = profile_frame(cal)
    return out

