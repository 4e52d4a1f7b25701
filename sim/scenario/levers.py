"""Levers: the scenario parameters a sweep or ``solve`` may vary, with their ranges.

A lever is named by its dotted key (``armed_forces.conscription.volunteer_rate_women``); its
range, unit and provenance come from the schema's own field metadata, so there is one place
where a parameter's valid values are stated. Numeric levers take ranges; a *categorical* lever
(:func:`categorical_lever`: a date, a boolean, a choice, e.g. ``equal_from`` in
``["2025-07-01", "never"]``) takes a list of values, each checked by the scenario validation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sim.scenario.dated import Dated
from sim.scenario.loading import InputError, check_key, dotted
from sim.scenario.schema import Scenario, bounds

NOT_SWEPT = {"seed", "replications", "start_year", "horizon"}


@dataclass(frozen=True)
class Lever:
    """A numeric scenario parameter seen from a sweep: its bounds, whether it is dated or whole."""

    key: str
    dated: bool
    integer: bool
    low: float | None
    high: float | None
    unit: str = ""
    source: str = ""          # provenance, as in the schema
    doc: str = ""
    categorical: bool = False   # takes listed values (dates, booleans, choices), not a range

    def override(self, value: Any, start: dt.date | None = None) -> dict[str, Any]:
        """The scenario override setting this lever: wholesale, or from ``start`` on."""
        v: Any = value if self.categorical else (
            int(round(value)) if self.integer else float(value))
        return dotted(self.key, [[start, v]] if start is not None else v)


def lever(key: str, file: Path | str = "<command line>", categorical: bool = False) -> Lever:
    """The lever a dotted key names; an InputError if it is not a numeric parameter (or, with
    ``categorical``, not a parameter at all: its values are checked by the scenario
    validation, one by one, by the caller)."""
    check_key(key, file)
    if key in NOT_SWEPT:
        raise InputError(file, key, "cannot be swept (set it in the base scenario or "
                         "[overrides])")
    model: type[BaseModel] = Scenario
    parts = key.split(".")
    for part in parts[:-1]:
        model = model.model_fields[part].annotation  # type: ignore[assignment]
    info = model.model_fields[parts[-1]]
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    about = {"unit": str(extra.get("unit", "")), "source": str(extra.get("source", "")),
             "doc": info.description or ""}
    if categorical:
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            raise InputError(file, key, "is a section, not a parameter, so it cannot be swept")
        return Lever(key, info.annotation is Dated, False, None, None, about["unit"],
                     about["source"], about["doc"], categorical=True)
    if info.annotation in (Dated, int, float):
        low, high = bounds(info)
        return Lever(key, info.annotation is Dated, info.annotation is int, low, high,
                     about["unit"], about["source"], about["doc"])
    raise InputError(file, key, "is not a numeric parameter, so it cannot be swept")
