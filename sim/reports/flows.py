"""Flows from intake through service to deployment: the Sankey diagrams and the table of
what each link counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import polars as pl

from sim.model.series import AF, BY_ID, DEMA, DESTINATIONS, POLICE
from sim.reports.charts import plain
from sim.reports.figure import Chart, sankey
from sim.reports.style import (
    AGENCY_NAMES,
    MEN_COLOUR,
    WOMEN_COLOUR,
    count_interval,
    rgba,
)

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
    education = "Police academy (basic programme)"
    cadets = "Politikadets (their own track)"
    force = "Police officers (incl. leaders)"
    return (
        Flow("Admitted as politikadets", cadets, ((1, "entries", cad),),
             "cadets admitted to the politikadet course in the year"),
        Flow("Cadets on 1 January", cadets, ((1, "start", cad),),
             "politikadets at the start of the year"),
        Flow(cadets, "Left the cadet track (out, or on to the academy)", ((1, "exits", cad),),
             "cadets who left the track in the year: out of the police, or on to the academy "
             "(the outputs do not separate these)"),
        Flow(cadets, "Cadets on 31 December", ((1, "end", cad),),
             "politikadets at the end of the year"),
        Flow("Admitted to the academy (incl. cadets going on)", education,
             ((1, "entries", st),), "students admitted in the year, from outside or from the "
             "cadet track"),
        Flow("Students on 1 January", education, ((1, "start", st),),
             "students at the start of the year"),
        Flow(education, "Left the programme", ((1, "exits", st), (-1, "entries", off)),
             "students who dropped out in the year"),
        Flow(education, "Students on 31 December", ((1, "end", st),),
             "students at the end of the year"),
        Flow(education, force, ((1, "entries", off),),
             "graduates who became officers in the year (the only way into the officers)"),
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


def flow_series() -> frozenset[str]:
    """Every series a link of any agency reads: the cube holds these alone."""
    return frozenset(flow_reads())


def flow_reads() -> dict[str, tuple[str, ...]]:
    """Per series a link reads, the runs columns its terms read (sorted): a stock's
    ``start``/``end``/``entries``/``exits``, a deployment's ``women``/``total``."""
    reads: dict[str, set[str]] = {}
    for agency in (AF, DEMA, POLICE):
        for f in agency_flows(agency):
            for _, quantity, series in f.terms:
                reads.setdefault(series, set()).update(QUANTITY_COLUMNS[quantity])
    return {s: tuple(sorted(c)) for s, c in reads.items()}


Cell = tuple[str, str]      # (runs column, series)


@dataclass(frozen=True)
class FlowCube:
    """Every quantity a flow reads, as arrays ``[year, replication]`` per (column, series)
    (nulls as 0), built from the runs once per report, so that every link of every agency
    and year is plain array arithmetic. Only the columns a series' links read are kept: 33
    of the 8 x 21 (column, series) pairs, 14 MiB instead of 35 at 1,000 replications."""

    years: dict[int, int]
    cells: dict[Cell, np.ndarray]

    @classmethod
    def of(cls, runs: pl.DataFrame) -> FlowCube:
        """The rows of every flow series found in one grouped pass, then each column read
        once and scattered to its cells (years and replications in sorted order): no sort of
        the runs by their series (at 400 replications that cost more than everything else
        in the cube), and never more than one whole column at once beside the row lists. A
        filtered pass per series had taken ~0.3 s at 1,000 replications."""
        reads = flow_reads()
        grouped = (runs.lazy().select("series").with_row_index("row")
                   .filter(pl.col("series").is_in(list(reads)))
                   .group_by("series").agg("row").collect())
        rows = {str(s): r.to_numpy()
                for s, r in zip(grouped["series"].to_list(), grouped["row"])}
        years, reps = (np.sort(runs[c].unique().to_numpy()) for c in ("year", "replication"))
        year, rep = runs["year"].to_numpy(), runs["replication"].to_numpy()
        place = {}
        for s, r in rows.items():
            if len(r) != len(years) * len(reps):
                raise ValueError("runs do not hold every series and year for every replication")
            place[s] = (np.searchsorted(years, year[r]) * len(reps)
                        + np.searchsorted(reps, rep[r])).astype(np.int32)
        del year, rep
        cells: dict[Cell, np.ndarray] = {}
        for c in sorted({c for s in rows for c in reads[s]}):
            column = runs[c].fill_null(0).to_numpy()
            for s, r in rows.items():
                if c in reads[s]:
                    cells[(c, s)] = np.empty((len(years), len(reps)))
                    cells[(c, s)].reshape(-1)[place[s]] = column[r]
        return cls({y: i for i, y in enumerate(years.tolist())}, cells)

    def pair(self, quantity: str, series: str, year: int | Sequence[int]) -> np.ndarray:
        """Women and men (``[2, replication]``, or ``[year, 2, replication]`` for several
        years) of one quantity; ``start`` reads the year-end stock of the year before."""
        shift = 1 if quantity == "start" else 0
        y = ([self.years[t - shift] for t in year] if isinstance(year, Sequence)
             else self.years[year - shift])
        women_col, total_col = QUANTITY_COLUMNS[quantity]
        women = self.cells[(women_col, series)][y]
        return np.stack([women, self.cells[(total_col, series)][y] - women], axis=-2)


def flow_values(cube: FlowCube, flows: Sequence[Flow], year: int) -> np.ndarray:
    """Per flow, gender (women, men) and replication: the link's value in ``year``.

    Shape ``[flow, 2, replication]``, replications in order. ``start`` reads the previous
    year's year-end stock, so ``year`` must be after the first simulated year.
    """
    return np.stack([sum(sign * cube.pair(q, s, year) for sign, q, s in f.terms)
                     for f in flows])


def yearly_flow_values(cube: FlowCube, flows: Sequence[Flow], years: Sequence[int]
                       ) -> np.ndarray:
    """:func:`flow_values` of every year at once, ``[year, flow, 2, replication]``: the same
    sums element by element, one array operation per term instead of one per term and year."""
    return np.stack([sum(sign * cube.pair(q, s, years) for sign, q, s in f.terms)
                     for f in flows], axis=1)


def sankey_figure(cube: FlowCube, agency: str, years: Sequence[int], default: int) -> Chart:
    """One agency's flows, one link per gender; a menu picks the year. Link values are the
    mean over replications, the hover adds the 90% interval."""
    flows = agency_flows(agency)
    nodes = list(dict.fromkeys([n for f in flows for n in (f.source, f.target)]))
    source = [nodes.index(f.source) for f in flows for _ in (0, 1)]
    target = [nodes.index(f.target) for f in flows for _ in (0, 1)]
    colours = [rgba(c, 0.45) for _ in flows for c in (WOMEN_COLOUR, MEN_COLOUR)]
    per_year = dict(zip(years, _sankey_links(yearly_flow_values(cube, flows, years), flows)))
    value, custom = per_year[default]
    fig = Chart([sankey(
        arrangement="snap", valueformat=",.0f",
        node=dict(label=[plain(n) for n in nodes], pad=14, thickness=14,
                  color="#bbb", line=dict(color="#777", width=0.5),
                  hovertemplate="%{label}: %{value:,.0f} (mean, both genders)<extra></extra>"),
        link=dict(source=source, target=target, value=value, customdata=custom, color=colours,
                  hovertemplate="%{customdata}<extra></extra>"))])
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


def _sankey_links(values: np.ndarray, flows: Sequence[Flow]
                  ) -> list[tuple[list[float], list[str]]]:
    """Per year of ``values`` (``[year, flow, 2, replication]``): mean link values (negative
    means, impossible but for rounding, drawn as 0) and hovers. One mean and one percentile
    call over every year: the per-year loop of ``np.percentile`` was most of the diagrams'
    time at 400 replications."""
    mean = values.mean(axis=-1)
    lo, hi = np.percentile(values, [5, 95], axis=-1)
    out = []
    for y in range(values.shape[0]):
        out_v, out_c = [], []
        for i, f in enumerate(flows):
            for g, who in enumerate(("Women", "Men")):
                out_v.append(round(max(float(mean[y, i, g]), 0.0), 2))
                out_c.append(f"{plain(f.source)} → {plain(f.target)}<br>{who}: "
                             f"{count_interval(mean[y, i, g], lo[y, i, g], hi[y, i, g])} "
                             "(mean, 90% interval)")
        out.append((out_v, out_c))
    return out


def flow_table_rows(cube: FlowCube, agency: str, year: int) -> list[list[Any]]:
    """The table under the diagrams: per link, what it counts and its women and men."""
    flows = agency_flows(agency)
    v = flow_values(cube, flows, year)
    mean = v.mean(axis=-1)
    lo, hi = np.percentile(v, [5, 95], axis=-1)
    return [[f"{f.source} → {f.target}", f.counts,
             *(count_interval(mean[i, g], lo[i, g], hi[i, g]) for g in (0, 1))]
            for i, f in enumerate(flows)]
