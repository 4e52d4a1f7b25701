"""The comparison report: what changes between scenarios, paired replication by replication.

Built from what ``sim.analysis.compare`` computed (nothing new about the model is computed here), so
the page, ``differences.parquet`` and ``target_effects.csv`` always agree. The page leads with the
question a planner asks of a lever: does it change whether, and when, each target is met? Then
the forecasts overlaid, the paired differences over time, and what differs between the
scenario files. The first scenario is the reference; every effect is scenario minus reference.
"""

from __future__ import annotations

from sim.scenario.loading import Fitted

import math
from typing import Any, Sequence, cast

import numpy as np
import polars as pl

from sim import __version__
from sim.analysis.compare import BOOTSTRAP, SIGN_HOLDS, Pairing
from sim.reports.style import (COLOURS, MILESTONES, interval_note, category_title, finite, pct,
                               pct_interval, probability, rgba)
from sim.reports.charts import (Panel, add_milestones, deployed_panels, fan_figure, finish,
                                legend_once, panel_grid, pipeline_panels, plain, target_panels)
from sim.scenario.targets import UnTarget
from sim.reports.provenance import input_rows, parameters
from sim.analysis.intervals import wilson
from sim.analysis.attainment import headline_targets
from sim.reports.figure import Chart, scatter, subplot_grid
from sim.reports.page import Page
from sim.reports.style import points, points_interval


def spread(lo: float | None, hi: float | None) -> str:
    return f"{100 * lo:+.1f} to {100 * hi:+.1f} pts" if finite(lo) and finite(hi) else "n/a"


def gain_text(row: dict[str, Any], last_year: int) -> str:
    """``gains 2 years (90%: 1 to 3)``; censored at the horizon where a median never gets there."""
    g = row["years_gained"]
    if g is None:
        return f"neither reaches it by {last_year}"
    ref_never = row["first_year_p50_reference"] is None
    oth_never = row["first_year_p50_scenario"] is None
    word = "gains" if g > 0 else "loses" if g < 0 else "same year"
    amount = "" if g == 0 else f" {'at least ' if ref_never or oth_never else ''}{abs(g)} " \
        f"year{'s' if abs(g) != 1 else ''}"
    return f"{word}{amount} (90%: {row['years_gained_p05']:+.0f} to {row['years_gained_p95']:+.0f})"


def first_year_text(year: int | None, last_year: int) -> str:
    return str(year) if year is not None else f"not by {last_year}"


def shown_targets(targets: Sequence[UnTarget], last_year: int) -> list[UnTarget]:
    """The stated targets a model series stands for, within the compared years."""
    return [t for t in targets if t.status == "stated" and t.series and t.year <= last_year]


# -- tables --------------------------------------------------------------------------------------


def effect_rows(effects: pl.DataFrame, tables: dict[str, pl.DataFrame], label: str,
                reference: str, targets: Sequence[UnTarget], n: int) -> list[list[Any]]:
    own = {r["target_id"]: r for r in effects.filter(pl.col("scenario") == label)
           .iter_rows(named=True)}
    ref = {r["target_id"]: r for r in tables[reference].iter_rows(named=True)}
    oth = {r["target_id"]: r for r in tables[label].iter_rows(named=True)}
    rows = []
    for t in targets:
        e = own.get(t.target_id)
        if e is None:
            continue
        a, b = ref[t.target_id], oth[t.target_id]
        rows.append([category_title(t), t.year, pct(t.target, 0),
                     pct_interval(a["p50"], a["p05"], a["p95"]),
                     pct_interval(b["p50"], b["p05"], b["p95"]),
                     points_interval(e["diff_mean"], e["diff_mean_lo"], e["diff_mean_hi"]),
                     spread(e["diff_p05"], e["diff_p95"]),
                     f"{probability(e['prob_meet_reference'], n)} → "
                     f"{probability(e['prob_meet_scenario'], n)}",
                     points_interval(e["prob_meet_diff"], e["prob_meet_diff_lo"],
                                     e["prob_meet_diff_hi"])])
    return rows


EFFECT_HEADER = ("target", "year", "target share", "reference: median (90%)",
                 "scenario: median (90%)", "effect on the share: paired mean (90% CI)",
                 "90% of paired differences", "P(meet): reference → scenario",
                 "change in P(meet) (90% CI)")


def probability_rows(tables: dict[str, pl.DataFrame], targets: Sequence[UnTarget],
                     n: int) -> list[list[Any]]:
    rows = []
    for t in targets:
        cells = []
        for table in tables.values():
            r = next((x for x in table.iter_rows(named=True) if x["target_id"] == t.target_id),
                     None)
            cells.append(probability(r["prob_meet"], n) if r and r["prob_meet"] is not None
                         else "n/a")
        rows.append([category_title(t), t.year, pct(t.target, 0), *cells])
    return rows


def gain_rows(effects: pl.DataFrame, labels: Sequence[str], targets: Sequence[UnTarget],
              last_year: int) -> list[list[Any]]:
    rows = []
    for t in targets:
        cells, ref_year = [], None
        for label in labels[1:]:
            e = effects.filter((pl.col("scenario") == label)
                               & (pl.col("target_id") == t.target_id))
            if e.is_empty():
                cells += ["n/a", "n/a"]
                continue
            r = e.row(0, named=True)
            ref_year = r["first_year_p50_reference"]
            cells += [first_year_text(r["first_year_p50_scenario"], last_year),
                      gain_text(r, last_year)]
        rows.append([category_title(t), pct(t.target, 0), first_year_text(ref_year, last_year),
                     *cells])
    return rows


def first_difference(differences: pl.DataFrame, label: str) -> tuple[int, list[str]] | None:
    """The first year in which any pair of replications differs, and the series that do.

    Before it the scenario and the reference are the same people in every replication (the
    pairing at work): a lever dated 2026 cannot change 2025, and one that acts through the
    draft changes nothing while volunteers alone fill it.
    """
    d = differences.filter((pl.col("scenario") == label)
                           & ((pl.col("prob_higher") + pl.col("prob_lower")) > 0))
    if d.is_empty():
        return None
    year = int(cast(int, d["year"].min()))          # an integer column's minimum
    return year, sorted(d.filter(pl.col("year") == year)["series"].to_list())


def first_difference_text(differences: pl.DataFrame, label: str, reference: str) -> str:
    found = first_difference(differences, label)
    if found is None:
        return (f"{label} and {reference} are identical in every replication and year: the "
                "levers that differ change nothing the model counts here.")
    year, series = found
    shown = ", ".join(series[:6]) + (f" and {len(series) - 6} more" if len(series) > 6 else "")
    return (f"{label} first differs from {reference} in {year} ({shown}); before that every "
            "replication of the two is identical, as the pairing promises. A zero effect with a "
            "zero interval below means the lever has not reached that group by the target "
            "year, not that the estimate is uncertain.")


def differing_parameters(pairing: Pairing, fitted: Fitted) -> list[list[str]]:
    """Parameters whose value is not the same in every scenario: the levers being compared."""
    per = [{p.key: p for p in parameters(s, fitted)} for s in pairing.scenarios]
    rows = []
    for key, first in per[0].items():
        values = [p[key].value for p in per]
        if len(set(values)) > 1:
            rows.append([key, *values, first.unit, first.source])
    return rows


# -- figures -------------------------------------------------------------------------------------


def difference_figure(title: str, panels: Sequence[Panel], differences: pl.DataFrame,
                      labels: Sequence[str], cols: int = 2, panel_height: int = 300) -> Chart:
    """Per panel and scenario: the paired mean difference with its 90% confidence band (dark)
    and the 5th-95th percentile of the paired differences (light), in percentage points."""
    fig, rows, cols = panel_grid(panels, cols)
    legend: set[str] = set()
    for i, p in enumerate(panels):
        r, c = divmod(i, cols)
        for k, label in enumerate(labels):
            d = differences.filter((pl.col("scenario") == label) & (pl.col("series") == p.series)
                                   ).sort("year")
            if d.is_empty():
                continue
            colour = COLOURS[(k + 1) % len(COLOURS)]
            x = d["year"].to_list()
            for lo, hi, alpha, name in (("diff_p05", "diff_p95", 0.12, "90% of pairs"),
                                        ("diff_mean_lo", "diff_mean_hi", 0.35, "90% CI of mean")):
                group = f"{label} {name}"
                fig.add_trace(scatter(x=x, y=(100 * d[hi]).to_list(), mode="lines",
                                         line=dict(width=0), hoverinfo="skip", showlegend=False,
                                         legendgroup=group), row=r + 1, col=c + 1)
                fig.add_trace(scatter(x=x, y=(100 * d[lo]).to_list(), mode="lines",
                                         line=dict(width=0), fill="tonexty",
                                         fillcolor=rgba(colour, alpha), hoverinfo="skip",
                                         name=f"{plain(label)}: {name}", legendgroup=group,
                                         showlegend=legend_once(legend, group)),
                              row=r + 1, col=c + 1)
            custom = np.column_stack([100 * d[c_].to_numpy() for c_ in
                                      ("diff_mean_lo", "diff_mean_hi", "diff_p05", "diff_p95")]
                                     + [100 * d["prob_higher"].to_numpy()])
            fig.add_trace(scatter(
                x=x, y=(100 * d["diff_mean"]).to_list(), mode="lines",
                line=dict(color=colour, width=2), name=f"{plain(label)}: mean difference",
                legendgroup=f"{label} mean", showlegend=legend_once(legend, f"{label} mean"),
                customdata=custom,
                hovertemplate=("%{x}: %{y:+.2f} pts (90% CI %{customdata[0]:+.2f} to "
                               "%{customdata[1]:+.2f})<br>90% of pairs: %{customdata[2]:+.1f} to "
                               "%{customdata[3]:+.1f}<br>higher in %{customdata[4]:.0f}% of pairs"
                               f"<extra>{plain(label)}</extra>")), row=r + 1, col=c + 1)
        fig.add_hline(0, dict(color="#444", width=1), row=r + 1, col=c + 1)
        fig.update_yaxes(ticksuffix=" pts", row=r + 1, col=c + 1)
    add_milestones(fig, len(panels), cols)
    finish(fig, title, panel_height * rows + 170, [p.title for p in panels])
    fig.update_xaxes(dtick=5)
    fig.update_yaxes(zeroline=False)
    return fig


def probability_figure(tables: dict[str, pl.DataFrame], targets: Sequence[UnTarget],
                       n: int) -> Chart:
    """P(meet) of every target by its year, one line per scenario, Wilson 90% error bars."""
    series = list(dict.fromkeys(t.series for t in targets if t.series))
    cols = min(2, len(series))
    rows = math.ceil(len(series) / cols)
    titles = [next(category_title(t) for t in targets if t.series == s) for s in series]
    fig = subplot_grid(rows, cols, titles, horizontal_spacing=0.07,
                       vertical_spacing=min(0.15, 0.4 / rows))
    legend: set[str] = set()
    lo, hi = min(t.year for t in targets), max(t.year for t in targets)
    width = 0.25 / max(1, len(tables) - 1)   # side by side, so equal probabilities stay visible
    for i, sid in enumerate(series):
        r, c = divmod(i, cols)
        for k, (label, table) in enumerate(tables.items()):
            own = table.filter((pl.col("series") == sid) & pl.col("prob_meet").is_not_null()
                               ).sort("year")
            if own.is_empty():
                continue
            p = own["prob_meet"].to_numpy()
            bounds = np.column_stack(wilson(p * n, n))
            colour = COLOURS[k % len(COLOURS)]
            dodge = (k - (len(tables) - 1) / 2) * width
            fig.add_trace(scatter(
                x=own["year"].to_numpy() + dodge, y=p, mode="lines+markers",
                line=dict(color=colour, width=2), marker=dict(size=7),
                error_y=dict(type="data", symmetric=False, array=bounds[:, 1] - p,
                             arrayminus=p - bounds[:, 0], color=rgba(colour, 0.6)),
                name=plain(label), legendgroup=label, showlegend=legend_once(legend, label),
                customdata=np.column_stack([bounds, own["target"].to_numpy(),
                                            own["year"].to_numpy()]),
                hovertemplate=("%{customdata[3]} (target %{customdata[2]:.0%}): P(meet) %{y:.0%} "
                               "(90%: %{customdata[0]:.0%}–%{customdata[1]:.0%})"
                               f"<extra>{plain(label)}</extra>")), row=r + 1, col=c + 1)
        fig.update_yaxes(tickformat=".0%", range=[-0.03, 1.03], row=r + 1, col=c + 1)
    finish(fig, "Probability of meeting each target in its year", 280 * rows + 150, titles)
    fig.update_xaxes(range=[lo - 0.5, hi + 0.5], dtick=1)
    return fig


# -- the page ------------------------------------------------------------------------------------


def _direction(e: dict[str, Any]) -> str:
    """The cell's colour: up or down, 'sure' when the 90% interval of the paired mean excludes
    zero; flat when every paired difference is zero (the lever does not reach the target)."""
    mean, lo, hi = e["diff_mean"], e["diff_mean_lo"], e["diff_mean_hi"]
    if not finite(mean):
        return ""
    if mean == 0 and e["diff_p05"] == 0 and e["diff_p95"] == 0:
        return "flat"
    if lo > 0 or hi < 0:
        return "up-sure" if mean > 0 else "down-sure"
    return "up" if mean > 0 else "down"


def _chance(p: float | None) -> str:
    return pct(p, 0) if finite(p) else "n/a"


def effect_matrix(effects: pl.DataFrame, labels: Sequence[str], reference: str,
                  targets: Sequence[UnTarget], n: int
                  ) -> tuple[list[str], list[tuple[str, list[tuple[list[str], str]]]]]:
    """Lever x target: the paired effect on each headline target in its year (points, 90%
    interval) and the change in the chance of meeting it."""
    shown = [t for t in headline_targets(targets) if t.series is not None]
    header = [f"lever (vs {reference})",
              *(f"{category_title(t)}: {pct(t.target, 0)} by {t.year}" for t in shown)]
    rows = []
    for label in labels[1:]:
        own = {r["target_id"]: r for r in effects.filter(pl.col("scenario") == label)
               .iter_rows(named=True)}
        cells: list[tuple[list[str], str]] = []
        for t in shown:
            e = own.get(t.target_id)
            if e is None:
                cells.append((["not in the years compared"], ""))
                continue
            direction = _direction(e)
            chance = (f"chance {_chance(e['prob_meet_reference'])} → "
                      f"{_chance(e['prob_meet_scenario'])}")
            if direction == "flat":
                cells.append((["no effect", chance], direction))
                continue
            if not finite(e["diff_mean"]):
                cells.append((["nothing to pair: no posts in one of the two", chance], ""))
                continue
            lo, hi = e["diff_mean_lo"], e["diff_mean_hi"]
            holds = e.get("sign_holds")
            robust = ([f"sign holds in {holds:.0%} of draws"]
                      if holds is not None and holds >= SIGN_HOLDS else [])
            cells.append(([points(e["diff_mean"]), f"({100 * lo:+.1f} to {100 * hi:+.1f})",
                           *robust, chance], direction))
        rows.append((label, cells))
    return header, rows


MATRIX_KEY = ("Each cell: the paired effect on women's share in the target's year, in "
              "percentage points with its 90% interval, and the chance of meeting the target, "
              "reference → lever. Dark green / dark red: the interval excludes zero (the effect's "
              "sign is certain at this precision); light: direction only; grey: no effect in "
              "any replication (the lever does not reach this group). 'Sign holds in x% of "
              "draws': the paired difference has the mean's sign in at least "
              f"{SIGN_HOLDS:.0%} of the replications, each under its own draw of the "
              "parameters (target_effects.csv, sign_holds): the effect's direction does not "
              "hang on the uncertain parameters.")


def comparison_report(pairing: Pairing, summaries: dict[str, pl.DataFrame],
                      differences: pl.DataFrame, tables: dict[str, pl.DataFrame],
                      effects: pl.DataFrame, targets: Sequence[UnTarget],
                      observed: pl.DataFrame, fitted: Fitted, years: Sequence[int],
                      warnings: Sequence[str] = (), drawn: bool = False) -> str:
    labels, reference = pairing.labels, pairing.labels[0]
    last, n = years[-1], pairing.replications
    page = Page("Comparison: " + " vs ".join(labels))
    with page.section("summary", "verdict"):
        page.heading("What each lever does to the targets")
        page.matrix(*effect_matrix(effects, labels, reference, targets, n))
        page.text(MATRIX_KEY, note=True)
        if warnings:
            more = f" (and {len(warnings) - 1} more scenarios, listed below)" \
                if len(warnings) > 1 else ""
            page.warning(warnings[0] + more)
    if len(warnings) > 1:
        with page.details("Monte Carlo precision of every scenario"):
            for text in warnings:
                page.text(text, note=True)
    page.text(f"Reference: {reference}. Every effect is scenario minus reference, replication by "
              f"replication: all scenarios ran with seed {pairing.seed} and replications 0-"
              f"{n - 1}, so replication r of each meets the same random draws wherever the "
              "levers leave them alone (common random numbers)"
              + (" and runs under the same draw of the parameters, so each effect is "
                 "evaluated across their uncertainty" if drawn else "") + ". Years compared: "
              f"{years[0]}-{last}. wps-deploy-sim {__version__}.", note=True)
    for note in pairing.notes:
        page.text(note, note=True)
    page.table(["scenario", "description", "years", "replications", "seed"],
               [[lab, s.description, f"{s.start_year}-{s.horizon}", s.replications, s.seed]
                for lab, s in zip(labels, pairing.scenarios)])
    page.heading("What differs between the scenarios")
    diff_params = differing_parameters(pairing, fitted)
    if diff_params:
        page.table(["parameter", *labels, "unit", "schema provenance"], diff_params)
    else:
        page.text("No parameter differs: the scenarios are the same model (only names differ).")

    shown = shown_targets(targets, last)
    for label in labels[1:]:
        page.heading(f"Effect on each target: {label} vs {reference}")
        page.text(first_difference_text(differences, label, reference), note=True)
        page.table(EFFECT_HEADER, effect_rows(effects, tables, label, reference, shown, n),
                   numeric=(1, 2, 3, 4, 5, 6, 7, 8))
        with page.details("Every yearly target (including the interpolated UN years)"):
            every = [t for t in targets if t.series and t.year <= last]
            page.table(EFFECT_HEADER, effect_rows(effects, tables, label, reference, every, n),
                       numeric=(1, 2, 3, 4, 5, 6, 7, 8))
    page.text("Paired mean: the average over replications of (scenario − reference) in the "
              "target year, with its 90% confidence interval (± 1.645 standard errors of the "
              "paired mean). '90% of paired differences': how much a single replication's "
              "effect varies. P(meet): share of replications at or above the target (90% "
              "Wilson interval); its change is the paired mean of the indicator differences. "
              + interval_note(drawn), note=True)

    page.heading("Years gained or lost")
    page.table(["target", "target share", f"{reference}: first year the median reaches it",
                *(h for lab in labels[1:]
                  for h in (f"{lab}: first year", f"{lab} vs {reference}"))],
               gain_rows(effects, labels, shown, last))
    page.text("First year the median forecast reaches the target's share (any year of the run). "
              "'Gains 2 years': reaches it two years before the reference. The interval comes "
              f"from {BOOTSTRAP} paired bootstrap resamples of the replications; a median that "
              f"never gets there counts as {last + 1}, so such differences are 'at least'.",
              note=True)

    page.heading("Probability of meeting each target, per scenario")
    page.table(["target", "year", "target share", *(f"{lab}: P(meet) (90%)" for lab in labels)],
               probability_rows(tables, shown, n), numeric=tuple(range(1, 3 + len(labels))))
    page.figure(probability_figure(tables, [t for t in targets if t.series and t.year <= last], n))

    forecasts = list(summaries.items())
    page.heading("The forecasts overlaid")
    page.text("Median and 90% band of each scenario; diamonds: UN yearly targets (open: "
              "interpolated); orange points: the plan's figures. Dashed lines: "
              + "; ".join(m.label for m in MILESTONES) + ".", note=True)
    panels = deployed_panels()
    un, national = target_panels(targets, "un_dpo"), target_panels(targets, "national")
    page.figure(fan_figure("Deployed personnel per agency", panels, forecasts, targets, observed,
                           cols=3, panel_height=360))
    page.figure(fan_figure("Per UN category", un, forecasts, targets, observed))
    if national:
        page.figure(fan_figure("National targets", national, forecasts, targets, observed))

    page.heading(f"Paired differences from {reference}")
    page.text("Dark band: 90% confidence interval of the mean effect; light band: 90% of the "
              "paired replications. Above zero: the scenario has a higher share of women.",
              note=True)
    page.figure(difference_figure("Deployed personnel per agency", panels, differences,
                                  labels[1:], cols=3, panel_height=330))
    page.figure(difference_figure("Per UN category and national target", [*un, *national],
                                  differences, labels[1:]))
    workforce = pipeline_panels(observed, [p.series for p in (*panels, *un, *national)])
    if workforce:
        page.text("The workforce behind the deployments: where a lever on recruitment, "
                  "conscription or retention shows first, years before it reaches the "
                  "deployed.", note=True)
        page.figure(difference_figure("Women's share in the workforce (series the plan gives "
                                      "figures for)", workforce, differences, labels[1:],
                                      cols=3, panel_height=260))

    page.heading("Inputs")
    page.table(["input", "provenance", "what it holds"], input_rows(observed, targets, fitted))
    page.text("Each scenario's own report (python run_scenario.py run FILE) lists every parameter "
              "with its provenance; the table at the top lists those that differ.", note=True)
    return page.render()
