"""The scenario report: targets.csv against the replications, the Sankey flows against the
model's own transitions, provenance, the lever scenarios, and escaping of scenario text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from plotly.offline import get_plotlyjs

from sim.model.census import tally
from sim.commands.cli import main
from sim.scenario.loading import fitted_parameters, load_scenario
from sim.model.replication import ReplicationResult, build
from sim.reports.forecast import scenario_report
from sim.reports.provenance import SET_BY_SCENARIO, parameters
from sim.reports.flows import FlowCube, agency_flows, flow_values
from sim.reports.style import category_title, pct_interval
from sim.analysis.attainment import target_table
from sim.analysis.summary import summary_frame
from sim.runs.replications import runs_frame
from sim.model.series import AF, DEMA, POLICE
from sim.scenario.targets import load_targets

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SHORT = {"start_year": 2018, "horizon": 2030}
HOSTILE_NAME = "<script>console.log('PWNED-name')</script>"
HOSTILE_TEXT = "<img src=x onerror=\"console.log('PWNED-description')\">"
LEVERS = ("recruitment_push", "retention", "deployment_targeting", "dema_pool_drive",
          "police_posting_aim")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """One short `run` (2018-2030, 4 replications) whose outputs several tests read."""
    tmp = tmp_path_factory.mktemp("report")
    short = tmp / "short.toml"
    short.write_text(f'name = "short"\nextends = "{SCENARIOS / "baseline.toml"}"\n'
                     'start_year = 2018\nhorizon = 2030\n')
    assert main(["run", str(short), "--replications", "4", "--workers", "1", "--quiet",
                 "--out", str(tmp / "out")]) == 0
    return tmp / "out"


def test_targets_csv_is_what_the_replications_say(run_dir):
    table = pl.read_csv(run_dir / "targets.csv")
    runs = pl.read_parquet(run_dir / "runs.parquet")
    targets = load_targets()
    assert table["target_id"].to_list() == [t.target_id for t in targets if t.year <= 2030]
    assert set(table.columns) >= {"target_id", "series", "year", "target", "p05", "p50", "p95",
                                  "prob_meet", "first_year_p50", "status"}
    for row in table.iter_rows(named=True):
        if not row["modelled"]:   # formed police units: Denmark sends none
            assert row["series"] is None and row["p50"] is None
            continue
        share = runs.filter((pl.col("series") == row["series"]) & (pl.col("year") == row["year"])
                            )["share"].drop_nulls().to_numpy()
        if len(share) == 0:   # no posts in any replication (UN contingents: Denmark sends none)
            assert row["p50"] is None and row["prob_meet"] is None
            assert row["verdict"] == "not measurable"
            continue
        assert row["prob_meet"] == pytest.approx(np.mean(share >= row["target"]))
        assert row["p50"] == pytest.approx(np.percentile(share, 50))
        assert row["p05"] <= row["p50"] <= row["p95"]
        medians = (runs.filter(pl.col("series") == row["series"]).group_by("year")
                   .agg(pl.col("share").median()).sort("year"))
        reached = medians.filter(pl.col("share") >= row["target"])["year"].to_list()
        assert row["first_year_p50"] == (reached[0] if reached else None)


def test_report_is_self_contained_and_its_table_agrees_with_targets_csv(run_dir):
    html = (run_dir / "report.html").read_text()
    assert html.count(get_plotlyjs()[:300]) == 1, "plotly.js embedded exactly once"
    assert "<script src" not in html.lower(), "no remote script"
    # 3 fan-chart figures + workforce + stocks + 3 Sankeys + the replications chart
    assert html.count('id="figure-') == 9
    table = pl.read_csv(run_dir / "targets.csv")
    for t in load_targets():
        if t.status == "stated" and t.year <= 2030:
            assert category_title(t) in html
    row = table.filter(pl.col("target_id") == "un.staff_officers_observers.2028").row(
        0, named=True)
    assert pct_interval(row["p50"], row["p05"], row["p95"]) in html


def test_sankey_service_nodes_balance_in_every_replication(run_dir):
    """What flows into a stage in a year (start stock + entries) flows out (exits + deployed
    + the rest), person for person, in each replication."""
    runs = pl.read_parquet(run_dir / "runs.parquet")
    for agency, node in ((AF, "Military staff (rank and file, leaders)"),
                         (AF, "Conscript service"), (DEMA, "DEMA staff (uniformed, civilian, "
                                                           "managers)"),
                         (POLICE, "Police academy (basic programme)"),
                         (POLICE, "Politikadets (their own track)"),
                         (POLICE, "Police officers (incl. leaders)")):
        flows = agency_flows(agency)
        v = flow_values(FlowCube.of(runs), flows, 2028)
        inflow = sum(v[i] for i, f in enumerate(flows) if f.target == node)
        outflow = sum(v[i] for i, f in enumerate(flows) if f.source == node)
        np.testing.assert_array_equal(inflow, outflow, err_msg=f"{agency}: {node}")
        assert inflow.sum() > 0


def test_sankey_links_are_the_model_transitions():
    """Each police and Armed Forces link equals the people the model moved, read from its
    transition counts ``[year, from + 1, to + 1, woman]`` (0 = outside)."""
    scenario = load_scenario(SCENARIOS / "baseline.toml", SHORT)
    env, agencies = build(scenario, 2)
    env.run()
    runs = runs_frame([ReplicationResult(2, tally(scenario, agencies), 0, 0)])
    year = 2029
    y = year - scenario.start_year
    by = {a.name: a for a in agencies}

    def link(agency: str, target: str, source: str | None = None) -> np.ndarray:
        flows = agency_flows(agency)
        i = next(k for k, f in enumerate(flows) if f.target == target
                 and (source is None or f.source == source))
        return flow_values(FlowCube.of(runs), flows, year)[i, :, 0]

    police = by[POLICE]
    t = police.roster.transitions[y]
    st, cad, off, lead = (police.s(x) + 1 for x in ("student", "cadet", "officer", "leader"))
    women_men = lambda x: np.array([x[1], x[0]], float)   # noqa: E731 (transitions: [man, woman])
    np.testing.assert_array_equal(link(POLICE, "Left the programme"),
                                  women_men(t[st, 0]))
    np.testing.assert_array_equal(link(POLICE, "Police officers (incl. leaders)",
                                       "Police academy (basic programme)"),
                                  women_men(t[st, off]))
    np.testing.assert_array_equal(link(POLICE, "Left the cadet track (out, or on to the "
                                       "academy)"), women_men(t[cad, 0] + t[cad, st]))
    np.testing.assert_array_equal(link(POLICE, "Politikadets (their own track)"),
                                  women_men(t[0, cad]))
    np.testing.assert_array_equal(link(POLICE, "Left the police"),
                                  women_men(t[off, 0] + t[lead, 0]))
    af = by[AF]
    t = af.roster.transitions[y]
    con, rf = af.s("conscript") + 1, af.s("rank_and_file") + 1
    np.testing.assert_array_equal(link(AF, "Conscript service", "Called up as conscripts"),
                                  women_men(t[0, con]))
    np.testing.assert_array_equal(
        link(AF, "Left conscript service (finished, continued or dropped out)"),
        women_men(t[con, 0] + t[con, rf]))


def test_provenance_tells_fitted_values_from_scenario_levers():
    fitted = fitted_parameters(SCENARIOS / "baseline.toml")
    base = {p.key: p for p in parameters(load_scenario(SCENARIOS / "baseline.toml"), fitted)}
    assert {p.kind for p in base.values()} <= {"observed", "calibrated", "external", "assumed"}
    assert not [k for k, p in base.items() if p.origin == SET_BY_SCENARIO], \
        "the baseline sets nothing beyond the defaults and the fitted values"
    if fitted.values:
        assert any(p.origin.startswith("fitted") for p in base.values())
    retention = parameters(load_scenario(SCENARIOS / "retention.toml"), fitted)
    changed = {p.key for p in retention if p.origin == SET_BY_SCENARIO}
    # The police are left out: their calibrated ratio is below men's already.
    assert changed == {f"{a}.careers.women_attrition_ratio" for a in (AF, DEMA)}


@pytest.mark.parametrize("name", LEVERS)
def test_lever_scenarios_change_only_their_lever_from_2026(name):
    """Each lever file extends the baseline, says what and when, and changes only its own
    keys, from its date on (before it the baseline's values hold)."""
    path = SCENARIOS / f"{name}.toml"
    text = path.read_text()
    assert 'extends = "baseline.toml"' in text
    scenario = load_scenario(path)
    baseline = load_scenario(SCENARIOS / "baseline.toml")
    assert scenario.description.startswith("Lever:") and "2026-01-01" in scenario.description
    fitted = fitted_parameters(SCENARIOS / "baseline.toml")
    mine = {p.key: p for p in parameters(scenario, fitted)}
    theirs = {p.key: p for p in parameters(baseline, fitted)}
    changed = [k for k in mine if mine[k].value != theirs[k].value]
    assert changed, "the lever changes something"
    for key in changed:
        node_a, node_b = scenario, baseline
        for part in key.split("."):
            node_a, node_b = getattr(node_a, part), getattr(node_b, part)
        before = 2025 * 12 + 11   # December 2025
        assert node_a.at(before) == node_b.at(before), f"{key} changes before 2026"
        assert node_a.at(2026 * 12) != node_b.at(2026 * 12), f"{key} from 2026"


def test_hostile_scenario_text_is_shown_as_text(run_dir):
    runs = pl.read_parquet(run_dir / "runs.parquet")
    scenario = load_scenario(SCENARIOS / "baseline.toml", SHORT).model_copy(
        update={"name": HOSTILE_NAME, "description": HOSTILE_TEXT})
    table = target_table(runs, load_targets(), scenario.horizon)
    html = scenario_report(scenario, runs, summary_frame(runs), table)
    for raw in (HOSTILE_NAME, HOSTILE_TEXT, "<img src=x"):
        assert raw not in html
    assert "&lt;script&gt;console.log(&#x27;PWNED-name&#x27;)&lt;/script&gt;" in html


@pytest.mark.parametrize("height", [720, 412.5, "50vh", None])
def test_a_figure_div_is_what_plotly_writes(height):
    """The page writes each figure's div itself (``sim.reports.page.figure_div``, without
    plotly.io's slow import): byte for byte what ``plotly.io.to_html`` writes for it, NaN,
    infinities, numpy values, dates and script-closing text included."""
    import datetime as dt

    import plotly.io as pio

    from sim.reports.figure import Chart, scatter, white_template
    from sim.reports.page import FIGURE_CONFIG, figure_div

    chart = Chart()
    chart.add_trace(scatter(x=np.arange(3), y=np.array([0.25, np.nan, np.inf]),
                            name="</script><b>æ/ø</b>", customdata=[np.float64(1 / 3), np.int64(7),
                                                                  -np.inf, None, True]))
    chart.add_trace(scatter(x=[dt.date(2025, 7, 1), dt.datetime(2026, 1, 1, 12)], y=[1, 2]))
    chart.update_layout(template=white_template(), title={"text": "a\u2028b"},
                        **({"height": height} if height is not None else {}))
    spec = chart.to_dict()
    plotly = pio.to_html(spec, validate=False, full_html=False, include_plotlyjs=False,
                         div_id="figure-3", config=dict(FIGURE_CONFIG))
    assert figure_div(spec, "figure-3") == plotly
