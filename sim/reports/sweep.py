"""The sweep's report.html: what was varied, how well the design covers it, what mattered.

For each analysed output (women's share of a series in a target's year) the page shows the
response over the design -- a heatmap for a two-lever grid, a line with its 5-95% band for a
one-lever grid, parallel coordinates otherwise -- then the tornado chart, the Sobol indices for
``sobol`` designs, and the points most likely to meet the target. Every estimate carries its
interval; every lever its provenance from the schema; every target its source and confidence.
The page is self-contained (``sim.reports.page``).
"""

from __future__ import annotations

import warnings

from typing import Any

import numpy as np
import plotly.graph_objects as go
from scipy.stats import qmc

from sim import __version__
from sim.analysis.sensitivity import (BOOTSTRAP, CONFIDENCE, SALIB_NAMES, TARGET_HALF_WIDTH,
                                      Analysis, OutputAnalysis, reliability)
from sim.reports.style import category_title, pct, points
from sim.analysis.attainment import ON_TRACK, prob_meet, verdict
from sim.reports.page import Page
from sim.runs.design import Plan
from sim.runs.sweep_file import label

CI = f"{CONFIDENCE:.0%}"
ROW_CLASS = {"on track": "meets", "off track": "misses"}


def short(key: str) -> str:
    """The last two parts of a dotted key: enough to tell levers apart on an axis."""
    return ".".join(key.split(".")[-2:])


def span(lo: Any, hi: Any) -> str:
    """A range of values run; a categorical level as its text."""
    if isinstance(lo, str):
        return lo if lo == hi else f"{lo}-{hi}"
    return f"{lo:.4g}" if lo == hi else f"{lo:.4g}-{hi:.4g}"


def value(v: Any) -> str:
    return label(v) if isinstance(v, str) else f"{v:.4g}"


def report(plan: Plan, analysis: Analysis) -> str:
    sweep = plan.sweep
    page = Page(f"Sweep: {sweep.spec.name}")
    with page.section("summary", "verdict"):
        _summary(page, plan, analysis)
        _findings(page, plan, analysis)
        if sweep.spec.description:
            page.text(sweep.spec.description)
    _about(page, plan)
    _levers(page, plan)
    _coverage(page, plan)
    for oa in analysis.outputs:
        _output(page, plan, oa)
    _method(page, plan)
    return page.render()


def _summary(page: Page, plan: Plan, analysis: Analysis) -> None:
    """The answer first: per output, the lever setting most likely to meet its target, how many
    points are on track, and the lever that moves the share most."""
    page.heading("What the sweep found")
    rows = []
    for oa in analysis.outputs:
        t = oa.output.target
        best = oa.best.row(0, named=True) if oa.best.height else None
        setting = ", ".join(f"{short(k)} = {value(v)}"
                            for k, v in plan.values(best["point"]).items()) if best else "—"
        if t is not None and best is not None:
            hits, n = prob_meet(oa.y, t.target, axis=1)
            on_track = int(np.sum((n > 0) & (hits >= ON_TRACK * n)))
            chance = (f"{pct(best['prob_meet'], 0)} ({pct(best['prob_low'], 0)}–"
                      f"{pct(best['prob_high'], 0)})")
            goal = f"{category_title(t)}: {pct(t.target, 0)} by {t.year}"
            count = f"{on_track} of {len(oa.y)}"
        else:
            chance, goal, count = "—", f"{oa.output.series}, {oa.output.year}", "—"
        top = oa.tornado[0] if oa.tornado else None
        mover = (f"{short(top.key)}: {points(top.effect.estimate)} low → high end"
                 if top else "—")
        rows.append([goal, setting, chance, count, mover])
    page.table(["output", "best setting", f"its chance of meeting the target ({CI})",
                f"points on track (chance ≥ {ON_TRACK:.0%})", "lever that moves it most"],
               rows, numeric=(2, 3))
    page.text("Chance: the share of a point's replications at or above the target in its year, "
              f"with its {CI} Wilson interval. Differences are in percentage points; every "
              f"interval in this report is {CI}.", note=True)


def _box_text(oa: OutputAnalysis) -> str:
    box = oa.box
    if box is None:
        return "no point meets it"
    if box.density == 1 and box.mass == 1:
        return "every point meets it"
    lims = "; ".join(f"{short(lim.factor)} {lim.describe()}" for lim in box.restricted)
    return (f"{lims or 'the whole design'} (coverage {pct(box.coverage, 0)}, density "
            f"{pct(box.density, 0)}, {box.n} of {len(oa.y)} points)")


def _findings(page: Page, plan: Plan, analysis: Analysis) -> None:
    """The rest of the answer: where the targets are met (PRIM), what the reform's timing and
    other categorical levers change, and a warning for every index that cannot be trusted."""
    p = analysis.probability
    for oa in analysis.outputs:
        t = oa.output.target
        if t is not None:
            page.text(f"Where {t.target_id} is met (chance ≥ {p:.0%}, PRIM box): "
                      f"{_box_text(oa)}.")
        by_key: dict[str, list[str]] = {}
        for lm in oa.levels:
            if lm.level != lm.difference and lm.points and lm is not None:
                by_key.setdefault(lm.key, []).append(
                    f"{lm.level}: {pct(lm.mean.estimate)}" + (
                        f" ({points(lm.difference.estimate)} vs {_first(oa, lm.key)})"
                        if lm.level != _first(oa, lm.key) else ""))
        for key, parts in by_key.items():
            page.text(f"{oa.output.label}, by {short(key)}: " + "; ".join(parts) + ".")
    flagged = [(oa, *f) for oa in analysis.outputs for f in oa.flagged()]
    if flagged:
        shown = "; ".join(f"{oa.output.label}, {name} of {short(key)} = {i.estimate:.2f} "
                          f"({i.low:.2f} to {i.high:.2f}): {r.flag}"
                          for oa, name, key, i, r in flagged[:8])
        more = f" and {len(flagged) - 8} more" if len(flagged) > 8 else ""
        page.warning(f"⚠ {len(flagged)} sensitivity indices are negative or unreliable and "
                     f"must not be read as findings: {shown}{more}. Each table below gives the "
                     "sample size that would bring its interval to "
                     f"±{TARGET_HALF_WIDTH:g}.")


def _first(oa: OutputAnalysis, key: str) -> str:
    return next(lm.level for lm in oa.levels if lm.key == key)


def _about(page: Page, plan: Plan) -> None:
    spec, base = plan.sweep.spec, plan.sweep.base
    page.table(["", ""], [
        ["base scenario", f"{spec.base} ({base.name})"],
        ["years", f"{base.start_year}-{base.horizon}"],
        ["agencies run", ", ".join(spec.agencies) if spec.agencies else "all"],
        ["design", spec.design],
        ["points", plan.points.height],
        ["replications per point", spec.replications],
        ["random numbers", f"{spec.random_numbers} (seed {spec.seed})"],
        ["sweep fingerprint", plan.fingerprint[:16]],
        ["package version", __version__],
    ])


def _levers(page: Page, plan: Plan) -> None:
    page.heading("What was varied")
    rows = []
    spec = plan.sweep.spec
    for lev, p, role in zip(plan.sweep.levers, spec.factors, spec.roles):
        span = (", ".join(label(v) for v in p.values) if p.values is not None else
                f"{p.low:g} to {p.high:g}" + (f" ({p.levels} levels)" if p.levels else ""))
        when = f"from {p.start}" if p.start else "whole run (replaces any dated values)"
        rows.append([p.key, role + (" (categorical)" if p.categorical else ""), lev.doc, span,
                     lev.unit, when, lev.source])
    page.table(["factor", "role", "meaning", "values", "unit", "applies",
                "provenance of its default"], rows)


def _coverage(page: Page, plan: Plan) -> None:
    page.heading("Design coverage")
    keys, pts = plan.sweep.keys, plan.points
    rows = []
    for p in plan.sweep.spec.factors:
        x = pts[p.key].to_numpy()
        if p.categorical:
            counts = ", ".join(f"{lev}: {int(np.sum(x == lev))}" for lev in p.labels)
            rows.append([p.key, "levels (points)", counts, len(np.unique(x))])
        else:
            rows.append([p.key, float(x.min()), float(x.max()), len(np.unique(x))])
    page.table(["lever", "lowest value run", "highest value run", "distinct values"], rows)
    numeric = [p for p in plan.sweep.spec.factors if not p.categorical]
    if plan.sweep.spec.design != "grid" and len(numeric) > 1:
        spans = [(p.key, *p.span) for p in numeric]   # low, high here
        unit = np.column_stack([(pts[k].to_numpy() - lo) / (hi - lo) for k, lo, hi in spans])
        disc = qmc.discrepancy(np.clip(unit, 0, 1))
        page.text(f"Centred L2 discrepancy of the points in the unit cube: {disc:.4f} (lower "
                  "is more even; a random sample of the same size is typically higher).",
                  note=True)
    if len(keys) == 1:
        fig = go.Figure(go.Histogram(x=pts[keys[0]].to_numpy(), nbinsx=30))
        fig.update_layout(title="Values run", xaxis_title=short(keys[0]), yaxis_title="points")
    elif len(keys) == 2:
        fig = go.Figure(go.Scatter(x=pts[keys[0]].to_numpy(), y=pts[keys[1]].to_numpy(),
                                   mode="markers", text=[f"point {i}" for i in pts["point"]]))
        fig.update_layout(title="Points of the design", xaxis_title=short(keys[0]),
                          yaxis_title=short(keys[1]))
    else:
        fig = go.Figure(go.Splom(
            dimensions=[dict(label=short(k), values=pts[k].to_numpy()) for k in keys],
            text=[f"point {i}" for i in pts["point"].to_list()], diagonal_visible=False,
            showupperhalf=False, marker=dict(size=4, opacity=0.6)))
        fig.update_layout(title="Points of the design, lever against lever",
                          height=max(420, 180 * len(keys)))
    page.figure(fig)


def _output(page: Page, plan: Plan, oa: OutputAnalysis) -> None:
    out, t = oa.output, oa.output.target
    page.heading(f"{out.series}, {out.year}")
    if t is not None:
        page.text(f"Target {t.target_id}: women's share at least {pct(t.target, 0)} in {t.year} "
                  f"({t.kind}, {t.status}, confidence {t.confidence or 'n/a'}). Source: "
                  f"{t.source}", note=True)
    page.text(f"Replication noise makes up about {pct(oa.noise, 0)} of the variance between the "
              "point means shown here (the rest is the levers' doing; near or above 100% means "
              "more replications are needed to see the levers' effect).", note=True)
    _response(page, plan, oa)
    _levels(page, oa)
    _tornado(page, oa)
    if oa.sobol is not None:
        _sobol(page, oa)
    _salib(page, oa)
    _discovery(page, plan, oa)
    _best(page, plan, oa)


def _levels(page: Page, oa: OutputAnalysis) -> None:
    """A categorical factor's levels: the mean share at each and its difference from the
    first level (the other factors averaged over the design)."""
    if not oa.levels:
        return
    page.heading("By level of each categorical factor", level=3)
    has_target = oa.output.target is not None
    rows = []
    for lm in oa.levels:
        row = [lm.key, lm.level, lm.points, pct(lm.mean.estimate),
               f"{pct(lm.mean.low)} to {pct(lm.mean.high)}",
               points(lm.difference.estimate),
               f"{100 * lm.difference.low:+.1f} to {100 * lm.difference.high:+.1f} pts"]
        if has_target:
            row.append(pct(lm.on_track, 0) if lm.on_track is not None else "—")
        rows.append(row)
    header = ["factor", "level", "points", "mean share", f"{CI} interval",
              "difference from the first level", f"{CI} interval"]
    if has_target:
        header.append("points on track")
    page.table(header, rows, numeric=(4, 6))


def _flag(flag: str, note: str) -> str:
    return "ok" if flag == "ok" else f"⚠ {flag}: {note}"


def _salib(page: Page, oa: OutputAnalysis) -> None:
    if not oa.salib:
        return
    page.heading("SALib indices", level=3)
    if oa.salib[0].method.startswith("salib_delta"):
        page.text("Delta (moment-independent: how much the whole distribution of the point "
                  "means shifts when the factor is fixed) and first-order indices from SALib's "
                  "delta module, on the Latin hypercube's points, with SALib's bootstrap "
                  f"{CI} intervals. Categorical factors enter as their level number "
                  "(approximate).", note=True)
    else:
        page.text("SALib's Sobol analysis of the same design rows, as a cross-check of the "
                  "indices above; its total indices still contain the replication noise "
                  "(ours have it taken out), so they run higher by about the noise share.",
                  note=True)
    rows, classes = [], []
    for s in oa.salib:
        r = s.reliability
        rows.append([s.key, SALIB_NAMES[s.method], round(s.value.estimate, 3),
                     f"{s.value.low:.3f} to {s.value.high:.3f}", _flag(r.flag, r.note),
                     r.n_needed if r.n_needed is not None else "—"])
        classes.append("" if r.flag == "ok" else "misses")
    page.table(["factor", "index", "estimate", f"{CI} interval", "reliability",
                f"samples for ±{TARGET_HALF_WIDTH:g}"], rows, classes)


def _discovery(page: Page, plan: Plan, oa: OutputAnalysis) -> None:
    t, box = oa.output.target, oa.box
    if t is None:
        return
    page.heading(f"Scenario discovery for {t.target_id} (PRIM)", level=3)
    page.text(f"A point meets the target when at least {plan.sweep.spec.discovery_probability:.0%}"
              " of its replications do. Coverage: the share of all meeting points inside the "
              "box; density: the share of the box's points that meet. The box is the one on "
              "PRIM's peeling trajectory with the largest coverage × density.", note=True)
    if box is None:
        page.text("No point of the sweep meets the target: there is no box.")
        return
    roles = dict(zip(plan.sweep.keys, plan.sweep.spec.roles))
    page.table(["factor", "role", "box", "restricted"],
               [[lim.factor, roles[lim.factor], lim.describe(),
                 "yes" if lim.restricted else "no (whole range)"] for lim in box.limits])
    page.text(f"Coverage {pct(box.coverage, 0)}, density {pct(box.density, 0)}: {box.n} of "
              f"{len(oa.y)} points in the box, {box.n_meeting} of them meet the target.")


def _response(page: Page, plan: Plan, oa: OutputAnalysis) -> None:
    keys, spec = plan.sweep.keys, plan.sweep.spec
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # a point with no value: NaN
        mean = np.nanmean(oa.y, axis=1) if oa.y.size else np.array([])
    pts = plan.points
    label = f"mean share, {oa.output.year}"
    if spec.design == "grid" and len(keys) == 2:
        x, y = pts[keys[0]].to_numpy(), pts[keys[1]].to_numpy()
        xs, ys = np.unique(x), np.unique(y)
        z = np.full((len(ys), len(xs)), np.nan)
        cell = (np.searchsorted(ys, y), np.searchsorted(xs, x))
        z[cell] = mean
        target = oa.output.target
        met = np.zeros_like(z, dtype=bool)
        if target is not None:
            hits, n = prob_meet(oa.y, target.target, axis=1)
            chance = np.full_like(z, np.nan)
            chance[cell] = np.where(n > 0, hits / np.maximum(n, 1), np.nan)
            met = np.nan_to_num(chance) >= ON_TRACK
        text = [[pct(v) + (" ✔" if m else "") for v, m in zip(row, mrow)]
                for row, mrow in zip(z, met)]
        fig = go.Figure(go.Heatmap(x=[value(v) for v in xs], y=[value(v) for v in ys], z=z,
                                   colorscale="Viridis",
                                   colorbar=dict(title="share", tickformat=".0%"),
                                   text=text, texttemplate="%{text}",
                                   hovertemplate="%{x}, %{y}: %{text}<extra></extra>"))
        fig.update_layout(title=f"{label} over the grid" + (
            f" (✔: on track for {pct(target.target, 0)}, chance ≥ {ON_TRACK:.0%})"
            if target is not None else ""), xaxis_title=short(keys[0]),
            yaxis_title=short(keys[1]), xaxis_type="category", yaxis_type="category")
        page.figure(fig)
        if target is not None:
            fig = go.Figure(go.Heatmap(
                x=[value(v) for v in xs], y=[value(v) for v in ys], z=chance, zmin=0, zmax=1,
                colorscale="RdYlGn", colorbar=dict(title="chance", tickformat=".0%"),
                text=[[pct(v, 0) for v in row] for row in chance], texttemplate="%{text}",
                hovertemplate="%{x}, %{y}: chance %{text}<extra></extra>"))
            fig.update_layout(title=f"Chance of meeting {pct(target.target, 0)} in "
                                    f"{target.year}", xaxis_title=short(keys[0]),
                              yaxis_title=short(keys[1]), xaxis_type="category",
                              yaxis_type="category")
            page.figure(fig)
        return
    elif spec.design == "grid" and len(keys) == 1:
        with np.errstate(all="ignore"):
            lo, hi = np.nanpercentile(oa.y, [5, 95], axis=1)
        x = pts[keys[0]].to_numpy()
        fig = go.Figure([
            go.Scatter(x=x, y=hi, line=dict(width=0), showlegend=False, hoverinfo="skip"),
            go.Scatter(x=x, y=lo, fill="tonexty", line=dict(width=0), name="5-95% of replications"),
            go.Scatter(x=x, y=mean, mode="lines+markers", name="mean")])
        fig.update_layout(title=label, xaxis_title=short(keys[0]), yaxis_title="share",
                          yaxis_tickformat=".0%")
    else:
        fig = go.Figure(go.Parcoords(
            line=dict(color=np.nan_to_num(mean, nan=0.0), colorscale="Viridis", showscale=True,
                      colorbar=dict(title="share", tickformat=".0%")),
            dimensions=[_dimension(plan, k) for k in keys]
            + [dict(label="mean share", values=np.nan_to_num(mean, nan=0.0),
                    tickformat=".1%")]))
        fig.update_layout(title=f"{label}: every point, lever by lever (drag an axis to filter)")
    if oa.output.target is not None and spec.design == "grid" and len(keys) == 1:
        fig.add_hline(y=oa.output.target.target, line_dash="dash",
                      annotation_text=f"target {pct(oa.output.target.target, 0)}")
    page.figure(fig)


def _dimension(plan: Plan, key: str) -> dict[str, Any]:
    """A parallel-coordinates axis; a categorical factor's levels as ticks 0, 1, ..."""
    p = next(f for f in plan.sweep.spec.factors if f.key == key)
    x = plan.points[key].to_numpy()
    if p.categorical:
        return dict(label=short(key), values=[p.labels.index(v) for v in x],
                    tickvals=list(range(len(p.labels))), ticktext=p.labels)
    return dict(label=short(key), values=x, tickformat=".3~g")


def _tornado(page: Page, oa: OutputAnalysis) -> None:
    bars = list(reversed(oa.tornado))           # largest on top
    eff = [b.effect for b in bars]
    fig = go.Figure(go.Bar(
        y=[short(b.key) for b in bars], x=[100 * e.estimate for e in eff], orientation="h",
        error_x=dict(type="data", symmetric=False,
                     array=[100 * (e.high - e.estimate) for e in eff],
                     arrayminus=[100 * (e.estimate - e.low) for e in eff]),
        hovertext=[f"{b.key}: low {span(*b.low_range)} -> {pct(b.low_mean.estimate)}, "
                   f"high {span(*b.high_range)} -> {pct(b.high_mean.estimate)}" for b in bars]))
    fig.update_layout(title=f"Tornado: share at the high end minus at the low end of each "
                            f"lever ({CI} intervals)",
                      xaxis_title="difference in share (percentage points)",
                      height=max(300, 60 * len(bars) + 150))
    page.figure(fig)
    page.table(["lever", "low end", "share there", "high end", "share there", "difference",
                f"{CI} interval"],
               [[b.key, span(*b.low_range), pct(b.low_mean.estimate),
                 span(*b.high_range), pct(b.high_mean.estimate),
                 points(b.effect.estimate), f"{100 * b.effect.low:+.1f} to "
                 f"{100 * b.effect.high:+.1f} pts"]
                for b in oa.tornado])


def _sobol(page: Page, oa: OutputAnalysis) -> None:
    s = oa.sobol
    assert s is not None          # only called for a Sobol design
    labels = [short(k) for k in s.keys]
    fig = go.Figure()
    for name, idx in (("first order", s.first), ("total", s.total)):
        fig.add_bar(name=name, x=labels, y=[i.estimate for i in idx],
                    error_y=dict(type="data", symmetric=False,
                                 array=[i.high - i.estimate for i in idx],
                                 arrayminus=[i.estimate - i.low for i in idx]))
    fig.update_layout(title=f"Sobol indices ({s.samples} base samples, {CI} bootstrap "
                            "intervals)", yaxis_title="share of variance", barmode="group")
    page.figure(fig)
    rows, classes = [], []
    for k, a, b in zip(s.keys, s.first, s.total):
        ra, rb = reliability(a, s.samples), reliability(b, s.samples)
        worst = ra if ra.flag != "ok" else rb
        rows.append([k, round(a.estimate, 3), f"{a.low:.3f} to {a.high:.3f}",
                     round(b.estimate, 3), f"{b.low:.3f} to {b.high:.3f}",
                     _flag(worst.flag, worst.note),
                     max(ra.n_needed or 0, rb.n_needed or 0) or "—"])
        classes.append("" if worst.flag == "ok" else "misses")
    page.table(["lever", "first order", f"{CI} interval", "total", f"{CI} interval",
                "reliability", f"base samples for ±{TARGET_HALF_WIDTH:g}"], rows, classes)
    if any(c for c in classes):
        page.warning("⚠ Some of these indices are negative or their intervals are wider than "
                     "the index: too few base samples (or too much replication noise) to "
                     "rank these levers. Do not read them as findings.")


def _best(page: Page, plan: Plan, oa: OutputAnalysis) -> None:
    t = oa.output.target
    page.heading("Best points" + (f" for {t.target_id}" if t else ""), level=3)
    keys = plan.sweep.keys
    rows, classes = [], []
    for r in oa.best.iter_rows(named=True):
        values = plan.values(r["point"])
        row = [r["point"], *[value(values[k]) for k in keys], pct(r["mean"]),
               f"{pct(r['p05'])} to {pct(r['p95'])}"]
        if t is not None:
            row.append(f"{pct(r['prob_meet'], 0)} ({pct(r['prob_low'], 0)} to "
                       f"{pct(r['prob_high'], 0)})")
            classes.append(ROW_CLASS.get(verdict(r["prob_meet"]), ""))
        rows.append(row)
    header = ["point", *[short(k) for k in keys], "mean share", "5-95% of replications"]
    if t is not None:
        header.append(f"chance of meeting the target ({CI} Wilson interval)")
    page.table(header, rows, classes or None)


def _method(page: Page, plan: Plan) -> None:
    spec = plan.sweep.spec
    page.heading("How to read this")
    crn = ("Every point uses the same replication streams (common random numbers), so "
           "differences between points are the levers' effect with most of the Monte Carlo "
           "noise cancelled." if spec.random_numbers == "common" else
           "Each point has its own random streams (independent random numbers).")
    page.text(crn, note=True)
    page.text("Indices and tornado bars describe the mean over the point's replications. "
              "Replication noise in that mean is not explained by any lever: it is reported as "
              "the noise share above and lowers the first-order indices. Intervals are "
              f"{CI} percentile intervals of a {BOOTSTRAP}-draw bootstrap that resamples the "
              "replications (the same draw for every point) and, for sampled designs, the "
              "design's rows.", note=True)
    page.text("Tornado: for each lever, the mean share over the points at the low end of its "
              "range (a grid's lowest level; else the lowest quarter of the range) and at the "
              "high end, the other levers averaged over the design. Sobol indices: first order "
              "by Saltelli et al. (2010), total by Jansen (1999), on the design's A, B and AB "
              "blocks.", note=True)
