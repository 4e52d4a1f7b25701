"""Provenance: where every input of a run comes from (observed, calibrated, external with
its confidence, or assumed) and where this run's value of each parameter was set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import polars as pl
from pydantic import BaseModel

from sim.reports.page import Page
from sim.scenario.dated import EPOCH, Dated, date_of_month, month_number
from sim.scenario.loading import Fitted, merge
from sim.scenario.schema import Scenario
from sim.scenario.targets import UnTarget

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


def parameters(scenario: Scenario, fitted: Fitted) -> list[Parameter]:
    """Every parameter of the run: value, unit, provenance and where the value comes from."""
    defaults = Scenario(name=scenario.name)
    layered = Scenario.model_validate(merge(defaults.model_dump(mode="python"),
                                            fitted.values)) if fitted.values else defaults
    fitted_keys = fitted.keys
    out: list[Parameter] = []

    def walk(model: BaseModel, default: BaseModel, fit: BaseModel, prefix: str,
             posts: str | None = None) -> None:
        for name, info in type(model).model_fields.items():
            if not prefix and name in SKIP_KEYS:
                continue
            value, key = getattr(model, name), prefix + name
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            if isinstance(value, BaseModel):
                # A destination's post count carries its own source (UN posts are external).
                walk(value, getattr(default, name), getattr(fit, name), key + ".",
                     str(extra["posts_source"]) if "posts_source" in extra else None)
                continue
            source = str(extra.get("source", "assumed"))
            if name == "positions" and posts is not None:
                source = posts
            if key in fitted_keys and same(value, getattr(fit, name)):
                origin = f"fitted ({fitted.label})"
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


def input_rows(observed: pl.DataFrame, targets: Sequence[UnTarget],
               fitted: Fitted) -> list[list[str]]:
    """The data files behind a report and what kind of evidence each is."""
    return [
        ["calibration/observed.csv", "observed (the plan, §4 and §2)",
         f"{observed.height} figures the model is held to; drawn as points on the charts"],
        ["calibration/targets.csv", "external (UN Uniformed Gender Parity Strategy) and "
         "observed (the plan)", f"{len(targets)} targets; "
         f"{sum(t.status == 'interpolated' for t in targets)} interpolated (confidence L)"],
        [fitted.label, "calibrated",
         f"{len(fitted.keys)} fitted parameters" if fitted.values else
         "no fitted parameters yet: calibrated parameters keep their schema defaults"],
        ["sim/scenario/schema.py", "schema defaults", "every other parameter, with its provenance"],
    ]


def provenance_section(page: Page, scenario: Scenario, observed: pl.DataFrame,
                       targets: Sequence[UnTarget], fitted: Fitted) -> None:
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


