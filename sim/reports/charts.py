"""Charts of a forecast against its targets: fan charts (median, 50% and 90% bands) with the
UN's yearly targets, the plan's figures and the plan's milestones; pipeline stocks by gender.

Shared by the run and compare reports."""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import polars as pl

from sim.model.series import AF, BY_ID, DEMA, POLICE
from sim.reports.figure import Chart, scatter, subplot_grid
from sim.reports.page import esc
from sim.reports.style import (
    AGENCY_NAMES,
    COLOURS,
    MEN_COLOUR,
    MILESTONES,
    OBSERVED_COLOUR,
    TARGET_COLOUR,
    WOMEN_COLOUR,
    category_title,
    rgba,
    series_title,
)
from sim.scenario.targets import UnTarget

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


def add_fan(fig: Chart, b: pl.DataFrame, row: int, col: int, colour: str, label: str,
            legend: set[str], inner: bool = True) -> None:
    """Median line with its 90% band (and the 50% band if ``inner``); hover shows both.

    Overlaid forecasts (``inner`` false, a comparison) get a fainter band edged in their own
    colour, so overlapping bands stay told apart instead of blending into grey."""
    x = b["year"].to_list()
    bands = [("share_p05", "share_p95", 0.15 if inner else 0.08, "90%")]
    if inner:
        bands.append(("share_p25", "share_p75", 0.3, "50%"))
    edge = dict(width=0) if inner else dict(color=colour, width=1, dash="dot")
    for lo, hi, alpha, name in bands:
        group = f"{label} {name}"
        fig.add_trace(scatter(x=x, y=b[hi].to_list(), mode="lines", line=edge,
                                 hoverinfo="skip", showlegend=False, legendgroup=group),
                      row=row, col=col)
        fig.add_trace(scatter(x=x, y=b[lo].to_list(), mode="lines", line=edge,
                                 fill="tonexty", fillcolor=rgba(colour, alpha), hoverinfo="skip",
                                 name=f"{plain(label)}: {name} band", legendgroup=group,
                                 showlegend=legend_once(legend, group)), row=row, col=col)
    custom = np.column_stack([b[c].to_numpy() for c in
                              ("share_p25", "share_p75", "share_p05", "share_p95")])
    fig.add_trace(scatter(
        x=x, y=b["share_p50"].to_list(), mode="lines", line=dict(color=colour, width=2),
        name=f"{plain(label)}: median", legendgroup=f"{label} median",
        showlegend=legend_once(legend, f"{label} median"), customdata=custom,
        hovertemplate=("%{x}: median %{y:.1%}<br>50%: %{customdata[0]:.1%}–%{customdata[1]:.1%}"
                       "<br>90%: %{customdata[2]:.1%}–%{customdata[3]:.1%}"
                       f"<extra>{plain(label)}</extra>")), row=row, col=col)


def add_targets(fig: Chart, targets: Iterable[UnTarget], row: int, col: int,
                legend: set[str]) -> None:
    """The yearly target line: stated targets filled, interpolated ones open and dashed."""
    ts = sorted(targets, key=lambda t: t.year)
    if not ts:
        return
    if len(ts) > 1:
        fig.add_trace(scatter(x=[t.year for t in ts], y=[t.target for t in ts], mode="lines",
                                 line=dict(color=TARGET_COLOUR, width=1, dash="dot"),
                                 hoverinfo="skip", showlegend=False), row=row, col=col)
    for status, symbol, name in (("stated", "diamond", "target (stated)"),
                                 ("interpolated", "diamond-open",
                                  "target (interpolated, not a published figure)")):
        own = [t for t in ts if t.status == status]
        if not own:
            continue
        fig.add_trace(scatter(
            x=[t.year for t in own], y=[t.target for t in own], mode="markers",
            marker=dict(symbol=symbol, size=9, color=TARGET_COLOUR,
                        line=dict(color=TARGET_COLOUR, width=1.5)),
            name=name, legendgroup=name, showlegend=legend_once(legend, name),
            customdata=[[t.target_id, t.confidence] for t in own],
            hovertemplate=(f"%{{customdata[0]}}: %{{y:.0%}} ({status}, confidence "
                           "%{customdata[1]})<extra></extra>")), row=row, col=col)


def add_observed(fig: Chart, observed: pl.DataFrame, series: str, row: int, col: int,
                 legend: set[str]) -> None:
    own = observed.filter(pl.col("series") == series).sort("year")
    if own.is_empty():
        return
    name = "the plan's figure (observed)"
    fig.add_trace(scatter(
        x=own["year"].to_list(), y=own["value"].to_list(), mode="markers",
        marker=dict(symbol="circle", size=10, color=OBSERVED_COLOUR,
                    line=dict(color="#000", width=1)),
        name=name, legendgroup=name, showlegend=legend_once(legend, name),
        customdata=[[m] for m in own["measure"].to_list()],
        hovertemplate="plan, %{x}: %{y:.1%} (%{customdata[0]})<extra></extra>"),
        row=row, col=col)


def add_milestones(fig: Chart, n_panels: int, cols: int) -> None:
    """Vertical dashed lines at the milestones in every panel.

    The lines carry no text: the milestones sit one year apart (2027, 2028, 2029), where any
    label collides with its neighbours and with the target markers, so each chart's note names
    them instead. Shapes are set in one layout update: Plotly's ``add_vline`` re-validates every
    shape on each call, which is quadratic in their number.
    """
    shapes = list(fig.layout.get("shapes", []))
    for i in range(n_panels):
        x, y = ("x", "y") if i == 0 else (f"x{i + 1}", f"y{i + 1}")
        for m in MILESTONES:
            shapes.append(dict(type="line", x0=m.x, x1=m.x, xref=x, y0=0, y1=1,
                               yref=f"{y} domain", line=dict(color="#999", width=1, dash="dash")))
    fig.update_layout(shapes=shapes)


def wrap_title(text: str, cols: int) -> str:
    """A panel title broken into lines that fit its panel (about 40 characters a line in a
    three-wide grid at 1024 px), so neighbouring titles never overlap."""
    width = {1: 110, 2: 60}.get(cols, 40)
    return "<br>".join(textwrap.wrap(text, width)) or text


def panel_grid(panels: Sequence[Panel], cols: int) -> tuple[Chart, int, int]:
    """An empty grid of small multiples, one titled panel per series, `cols` wide at most."""
    cols = min(cols, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = subplot_grid(rows, cols, [wrap_title(p.title, cols) for p in panels],
                       horizontal_spacing=0.07, vertical_spacing=min(0.14, 0.4 / rows))
    return fig, rows, cols


def fan_figure(title: str, panels: Sequence[Panel], forecasts: Sequence[tuple[str, pl.DataFrame]],
               targets: Sequence[UnTarget], observed: pl.DataFrame, cols: int = 2,
               panel_height: int = 330) -> Chart:
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


def finish(fig: Chart, title: str, height: int, panel_titles: Sequence[str] = ()) -> None:
    """The look every chart shares: white panels, light grids, the legend below, small panel
    titles (so long ones fit at laptop widths)."""
    fig.update_layout(title=dict(text=plain(title), x=0.01), height=height, hovermode="closest",
                      plot_bgcolor="white", legend=dict(orientation="h", y=-0.06, yanchor="top",
                                                        x=0, font=dict(size=11)))
    fig.update_xaxes(showgrid=True, gridcolor="#eee")
    fig.update_yaxes(showgrid=True, gridcolor="#eee")
    titles = set(panel_titles) | {wrap_title(t, c) for t in panel_titles for c in (1, 2, 3)}
    for a in fig.layout.get("annotations", []):
        if a.get("text") in titles:
            a["font"] = dict(size=12)


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



# -- pipeline stocks -----------------------------------------------------------------------------

STAGE_SERIES = {
    AF: ("armed_forces.conscripts.serving", "armed_forces.rank_and_file",
         "armed_forces.leaders"),
    DEMA: ("dema.uniformed", "dema.civilian", "dema.managers", "dema.international_pool"),
    POLICE: ("police.students", "police.cadets", "police.officers", "police.leaders"),
}


def stock_quantiles(runs: pl.DataFrame, series: Iterable[str]) -> pl.DataFrame:
    """Per year and series: women's and men's head counts, median and 90% interval."""
    frame = (runs.select("series", "year", "women", "total")   # the rows of these alone
             .filter(pl.col("series").is_in(list(series)))
             .with_columns((pl.col("total") - pl.col("women")).alias("men")))
    aggs = []
    for who in ("women", "men"):
        for q in (0.05, 0.5, 0.95):
            aggs.append(pl.col(who).quantile(q, "linear").alias(f"{who}_p{round(q * 100):02d}"))
    return frame.group_by("series", "year").agg(*aggs).sort("series", "year")


def stocks_figure(runs: pl.DataFrame) -> Chart:
    """Rows = agencies, columns = stages; women and men in each, with 90% bands."""
    q = stock_quantiles(runs, [s for ss in STAGE_SERIES.values() for s in ss])
    cols = max(len(v) for v in STAGE_SERIES.values())
    titles = []
    for agency, ids in STAGE_SERIES.items():
        titles += [wrap_title(f"{AGENCY_NAMES[agency]}: {_stage_title(s)}", cols)
                   for s in ids]
        titles += [""] * (cols - len(ids))
    fig = subplot_grid(len(STAGE_SERIES), cols, titles, horizontal_spacing=0.06,
                       vertical_spacing=0.1)
    legend: set[str] = set()
    for r, ids in enumerate(STAGE_SERIES.values(), start=1):
        for c, sid in enumerate(ids, start=1):
            own = q.filter(pl.col("series") == sid)
            x = own["year"].to_list()
            for who, colour in (("women", WOMEN_COLOUR), ("men", MEN_COLOUR)):
                fig.add_trace(scatter(x=x, y=own[f"{who}_p95"].to_list(), mode="lines",
                                         line=dict(width=0), hoverinfo="skip",
                                         showlegend=False), row=r, col=c)
                fig.add_trace(scatter(x=x, y=own[f"{who}_p05"].to_list(), mode="lines",
                                         line=dict(width=0), fill="tonexty",
                                         fillcolor=rgba(colour, 0.2), hoverinfo="skip",
                                         showlegend=False), row=r, col=c)
                custom = np.column_stack([own[f"{who}_p05"].to_numpy(),
                                          own[f"{who}_p95"].to_numpy()])
                fig.add_trace(scatter(
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


