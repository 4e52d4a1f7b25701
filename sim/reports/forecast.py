"""The scenario report: what a planner opens after ``run``.

A run's replications become one self-contained HTML page (``report.html``) and one table
(``targets.csv``). The page answers, in order: will the UN DPO and national targets be met
(the headline table: median forecast, 90% interval, probability of meeting each target); how
women's share among deployed personnel moves per agency and per UN category, against the UN's
yearly targets and the plan's own figures (fan charts); what the pipelines behind it hold (stocks
by gender and stage); how people flow from intake through service to deployment in a chosen year
(Sankey diagrams); and where every input comes from (provenance).

Every interval is the 5th-95th percentile over the run's replications. By default each pair of
replications runs under its own draw of the parameters (``sim.analysis.draws``), so the
intervals and probabilities include the parameters' uncertainty as well as chance, and the page
shows how much of each headline's variance the parameters make; with ``--fixed-parameters``
they are chance alone, and the page says so.

The pieces that draw a forecast against targets (fan traces, target markers, the plan's points,
the milestones) are shared with the comparison report (``sim.reports.compare``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import polars as pl

from sim import __version__
from sim.analysis.attainment import OFF_TRACK, ON_TRACK, headline_targets, target_table
from sim.analysis.precision import MAX_SE, Precision, headline_precision, running_ses
from sim.model.series import AF, DEMA, POLICE
from sim.reports.charts import (
    deployed_panels,
    fan_figure,
    pipeline_panels,
    stocks_figure,
    target_panels,
)
from sim.reports.figure import Chart, scatter
from sim.reports.flows import FlowCube, flow_table_rows, sankey_figure
from sim.reports.page import Page
from sim.reports.provenance import provenance_section
from sim.reports.style import (
    COLOURS,
    AGENCY_NAMES,
    interval_note,
    MILESTONES,
    category_title,
    group_size,
    pct,
    pct_interval,
    probability,
    series_title,
)
from sim.runs.outputs import write_bytes, write_csv
from sim.scenario.loading import Fitted
from sim.scenario.project_data import load_observed
from sim.scenario.schema import Scenario
from sim.scenario.targets import UnTarget, load_targets

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



# -- the verdict ---------------------------------------------------------------------------------

VERDICT_HEADER = ("target", "verdict", "chance of meeting it", "women's share forecast "
                  "(median, 90% interval)", "women needed", "women forecast (median, 90% "
                  "interval)")
GLOSSARY = (
    ("replication", "One simulated future: the same scenario with different chance events "
     "(who joins, leaves, is promoted or deployed) and, unless --fixed-parameters, its own "
     "draw of the uncertain parameters (two replications share each draw). The report "
     "summarises many of them."),
    ("chance of meeting it", "The share of replications in which women's share reaches the "
     "target in the target's year. In brackets: its 90% Monte Carlo interval (Wilson), which "
     "narrows with more replications."),
    ("median, 90% interval", "Half of the replications end below the median; 90% of them "
     "inside the interval (5th to 95th percentile)."),
    ("women needed", "Whole women the group must hold to reach the target, for the group's "
     "median size in the target year (rounded up, as deployment's target_share does)."),
    ("stated / interpolated", "A stated target is published (the plan, section 2, or the UN "
     "Uniformed Gender Parity Strategy); an interpolated one is +1 point a year between stated "
     "years, not a published figure."),
    ("confidence H / M / L", "How sure the figure's source is: H official or several sources, "
     "M one secondary source, L inferred."),
    ("deployed during the year", "Distinct persons abroad at any time in the year, counted "
     "once (a post rotated twice counts two or three people)."),
)


def _verdict_row(t: UnTarget, r: dict[str, Any] | None, horizon: int) -> tuple[list[str], str]:
    name = f"{category_title(t)}: {pct(t.target, 0)} by {t.year} ({t.status}, {t.confidence})"
    if t.series is None:
        return [name, "not modelled", "—", "Denmark sends no formed police units", "—", "—"], ""
    if r is None or r["p50"] is None:
        why = (f"after the horizon ({horizon})" if t.year > horizon else
               "no posts that year (see the provenance)")
        return [name, "not measurable", "—", why, "—", "—"], ""
    group = r["total_p50"]
    needed = (f"{r['women_needed']} of {group_size(t.series, group)}"
              if r["women_needed"] is not None else "—")
    women = f"{r['women_p50']:,.0f} ({r['women_p05']:,.0f}–{r['women_p95']:,.0f})"
    return ([name, r["verdict"], probability(r["prob_meet"], r["n_replications"]),
             pct_interval(r["p50"], r["p05"], r["p95"]), needed, women],
            r["verdict"].replace(" ", "-"))


def verdict_section(page: Page, table: pl.DataFrame, targets: Sequence[UnTarget],
                    horizon: int, n: int) -> None:
    """The answer first: each headline target's verdict, chance, forecast and gap in people."""
    by_id = {r["target_id"]: r for r in table.iter_rows(named=True)}
    rows, classes = [], []
    for t in headline_targets(targets):
        row, cls = _verdict_row(t, by_id.get(t.target_id), horizon)
        rows.append(row)
        classes.append(cls)
    page.heading("Will the targets be met?")
    page.table(VERDICT_HEADER, rows, classes, numeric=(2, 3, 5), cell_classes={1: "verdict"})
    page.text(f"On track: at least a {ON_TRACK:.0%} chance of meeting the target in its year; "
              f"off track: {OFF_TRACK:.0%} or less; at risk: in between. Based on {n} "
              "replications. UN targets are held against the Danish personnel in that "
              "category; the UN 'overall police' goal against all Danish posted police, a "
              "proxy. Earlier and interpolated years are in the full table below.", note=True)


# -- how many replications -------------------------------------------------------------------


def precision_text(rows: Sequence[Precision], n: int) -> str:
    needed = max((r.needed or 0 for r in rows), default=0)
    verdict = (f"{n} replications meet the rule for every headline share." if needed <= n else
               f"The rule asks for about {needed} replications (--replications {needed}); "
               f"this run has {n}.")
    return ("Solid lines: the standard error of each headline share's mean after the first n "
            "replications of this run; dotted: how it goes on falling (as 1/sqrt(n)). The "
            f"rule: at most {100 * MAX_SE:g} percentage points. " + verdict)



def replications_figure(runs: pl.DataFrame, rows: Sequence[Precision],
                        targets: Sequence[UnTarget]) -> Chart:
    """How each headline's Monte Carlo error narrowed with the replications run (solid) and
    how it would go on narrowing as 1/sqrt(n) (dotted), against the 0.5-point rule; the
    recommendation covers every target year, the lines the headline targets."""
    fig = Chart()
    n_now = max((r.replications for r in rows), default=1)
    needed = max((r.needed or 0 for r in rows), default=0)
    top = max(n_now, needed) * 1.5
    names = {(t.series, t.year): category_title(t) for t in headline_targets(targets)}
    shown = [x for x in rows if (x.series, x.year) in names]
    narrowing = running_ses(runs, [(r.series, r.year) for r in shown])
    for k, r in enumerate(shown):
        colour = COLOURS[k % len(COLOURS)]
        label = f"{names[(r.series, r.year)]} {r.year}"
        ns, ses = narrowing.get((r.series, r.year), ([], []))
        fig.add_trace(scatter(x=ns, y=[100 * s for s in ses], mode="lines", name=label,
                                 line=dict(color=colour), legendgroup=label))
        if math.isfinite(r.se):
            grid = np.geomspace(max(r.replications, 2), top, 30)
            sd = r.se * math.sqrt(r.replications)
            fig.add_trace(scatter(x=grid, y=100 * sd / np.sqrt(grid), mode="lines",
                                     line=dict(color=colour, dash="dot"), showlegend=False,
                                     legendgroup=label, hoverinfo="skip"))
    fig.add_hline(100 * MAX_SE, dict(color="#555", dash="dash"),
                  annotation=dict(text=f"rule: {100 * MAX_SE:g} points"))
    if needed > n_now:
        fig.add_vline(needed, dict(color="#c0392b", dash="dash"),
                      annotation=dict(text=f"recommended: {needed}"))
    fig.update_layout(title=dict(text="Monte Carlo error of each headline share as "
                                 "replications grow"),
                      xaxis=dict(title=dict(text="replications"), type="log"),
                      yaxis=dict(title=dict(text="standard error (percentage points)"),
                                 rangemode="tozero"),
                      height=460, legend=dict(orientation="h", y=-0.2))
    return fig


# -- the page ------------------------------------------------------------------------------------


def default_year(years: Sequence[int], preferred: int = 2028) -> int:
    return preferred if preferred in years else years[-1]


UNCERTAINTY_HEADER = ("target", "sd of the share (points)", "chance alone (points)",
                      "variance from parameters", "parameters that matter most (rank r²)")


def uncertainty_section(page: Page, table: pl.DataFrame, targets: Sequence[UnTarget],
                        drawn: bool, description: str | None) -> None:
    """What the intervals include, and per headline target how much of the spread the
    parameters make (law of total variance, ``sim.analysis.uncertainty``)."""
    if not drawn:
        return
    by_id = {r["target_id"]: r for r in table.iter_rows(named=True)}
    rows = []
    for t in headline_targets(targets):
        r = by_id.get(t.target_id)
        if t.series is None or r is None or r.get("sd") is None:
            continue
        share = r.get("var_share_parameters")
        rows.append([f"{category_title(t)} {t.year}", f"{100 * r['sd']:.1f}",
                     f"{100 * r['sd_chance']:.1f}" if r.get("sd_chance") is not None else "—",
                     f"{share:.0%}" if share is not None else "—",
                     r.get("top_parameters") or "—"])
    page.heading("Where the uncertainty comes from", 3)
    if rows:
        page.table(UNCERTAINTY_HEADER, rows, numeric=(1, 2, 3))
    page.text((description + ". " if description else "") +
              "Two replications share each draw: the chance part of the variance is the mean "
              "variance within a pair, the parameters' part the rest (law of total variance). "
              "The parameters that matter most are ranked by the squared rank correlation of "
              "each draw's mean share with the parameter (with few draws, read the ranking as "
              "rough); parameters.parquet lists every draw. "
              "--fixed-parameters gives the spread of chance alone.", note=True)


def scenario_report(scenario: Scenario, runs: pl.DataFrame, summary: pl.DataFrame,
                    table: pl.DataFrame, targets: Sequence[UnTarget] | None = None,
                    observed: pl.DataFrame | None = None,
                    fitted: Fitted | None = None, drawn: bool = False,
                    description: str | None = None) -> str:
    """The scenario report as one HTML string."""
    return scenario_page(scenario, runs, summary, table, targets, observed, fitted, drawn,
                         description).render()


def scenario_page(scenario: Scenario, runs: pl.DataFrame, summary: pl.DataFrame,
                  table: pl.DataFrame, targets: Sequence[UnTarget] | None = None,
                  observed: pl.DataFrame | None = None,
                  fitted: Fitted | None = None, drawn: bool = False,
                  description: str | None = None, cube: FlowCube | None = None) -> Page:
    """The scenario report's page (:func:`scenario_report`); ``cube``: the runs' flows, if
    already tabulated (``FlowCube.of(runs)`` otherwise)."""
    targets = tuple(targets if targets is not None else load_targets())
    observed = observed if observed is not None else load_observed()
    fitted = fitted if fitted is not None else Fitted()
    n = runs["replication"].n_unique()
    page = Page(f"Scenario report: {scenario.name}")
    with page.section("summary", "verdict"):
        verdict_section(page, table, targets, scenario.horizon, n)
        if scenario.description:
            page.text(scenario.description)
        page.text(f"{n} replications, seed {scenario.seed}, years {scenario.start_year}-"
                  f"{scenario.horizon}; wps-deploy-sim {__version__}. {interval_note(drawn)}",
                  note=True)
    uncertainty_section(page, table, targets, drawn, description)
    with page.details("What the words mean"):
        page.glossary(GLOSSARY)

    page.heading("Every target, year by year")
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
    cube = cube if cube is not None else FlowCube.of(runs)
    for agency in (AF, DEMA, POLICE):
        page.figure(sankey_figure(cube, agency, years, year))
    with page.details(f"What each link counts, with values for {year}", open=True):
        for agency in (AF, DEMA, POLICE):
            page.heading(AGENCY_NAMES[agency], 3)
            page.table(["link", "what it counts", "women: mean (90% interval)",
                        "men: mean (90% interval)"], flow_table_rows(cube, agency, year),
                       numeric=(2, 3))

    page.heading("How many replications?")
    rows = headline_precision(runs, scenario.horizon, tuple(targets))
    page.text(precision_text(rows, n), note=True)
    page.figure(replications_figure(runs, rows, targets))

    provenance_section(page, scenario, observed, targets, fitted)
    return page


def write_reports(scenario: Scenario, runs: pl.DataFrame, summary: pl.DataFrame,
                  out: Path, fitted: Fitted | None = None,
                  parameters: pl.DataFrame | None = None,
                  description: str | None = None, cube: FlowCube | None = None) -> None:
    """``targets.csv`` and ``report.html`` for a run, each written atomically;
    ``parameters``: the run's parameter draws (None: the parameters were fixed); ``cube``:
    the runs' flows if already tabulated (then ``runs`` need not hold the stock-only
    columns)."""
    targets = load_targets()
    table = target_table(runs, targets, scenario.horizon, parameters)
    write_csv(table, out / "targets.csv")
    page = scenario_page(scenario, runs, summary, table, targets, fitted=fitted,
                         drawn=parameters is not None, description=description, cube=cube)
    write_bytes(page.render_bytes(), out / "report.html")
