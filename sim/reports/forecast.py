"""The scenario report: what a planner opens after ``run``.

A run's replications become one self-contained HTML page (``report.html``) and one table
(``targets.csv``). The page answers, in order: will the UN DPO and national targets be met
(the headline table: median forecast, 90% interval, probability of meeting each target); how
women's share among deployed personnel moves per agency and per UN category, against the UN's
yearly targets and the plan's own figures (fan charts); what the pipelines behind it hold (stocks
by gender and stage); how people flow from intake through service to deployment in a chosen year
(Sankey diagrams); and where every input comes from (provenance).

Every interval is the 5th-95th percentile over the run's replications: the noise of people and
draws with the parameters fixed. Parameter uncertainty is the calibration report's subject; the
page says so rather than letting a narrow band look like certainty.

The pieces that draw a forecast against targets (fan traces, target markers, the plan's points,
the milestones) are shared with the comparison report (``sim.reports.compare``).
"""

from __future__ import annotations

import math
import numbers
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots
from pydantic import BaseModel

from sim import __version__
from sim.scenario.dated import EPOCH, Dated, date_of_month, month_number
from sim.scenario.loading import merge
from sim.runs.outputs import write_csv, write_text
from sim.reports.page import Page, esc
from sim.scenario.schema import REFORM_DATE, Scenario
from sim.model.series import AF, BY_ID, DEMA, DESTINATIONS, POLICE
from sim.scenario.targets import UnTarget, evaluate, load_targets

ROOT = Path(__file__).resolve().parents[2]
OBSERVED_CSV = ROOT / "calibration" / "observed.csv"
FITTED_TOML = ROOT / "calibration" / "fitted.toml"

INTERVAL_NOTE = ("Intervals are 5th-95th percentiles over the replications (90%), the 50% band "
                 "the 25th-75th: the spread from people and random draws with the parameters "
                 "fixed. Uncertainty in the calibrated parameters is not in these bands (see "
                 "the calibration report).")

# -- shared pieces: milestones, formatting, colours ---------------------------------------------


@dataclass(frozen=True)
class Milestone:
    """A date the plan or the UN holds the forecast to, drawn as a vertical line."""

    x: float          # fractional year on the charts' axis
    short: str
    label: str


MILESTONES = (
    Milestone(REFORM_DATE.year + (REFORM_DATE.month - 1) / 12, "1 Jul 2025",
              f"{REFORM_DATE:%-d %B %Y}: equal conscription (as legislated)"),
    Milestone(2027, "review 2027", "2027: the plan's mid-term review"),
    Milestone(2028, "UN 2028", "2028: the UN DPO targets"),
    Milestone(2029, "plan ends", "2029: the plan ends"),
)

COLOURS = ("#1f5f9e", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#16a085", "#7f8c8d")
WOMEN_COLOUR, MEN_COLOUR = "#94346e", "#3a6ea5"
TARGET_COLOUR, OBSERVED_COLOUR = "#111111", "#e67e22"
AGENCY_NAMES = {AF: "Armed Forces", DEMA: "DEMA", POLICE: "Police"}


def rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def finite(x: Any) -> bool:
    """A real number that is not NaN or infinite (numpy scalars included)."""
    return isinstance(x, numbers.Real) and math.isfinite(x)


def pct(x: float | None, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%" if finite(x) else "n/a"


def pct_interval(mid: float | None, lo: float | None, hi: float | None) -> str:
    """``12.3% (10.1-14.0%)``: a median with its 90% interval."""
    if not finite(mid):
        return "n/a"
    return f"{pct(mid)} ({100 * lo:.1f}–{pct(hi)})" if finite(lo) and finite(hi) else pct(mid)


def count_interval(mid: float, lo: float, hi: float) -> str:
    return f"{mid:,.0f} ({lo:,.0f}–{hi:,.0f})"


Z90 = 1.6449   # standard normal 95th percentile: two-sided 90% intervals


def wilson(p: float, n: int, z: float = Z90) -> tuple[float, float]:
    """Wilson score interval of a proportion from ``n`` replications.

    Unlike ``p ± z se`` it does not collapse to a point at 0% or 100%: 0 of 20 replications
    meeting a target still leaves a chance of up to about 12%.
    """
    if n <= 0:
        return 0.0, 1.0
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def probability(p: float | None, n: int) -> str:
    """A probability with its Monte Carlo 90% interval: ``42% (30–55%)``."""
    if not finite(p):
        return "n/a"
    lo, hi = wilson(p, n)
    return f"{100 * p:.0f}% ({100 * lo:.0f}–{100 * hi:.0f}%)"


def series_title(series_id: str) -> str:
    return BY_ID[series_id].description if series_id in BY_ID else series_id


CATEGORY_NAMES = {"staff_officers_observers": "staff officers and military observers",
                  "police_overall": "overall police forces",
                  "dema_managers": "DEMA office and unit managers",
                  "police_leaders": "police officers in leadership"}


def category_title(target: UnTarget) -> str:
    """``un.military_contingents.2028`` -> ``UN military contingents``."""
    kind, category = target.target_id.split(".")[:2]
    prefix = "UN" if kind == "un" else "National:"
    return f"{prefix} {CATEGORY_NAMES.get(category, category.replace('_', ' '))}"


# -- reading the data the report shows ----------------------------------------------------------


def load_observed(path: Path = OBSERVED_CSV) -> pl.DataFrame:
    """The plan's figures that a model series is held to (``use = calibrate``)."""
    frame = pl.read_csv(path, schema_overrides={"count": pl.Float64})
    return frame.filter(pl.col("use") == "calibrate").select(
        "series", "year", "measure", "value", "source")


def load_fitted(path: Path = FITTED_TOML) -> dict[str, Any]:
    """The calibration's fitted parameters (a nested scenario fragment), if the file exists."""
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        params = tomllib.load(fh).get("parameters", {})
    return params if isinstance(params, dict) else {}


# -- targets.csv ---------------------------------------------------------------------------------


def target_table(runs: pl.DataFrame, targets: Sequence[UnTarget], horizon: int) -> pl.DataFrame:
    """One row per target the horizon reaches: the forecast (``sim.scenario.targets.evaluate``) plus the
    target's kind, status and confidence, the Monte Carlo error of ``prob_meet``, and the
    targets no model series stands for (formed police units), with empty forecasts."""
    forecast = evaluate(runs, tuple(targets), horizon)
    n = runs["replication"].n_unique()
    info = pl.DataFrame([{"target_id": t.target_id, "kind": t.kind, "status": t.status,
                          "confidence": t.confidence, "modelled": t.series is not None,
                          "series_": t.series, "year_": t.year, "target_": t.target}
                         for t in targets if t.year <= horizon],
                        schema={"target_id": pl.Utf8, "kind": pl.Utf8, "status": pl.Utf8,
                                "confidence": pl.Utf8, "modelled": pl.Boolean,
                                "series_": pl.Utf8, "year_": pl.Int64, "target_": pl.Float64})
    table = info.join(forecast, on="target_id", how="left", maintain_order="left")
    return table.with_columns(
        pl.col("series").fill_null(pl.col("series_")),
        pl.col("year").fill_null(pl.col("year_")),
        pl.col("target").fill_null(pl.col("target_")),
        (pl.col("prob_meet") * (1 - pl.col("prob_meet")) / n).sqrt().alias("prob_meet_se"),
        pl.lit(n, pl.Int64).alias("n_replications"),
    ).select("target_id", "series", "year", "target", "p05", "p50", "p95", "prob_meet",
             "first_year_p50", "prob_meet_se", "n_replications", "kind", "status", "confidence",
             "modelled")


# -- fan charts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    series: str
    title: str


def band(summary: pl.DataFrame, series: str) -> pl.DataFrame:
    """Year, quantiles and mean of one series' share (years with no one in the group dropped)."""
    return (summary.filter(pl.col("series") == series)
            .drop_nulls("share_p50").sort("year")
            .select("year", "share_p05", "share_p25", "share_p50", "share_p75", "share_p95",
                    "share_mean", "n_replications"))


def add_fan(fig: go.Figure, b: pl.DataFrame, row: int, col: int, colour: str, label: str,
            legend: set[str], inner: bool = True) -> None:
    """Median line with its 90% band (and the 50% band if ``inner``); hover shows both."""
    x = b["year"].to_list()
    bands = [("share_p05", "share_p95", 0.15, "90%")]
    if inner:
        bands.append(("share_p25", "share_p75", 0.3, "50%"))
    for lo, hi, alpha, name in bands:
        group = f"{label} {name}"
        fig.add_trace(go.Scatter(x=x, y=b[hi].to_list(), mode="lines", line=dict(width=0),
                                 hoverinfo="skip", showlegend=False, legendgroup=group),
                      row=row, col=col)
        fig.add_trace(go.Scatter(x=x, y=b[lo].to_list(), mode="lines", line=dict(width=0),
                                 fill="tonexty", fillcolor=rgba(colour, alpha), hoverinfo="skip",
                                 name=f"{plain(label)}: {name} band", legendgroup=group,
                                 showlegend=legend_once(legend, group)), row=row, col=col)
    custom = np.column_stack([b[c].to_numpy() for c in
                              ("share_p25", "share_p75", "share_p05", "share_p95")])
    fig.add_trace(go.Scatter(
        x=x, y=b["share_p50"].to_list(), mode="lines", line=dict(color=colour, width=2),
        name=f"{plain(label)}: median", legendgroup=f"{label} median",
        showlegend=legend_once(legend, f"{label} median"), customdata=custom,
        hovertemplate=("%{x}: median %{y:.1%}<br>50%: %{customdata[0]:.1%}–%{customdata[1]:.1%}"
                       "<br>90%: %{customdata[2]:.1%}–%{customdata[3]:.1%}"
                       f"<extra>{plain(label)}</extra>")), row=row, col=col)


def add_targets(fig: go.Figure, targets: Iterable[UnTarget], row: int, col: int,
                legend: set[str]) -> None:
    """The yearly target line: stated targets filled, interpolated ones open and dashed."""
    ts = sorted(targets, key=lambda t: t.year)
    if not ts:
        return
    if len(ts) > 1:
        fig.add_trace(go.Scatter(x=[t.year for t in ts], y=[t.target for t in ts], mode="lines",
                                 line=dict(color=TARGET_COLOUR, width=1, dash="dot"),
                                 hoverinfo="skip", showlegend=False), row=row, col=col)
    for status, symbol, name in (("stated", "diamond", "target (stated)"),
                                 ("interpolated", "diamond-open",
                                  "target (interpolated, not a published figure)")):
        own = [t for t in ts if t.status == status]
        if not own:
            continue
        fig.add_trace(go.Scatter(
            x=[t.year for t in own], y=[t.target for t in own], mode="markers",
            marker=dict(symbol=symbol, size=9, color=TARGET_COLOUR,
                        line=dict(color=TARGET_COLOUR, width=1.5)),
            name=name, legendgroup=name, showlegend=legend_once(legend, name),
            customdata=[[t.target_id, t.confidence] for t in own],
            hovertemplate=(f"%{{customdata[0]}}: %{{y:.0%}} ({status}, confidence "
                           "%{customdata[1]})<extra></extra>")), row=row, col=col)


def add_observed(fig: go.Figure, observed: pl.DataFrame, series: str, row: int, col: int,
                 legend: set[str]) -> None:
    own = observed.filter(pl.col("series") == series).sort("year")
    if own.is_empty():
        return
    name = "the plan's figure (observed)"
    fig.add_trace(go.Scatter(
        x=own["year"].to_list(), y=own["value"].to_list(), mode="markers",
        marker=dict(symbol="circle", size=10, color=OBSERVED_COLOUR,
                    line=dict(color="#000", width=1)),
        name=name, legendgroup=name, showlegend=legend_once(legend, name),
        customdata=[[m] for m in own["measure"].to_list()],
        hovertemplate="plan, %{x}: %{y:.1%} (%{customdata[0]})<extra></extra>"),
        row=row, col=col)


def add_milestones(fig: go.Figure, n_panels: int, cols: int) -> None:
    """Vertical lines at the milestones in every panel, labelled in the first row.

    Shapes and labels are set in one layout update: Plotly's ``add_vline`` re-validates every
    shape on each call, which is quadratic in their number.
    """
    shapes, labels = list(fig.layout.shapes), list(fig.layout.annotations)
    for i in range(n_panels):
        x, y = ("x", "y") if i == 0 else (f"x{i + 1}", f"y{i + 1}")
        for m in MILESTONES:
            shapes.append(dict(type="line", x0=m.x, x1=m.x, xref=x, y0=0, y1=1,
                               yref=f"{y} domain", line=dict(color="#999", width=1, dash="dash")))
            if i < cols:
                labels.append(dict(x=m.x, y=1.0, xref=x, yref=f"{y} domain", text=m.short,
                                   showarrow=False, textangle=-90, xanchor="right",
                                   yanchor="top", font=dict(size=9, color="#666")))
    fig.update_layout(shapes=shapes, annotations=labels)


def panel_grid(panels: Sequence[Panel], cols: int) -> tuple[go.Figure, int, int]:
    """An empty grid of small multiples, one titled panel per series, `cols` wide at most."""
    cols = min(cols, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[p.title for p in panels],
                        horizontal_spacing=0.07, vertical_spacing=min(0.12, 0.35 / rows))
    return fig, rows, cols


def fan_figure(title: str, panels: Sequence[Panel], forecasts: Sequence[tuple[str, pl.DataFrame]],
               targets: Sequence[UnTarget], observed: pl.DataFrame, cols: int = 2,
               panel_height: int = 330) -> go.Figure:
    """One panel per series: each forecast's fan, the series' targets and the plan's figures.

    With one forecast the 50% and 90% bands are drawn; with several (a comparison) only the
    90% band, so the overlaid fans stay readable.
    """
    fig, rows, cols = panel_grid(panels, cols)
    legend: set[str] = set()
    for i, p in enumerate(panels):
        r, c = divmod(i, cols)
        for k, (label, summary) in enumerate(forecasts):
            b = band(summary, p.series)
            if b.height:
                add_fan(fig, b, r + 1, c + 1, COLOURS[k % len(COLOURS)], label, legend,
                        inner=len(forecasts) == 1)
        add_targets(fig, [t for t in targets if t.series == p.series], r + 1, c + 1, legend)
        add_observed(fig, observed, p.series, r + 1, c + 1, legend)
        fig.update_yaxes(tickformat=".0%", rangemode="tozero", row=r + 1, col=c + 1)
    add_milestones(fig, len(panels), cols)
    finish(fig, title, panel_height * rows + 170, [p.title for p in panels])
    fig.update_xaxes(dtick=5)
    return fig


def finish(fig: go.Figure, title: str, height: int, panel_titles: Sequence[str] = ()) -> None:
    """The look every chart shares: white panels, light grids, the legend below, small panel
    titles (so long ones fit at laptop widths)."""
    fig.update_layout(title=dict(text=plain(title), x=0.01), height=height, hovermode="closest",
                      plot_bgcolor="white", legend=dict(orientation="h", y=-0.06, yanchor="top",
                                                        x=0, font=dict(size=11)))
    fig.update_xaxes(showgrid=True, gridcolor="#eee")
    fig.update_yaxes(showgrid=True, gridcolor="#eee")
    titles = set(panel_titles)
    for a in fig.layout.annotations:
        if a.text in titles:
            a.font = dict(size=12)


def legend_once(seen: set[str], name: str) -> bool:
    """Show a legend entry once per figure."""
    if name in seen:
        return False
    seen.add(name)
    return True


def plain(text: str) -> str:
    """Text for Plotly labels, which render a subset of HTML: escape it, as everywhere else."""
    return esc(text)


def deployed_panels() -> list[Panel]:
    return [Panel(s, series_title(s) + f" ({BY_ID[s].measure.replace('_', ' ')})")
            for s in ("armed_forces.deployed", "dema.posted", "police.posted")]


def target_panels(targets: Sequence[UnTarget], kind: str) -> list[Panel]:
    """One panel per series that a target of ``kind`` is held against, in the file's order."""
    out: dict[str, Panel] = {}
    for t in targets:
        if t.kind == kind and t.series and t.series not in out:
            agency = AGENCY_NAMES[BY_ID[t.series].agency]
            what = "all posted police (proxy)" if t.target_id.startswith("un.police_overall") \
                else agency
            out[t.series] = Panel(t.series, f"{category_title(t)}: {what}")
    return list(out.values())


def pipeline_panels(observed: pl.DataFrame, shown: Iterable[str]) -> list[Panel]:
    """The other series the plan gives figures for (the workforce behind the deployments)."""
    skip = set(shown)
    ids = [s for s in dict.fromkeys(observed["series"].to_list()) if s in BY_ID and s not in skip]
    return [Panel(s, series_title(s)) for s in ids]


# -- the headline table --------------------------------------------------------------------------


def headline_rows(table: pl.DataFrame, targets: Sequence[UnTarget], horizon: int,
                  stated_only: bool = True) -> tuple[list[list[Any]], list[str]]:
    rows, classes = [], []
    by_id = {r["target_id"]: r for r in table.iter_rows(named=True)}
    for t in targets:
        if stated_only and t.status != "stated":
            continue
        r = by_id.get(t.target_id)
        if t.series is None:
            forecast, prob, first, cls = "not modelled (Denmark sends none)", "", "", ""
        elif r is None or r["p50"] is None:
            why = f"after the horizon ({horizon})" if t.year > horizon else "no forecast"
            forecast, prob, first, cls = why, "", "", ""
        else:
            forecast = pct_interval(r["p50"], r["p05"], r["p95"])
            prob = probability(r["prob_meet"], r["n_replications"])
            first = str(r["first_year_p50"]) if r["first_year_p50"] is not None else \
                f"not by {horizon}"
            cls = "meets" if r["prob_meet"] >= 0.9 else "misses" if r["prob_meet"] <= 0.1 else ""
        rows.append([category_title(t), t.year, pct(t.target, 0),
                     f"{t.status}, {t.confidence}", series_title(t.series) if t.series else "—",
                     forecast, prob, first])
        classes.append(cls)
    return rows, classes


HEADLINE_HEADER = ("target", "year", "target share", "status, confidence", "held against",
                   "median forecast (90% interval)", "P(meet) (90% MC interval)",
                   "first year the median reaches it")


# -- pipeline stocks -----------------------------------------------------------------------------

STAGE_SERIES = {
    AF: ("armed_forces.conscripts.serving", "armed_forces.rank_and_file",
         "armed_forces.leaders"),
    DEMA: ("dema.uniformed", "dema.civilian", "dema.managers", "dema.international_pool"),
    POLICE: ("police.students", "police.cadets", "police.officers", "police.leaders"),
}


def stock_quantiles(runs: pl.DataFrame, series: Iterable[str]) -> pl.DataFrame:
    """Per year and series: women's and men's head counts, median and 90% interval."""
    frame = runs.filter(pl.col("series").is_in(list(series))).with_columns(
        (pl.col("total") - pl.col("women")).alias("men"))
    aggs = []
    for who in ("women", "men"):
        for q in (0.05, 0.5, 0.95):
            aggs.append(pl.col(who).quantile(q, "linear").alias(f"{who}_p{round(q * 100):02d}"))
    return frame.group_by("series", "year").agg(*aggs).sort("series", "year")


def stocks_figure(runs: pl.DataFrame) -> go.Figure:
    """Rows = agencies, columns = stages; women and men in each, with 90% bands."""
    q = stock_quantiles(runs, [s for ss in STAGE_SERIES.values() for s in ss])
    cols = max(len(v) for v in STAGE_SERIES.values())
    titles = []
    for agency, ids in STAGE_SERIES.items():
        titles += [f"{AGENCY_NAMES[agency]}: {_stage_title(s)}" for s in ids]
        titles += [""] * (cols - len(ids))
    fig = make_subplots(rows=len(STAGE_SERIES), cols=cols, subplot_titles=titles,
                        horizontal_spacing=0.06, vertical_spacing=0.1)
    legend: set[str] = set()
    for r, (agency, ids) in enumerate(STAGE_SERIES.items(), start=1):
        for c, sid in enumerate(ids, start=1):
            own = q.filter(pl.col("series") == sid)
            x = own["year"].to_list()
            for who, colour in (("women", WOMEN_COLOUR), ("men", MEN_COLOUR)):
                fig.add_trace(go.Scatter(x=x, y=own[f"{who}_p95"].to_list(), mode="lines",
                                         line=dict(width=0), hoverinfo="skip",
                                         showlegend=False), row=r, col=c)
                fig.add_trace(go.Scatter(x=x, y=own[f"{who}_p05"].to_list(), mode="lines",
                                         line=dict(width=0), fill="tonexty",
                                         fillcolor=rgba(colour, 0.2), hoverinfo="skip",
                                         showlegend=False), row=r, col=c)
                custom = np.column_stack([own[f"{who}_p05"].to_numpy(),
                                          own[f"{who}_p95"].to_numpy()])
                fig.add_trace(go.Scatter(
                    x=x, y=own[f"{who}_p50"].to_list(), mode="lines",
                    line=dict(color=colour, width=2), name=f"{who} (median, 90% band)",
                    legendgroup=who, showlegend=legend_once(legend, who), customdata=custom,
                    hovertemplate=(f"%{{x}}: {who} %{{y:,.0f}} (90%: %{{customdata[0]:,.0f}}–"
                                   "%{customdata[1]:,.0f})<extra></extra>")), row=r, col=c)
            fig.update_yaxes(rangemode="tozero", row=r, col=c)
    finish(fig, "Head counts by stage and gender", 290 * len(STAGE_SERIES) + 130,
           [t for t in titles if t])
    fig.update_xaxes(dtick=5)
    return fig


def _stage_title(series_id: str) -> str:
    s = BY_ID[series_id]
    measure = {"stock_avg": "yearly average", "stock_end": "31 December"}.get(s.measure, s.measure)
    text = s.description
    for prefix in ("Armed Forces ", "DEMA ", "Police "):
        text = text.removeprefix(prefix)
    return f"{text} ({measure})"


# -- flows: the Sankey diagrams ------------------------------------------------------------------

Term = tuple[int, str, str]   # (sign, quantity, series): quantity in start|end|entries|exits|value


@dataclass(frozen=True)
class Flow:
    """One link of a Sankey diagram and the output columns it is computed from."""

    source: str
    target: str
    terms: tuple[Term, ...]
    counts: str                  # what the link counts, in words


def _destination(series_id: str) -> str:
    return BY_ID[series_id].description.split(" to ", 1)[-1]


def agency_flows(agency: str) -> tuple[Flow, ...]:
    """The links for one agency, each derived from runs.parquet columns of stock series
    (start = last year's ``total_end``, ``entries``, ``exits``, ``total_end``) and of flow and
    deployment series (their yearly ``women``/``total``)."""
    if agency == AF:
        c, m = "armed_forces.conscripts.serving", "armed_forces.military"
        deployed = [f"armed_forces.deployed.{d}" for d in DESTINATIONS[AF]]
        staff = "Military staff (rank and file, leaders)"
        return (
            Flow("Called up as conscripts", "Conscript service", ((1, "entries", c),),
                 "people called up in the year (entries into conscript service)"),
            Flow("Conscripts serving on 1 January", "Conscript service", ((1, "start", c),),
                 "conscripts in service at the start of the year"),
            Flow("Conscript service", "Left conscript service (finished, continued or dropped "
                 "out)", ((1, "exits", c),), "conscripts whose service ended in the year, "
                 "whether they continued into the staff, finished or dropped out (the outputs "
                 "do not separate these)"),
            Flow("Conscript service", "Conscripts serving on 31 December", ((1, "end", c),),
                 "conscripts still in service at the end of the year"),
            Flow("Entered the staff (continuing conscripts, direct recruits)", staff,
                 ((1, "entries", m),), "people who joined the rank and file in the year, from "
                 "conscription or by direct recruitment (not separated in the outputs)"),
            Flow("Military staff on 1 January", staff, ((1, "start", m),),
                 "military staff at the start of the year"),
            *(Flow(staff, f"Deployed: {_destination(s)}", ((1, "value", s),),
                   f"distinct persons deployed to {_destination(s)} during the year "
                   "(abroad on 1 January counts)") for s in deployed),
            Flow(staff, "Left the military staff", ((1, "exits", m),),
                 "staff who left the Armed Forces in the year"),
            Flow(staff, "Not deployed (staff on 31 December, net)",
                 ((1, "end", m), *((-1, "value", s) for s in deployed)),
                 "staff on 31 December minus the persons deployed in the year (someone deployed "
                 "who also left is subtracted twice, so this is a slight undercount)"),
        )
    if agency == DEMA:
        s, pool = "dema.staff", "dema.international_pool"
        posted = [f"dema.posted.{d}" for d in DESTINATIONS[DEMA]]
        staff = "DEMA staff (uniformed, civilian, managers)"
        pool_node = "International Personnel Pool on 31 December"
        return (
            Flow("Called up as conscripts", "DEMA conscript service",
                 ((1, "value", "dema.conscripts.intake"),), "people called up in the year"),
            Flow("DEMA conscript service", "Completed conscription",
                 ((1, "value", "dema.conscripts"),), "conscripts completing service in the "
                 "year (mostly called up the year before: not the same people as the call-ups)"),
            Flow("Entered the staff (continuing conscripts, recruits)", staff,
                 ((1, "entries", s),), "people who joined the staff in the year"),
            Flow("Staff on 1 January", staff, ((1, "start", s),),
                 "staff at the start of the year"),
            Flow(staff, "Left the staff", ((1, "exits", s),), "staff who left DEMA in the year"),
            Flow(staff, "Staff on 31 December", ((1, "end", s),), "staff at the end of the year"),
            *(Flow(pool_node, f"Posted on 31 December: {_destination(p)}", ((1, "value", p),),
                   f"pool members posted to {_destination(p)} on 31 December (a stock: the "
                   "plan's DEMA figures are stocks at a date)") for p in posted),
            Flow(pool_node, "Pool members at home on 31 December",
                 ((1, "value", pool), *((-1, "value", p) for p in posted)),
                 "pool members (staff and external) not posted on 31 December"),
        )
    st, cad, off = "police.students", "police.cadets", "police.officers"
    posted = [f"police.posted.{d}" for d in DESTINATIONS[POLICE]]
    education = "Police education (students, cadets)"
    force = "Police officers (incl. leaders)"
    return (
        Flow("Admitted to the academy", education, ((1, "entries", st),),
             "students admitted in the year"),
        Flow("Students and cadets on 1 January", education,
             ((1, "start", st), (1, "start", cad)), "students and cadets at the start of the year"),
        Flow(education, "Left the education", ((1, "exits", st), (1, "exits", cad),
                                               (-1, "entries", cad), (-1, "entries", off)),
             "students and cadets who dropped out in the year"),
        Flow(education, "Students and cadets on 31 December", ((1, "end", st), (1, "end", cad)),
             "students and cadets at the end of the year"),
        Flow(education, force, ((1, "entries", off),),
             "cadets who became officers in the year (the only way into the officers)"),
        Flow("Officers on 1 January", force, ((1, "start", off),),
             "officers and leaders at the start of the year"),
        *(Flow(force, f"Posted: {_destination(p)}", ((1, "value", p),),
               f"distinct officers posted to {_destination(p)} during the year") for p in posted),
        Flow(force, "Left the police", ((1, "exits", off),), "officers who left in the year"),
        Flow(force, "Not posted (officers on 31 December, net)",
             ((1, "end", off), *((-1, "value", p) for p in posted)),
             "officers on 31 December minus those posted in the year (a slight undercount)"),
    )


QUANTITY_COLUMNS = {"start": ("women_end", "total_end"), "end": ("women_end", "total_end"),
                    "entries": ("entries_women", "entries_total"),
                    "exits": ("exits_women", "exits_total"), "value": ("women", "total")}


def flow_values(runs: pl.DataFrame, flows: Sequence[Flow], year: int) -> np.ndarray:
    """Per flow, gender (women, men) and replication: the link's value in ``year``.

    Shape ``[flow, 2, replication]``, replications in order. ``start`` reads the previous
    year's year-end stock, so ``year`` must be after the first simulated year.
    """
    needed = {s for f in flows for _, _, s in f.terms}
    frame = runs.filter(pl.col("series").is_in(list(needed))
                        & pl.col("year").is_in([year - 1, year])).sort("replication")
    cache: dict[tuple[str, str], np.ndarray] = {}

    def pair(quantity: str, series: str) -> np.ndarray:
        key = (quantity, series)
        if key not in cache:
            y = year - 1 if quantity == "start" else year
            rows = frame.filter((pl.col("series") == series) & (pl.col("year") == y))
            women_col, total_col = QUANTITY_COLUMNS[quantity]
            women = rows[women_col].fill_null(0).to_numpy().astype(float)
            total = rows[total_col].fill_null(0).to_numpy().astype(float)
            cache[key] = np.stack([women, total - women])
        return cache[key]

    return np.stack([sum(sign * pair(q, s) for sign, q, s in f.terms) for f in flows])


def sankey_figure(runs: pl.DataFrame, agency: str, years: Sequence[int], default: int) -> go.Figure:
    """One agency's flows, one link per gender; a menu picks the year. Link values are the
    mean over replications, the hover adds the 90% interval."""
    flows = agency_flows(agency)
    nodes = list(dict.fromkeys([n for f in flows for n in (f.source, f.target)]))
    source = [nodes.index(f.source) for f in flows for _ in (0, 1)]
    target = [nodes.index(f.target) for f in flows for _ in (0, 1)]
    colours = [rgba(c, 0.45) for _ in flows for c in (WOMEN_COLOUR, MEN_COLOUR)]
    per_year = {y: _sankey_links(flow_values(runs, flows, y), flows) for y in years}
    value, custom = per_year[default]
    fig = go.Figure(go.Sankey(
        arrangement="snap", valueformat=",.0f",
        node=dict(label=[plain(n) for n in nodes], pad=14, thickness=14,
                  color="#bbb", line=dict(color="#777", width=0.5),
                  hovertemplate="%{label}: %{value:,.0f} (mean, both genders)<extra></extra>"),
        link=dict(source=source, target=target, value=value, customdata=custom, color=colours,
                  hovertemplate="%{customdata}<extra></extra>")))
    title = (f"{AGENCY_NAMES[agency]}: flows in {{}} (purple = women, blue = men; "
             "mean of replications)")
    buttons = [dict(label=str(y), method="update",
                    args=[{"link.value": [per_year[y][0]], "link.customdata": [per_year[y][1]]},
                          {"title.text": title.format(y)}]) for y in years]
    fig.update_layout(title=dict(text=title.format(default), x=0.01), height=520,
                      font=dict(size=11), margin=dict(l=20, r=20, t=90, b=20),
                      updatemenus=[dict(buttons=buttons, direction="down", x=1.0, xanchor="right",
                                        y=1.13, yanchor="top", showactive=True,
                                        active=list(years).index(default))],
                      annotations=[dict(text="year:", x=0.87, xref="paper", y=1.11,
                                        yref="paper", showarrow=False, xanchor="right")])
    return fig


def _sankey_links(values: np.ndarray, flows: Sequence[Flow]) -> tuple[list[float], list[str]]:
    """Mean link values (negative means, impossible but for rounding, drawn as 0) and hovers."""
    mean = values.mean(axis=2)
    lo, hi = np.percentile(values, 5, axis=2), np.percentile(values, 95, axis=2)
    out_v, out_c = [], []
    for i, f in enumerate(flows):
        for g, who in enumerate(("Women", "Men")):
            out_v.append(round(max(float(mean[i, g]), 0.0), 2))
            out_c.append(f"{plain(f.source)} → {plain(f.target)}<br>{who}: "
                         f"{count_interval(mean[i, g], lo[i, g], hi[i, g])} (mean, 90% interval)")
    return out_v, out_c


def flow_table_rows(runs: pl.DataFrame, agency: str, year: int) -> list[list[Any]]:
    flows = agency_flows(agency)
    v = flow_values(runs, flows, year)
    rows = []
    for i, f in enumerate(flows):
        cells = []
        for g in (0, 1):
            x = v[i, g]
            cells.append(count_interval(x.mean(), np.percentile(x, 5), np.percentile(x, 95)))
        rows.append([f"{f.source} → {f.target}", f.counts, *cells])
    return rows


# -- provenance ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    key: str
    value: str
    unit: str
    source: str          # the schema's provenance text
    kind: str            # observed | calibrated | external | assumed
    origin: str          # where this run's value comes from
    doc: str


SKIP_KEYS = {"name", "description", "extends", "calibration", "meta"}
SET_BY_SCENARIO = "set by the scenario (or the command line)"


def same(a: Any, b: Any) -> bool:
    """Equal as the model sees them: a dated lever with one change is the constant it holds."""
    if isinstance(a, Dated) and isinstance(b, Dated):
        return a.dump() == b.dump()
    return a == b


def show_value(value: Any) -> str:
    """A parameter's value as a reader wants it: dated levers as ``date: value`` steps."""
    if isinstance(value, Dated):
        if value.is_constant:
            v = value.points[0].value
            return "off" if v is None else f"{v:g}"
        steps = []
        for p in value.points:
            when = "start" if p.month <= month_number(EPOCH) else f"{date_of_month(p.month):%Y-%m}"
            v = "off" if p.value is None else f"{p.value:g}"
            steps.append(f"{when}: {v}" + (" ↗ (linear)" if p.linear else ""))
        return "; ".join(steps)
    if value is None:
        return "never"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parameters(scenario: Scenario, fitted: dict[str, Any]) -> list[Parameter]:
    """Every parameter of the run: value, unit, provenance and where the value comes from."""
    defaults = Scenario(name=scenario.name)
    layered = Scenario.model_validate(merge(defaults.model_dump(mode="python"), fitted)) \
        if fitted else defaults
    fitted_keys = set(_flat_keys(fitted))
    out: list[Parameter] = []

    def walk(model: BaseModel, default: BaseModel, fit: BaseModel, prefix: str) -> None:
        for name, info in type(model).model_fields.items():
            if not prefix and name in SKIP_KEYS:
                continue
            value, key = getattr(model, name), prefix + name
            if isinstance(value, BaseModel):
                walk(value, getattr(default, name), getattr(fit, name), key + ".")
                continue
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            source = str(extra.get("source", "assumed"))
            if key in fitted_keys and same(value, getattr(fit, name)):
                origin = "fitted (calibration/fitted.toml)"
            elif not same(value, getattr(default, name)):
                origin = SET_BY_SCENARIO
            elif source.startswith("calibrated"):
                origin = "schema default (not fitted yet)"
            else:
                origin = "schema default"
            out.append(Parameter(key, show_value(value), str(extra.get("unit", "")), source,
                                 source.split()[0].split("(")[0].strip(";,") or "assumed",
                                 origin, info.description or ""))

    walk(scenario, defaults, layered, "")
    return out


def _flat_keys(tree: dict[str, Any], prefix: str = "") -> Iterable[str]:
    for k, v in tree.items():
        if isinstance(v, dict) and set(v) != {"linear"}:
            yield from _flat_keys(v, f"{prefix}{k}.")
        else:
            yield prefix + k


def input_rows(observed: pl.DataFrame, targets: Sequence[UnTarget],
               fitted: dict[str, Any]) -> list[list[str]]:
    """The data files behind a report and what kind of evidence each is."""
    return [
        ["calibration/observed.csv", "observed (the plan, §4 and §2)",
         f"{observed.height} figures the model is held to; drawn as points on the charts"],
        ["calibration/targets.csv", "external (UN Uniformed Gender Parity Strategy) and "
         "observed (the plan)", f"{len(targets)} targets; "
         f"{sum(t.status == 'interpolated' for t in targets)} interpolated (confidence L)"],
        ["calibration/fitted.toml", "calibrated",
         f"{len(set(_flat_keys(fitted)))} fitted parameters" if fitted else
         "no fitted parameters yet: calibrated parameters keep their schema defaults"],
        ["sim/scenario/schema.py", "schema defaults", "every other parameter, with its provenance"],
    ]


def provenance_section(page: Page, scenario: Scenario, observed: pl.DataFrame,
                       targets: Sequence[UnTarget], fitted: dict[str, Any]) -> None:
    params = parameters(scenario, fitted)
    page.heading("Provenance: where every input comes from")
    page.text("observed: a figure of the plan (calibration/observed.csv); calibrated: fitted to "
              "those figures (calibration/fitted.toml); external: a public UN or Danish figure, "
              "with a confidence grade H (official or several sources), M (one secondary "
              "source), L (inferred); assumed: a stated modelling assumption, a lever to "
              "question.", note=True)
    kinds = ("observed", "calibrated", "external", "assumed")
    origins = sorted({p.origin for p in params})
    page.table(["provenance", "parameters", *origins],
               [[k, sum(p.kind == k for p in params),
                 *(sum(p.kind == k and p.origin == o for p in params) for o in origins)]
                for k in kinds])
    page.table(["input", "provenance", "what it holds"], input_rows(observed, targets, fitted))
    changed = [p for p in params if p.origin == SET_BY_SCENARIO]
    page.heading("Set by this scenario", 3)
    if changed:
        page.table(["parameter", "value", "unit", "schema provenance", "what it is"],
                   [[p.key, p.value, p.unit, p.source, p.doc] for p in changed])
    else:
        page.text("Nothing: every value is the schema default or the fitted one.")
    with page.details(f"All {len(params)} parameters of this run"):
        page.table(["parameter", "value", "unit", "provenance", "value from", "what it is"],
                   [[p.key, p.value, p.unit, p.source, p.origin, p.doc] for p in params])


# -- the page ------------------------------------------------------------------------------------


def default_year(years: Sequence[int], preferred: int = 2028) -> int:
    return preferred if preferred in years else years[-1]


def scenario_report(scenario: Scenario, runs: pl.DataFrame, summary: pl.DataFrame,
                    table: pl.DataFrame, targets: Sequence[UnTarget] | None = None,
                    observed: pl.DataFrame | None = None,
                    fitted: dict[str, Any] | None = None) -> str:
    """The scenario report as one HTML string."""
    targets = tuple(targets if targets is not None else load_targets())
    observed = observed if observed is not None else load_observed()
    fitted = fitted if fitted is not None else load_fitted()
    n = runs["replication"].n_unique()
    page = Page(f"Scenario report: {scenario.name}")
    if scenario.description:
        page.text(scenario.description)
    page.text(f"{n} replications, seed {scenario.seed}, years {scenario.start_year}-"
              f"{scenario.horizon}; wps-deploy-sim {__version__}. {INTERVAL_NOTE}", note=True)

    page.heading("Targets: will they be met?")
    rows, classes = headline_rows(table, targets, scenario.horizon)
    page.table(HEADLINE_HEADER, rows, classes, numeric=(1, 2, 5, 6))
    page.text("P(meet): the share of replications at or above the target in its year, with "
              "its Monte Carlo 90% interval (Wilson; it narrows with more replications). "
              "Green: 90% or more; red: 10% or less. UN targets are "
              "held against the Danish personnel in that category (military contingents, staff "
              "officers and observers, individual police officers); the UN 'overall police' goal "
              "against all Danish posted police, a proxy.", note=True)
    with page.details("Every yearly target (including the interpolated UN years)"):
        rows, classes = headline_rows(table, targets, scenario.horizon, stated_only=False)
        page.table(HEADLINE_HEADER, rows, classes, numeric=(1, 2, 5, 6))

    forecast = [(scenario.name, summary)]
    page.heading("Women's share among deployed personnel")
    page.text("Median, 50% and 90% bands; diamonds: the UN's yearly target (filled: stated, open: "
              "interpolated at +1 point a year, not a published figure); orange points: the "
              "plan's figures. Dashed lines: " + "; ".join(m.label for m in MILESTONES) + ".",
              note=True)
    panels = deployed_panels()
    page.figure(fan_figure("Per agency", panels, forecast, targets, observed, cols=3,
                           panel_height=360))
    un = target_panels(targets, "un_dpo")
    page.figure(fan_figure("Per UN category", un, forecast, targets, observed))
    national = target_panels(targets, "national")
    if national:
        page.heading("National targets")
        page.figure(fan_figure("The plan's national targets", national, forecast, targets,
                               observed))
    shown = [p.series for p in (*panels, *un, *national)]
    pipeline = pipeline_panels(observed, shown)
    if pipeline:
        page.heading("Women's share in the workforce behind the deployments")
        page.figure(fan_figure("Series the plan gives figures for", pipeline, forecast, targets,
                               observed, cols=3, panel_height=280))

    page.heading("Pipeline stocks by gender and stage")
    page.figure(stocks_figure(runs))

    years = [y for y in scenario.years if y > scenario.start_year]
    year = default_year(years)
    page.heading("Flows: intake, service, deployment")
    page.text("One link per gender (purple: women, blue: men); link widths are means over the "
              "replications, the hover adds the 90% interval. Pick another year in the menu. "
              "The table below says what each link counts; where the outputs cannot split a "
              "flow (continuing conscripts and direct recruits) the diagram keeps the two apart "
              "rather than guess.", note=True)
    for agency in (AF, DEMA, POLICE):
        page.figure(sankey_figure(runs, agency, years, year))
    with page.details(f"What each link counts, with values for {year}", open=True):
        for agency in (AF, DEMA, POLICE):
            page.heading(AGENCY_NAMES[agency], 3)
            page.table(["link", "what it counts", "women: mean (90% interval)",
                        "men: mean (90% interval)"], flow_table_rows(runs, agency, year),
                       numeric=(2, 3))

    provenance_section(page, scenario, observed, targets, fitted)
    return page.render()


def write_reports(scenario: Scenario, runs: pl.DataFrame, summary: pl.DataFrame,
                  out: Path) -> None:
    """``targets.csv`` and ``report.html`` for a run, each written atomically."""
    targets = load_targets()
    table = target_table(runs, targets, scenario.horizon)
    write_csv(table, out / "targets.csv")
    write_text(scenario_report(scenario, runs, summary, table, targets), out / "report.html")
