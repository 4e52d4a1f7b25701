"""The scenario reference, generated from the schema so the two cannot disagree."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from sim.scenario.dated import Dated
from sim.scenario.schema import Scenario, Section, bounds

INTRO = """Every key below may appear in a scenario file; all have defaults except `name`.
Keys typed *dated* take a value or a list of `[date, value]` changes (`[date, value,
"linear"]` ramps to the next point; `{ linear = [[d1, v1], [d2, v2]] }` is a ramp). In a
scenario that `extends` another, dated changes apply from their first date and the parent's
value holds before it. Provenance: observed (the plan), calibrated (`calibration/fitted.toml`
overrides the default), external (public figure, confidence H/M/L), assumed."""


def _default(value: Any) -> str:
    if isinstance(value, Dated):
        value = value.dump()
    if isinstance(value, list):
        parts = []
        for item in value:
            day, v, *rest = item
            parts.append(f"{day.isoformat() if day else 'start'}: {v}" + (" ↗" if rest else ""))
        return "; ".join(parts)
    if value is None:
        return "—"
    return f"`{value}`"


def _range(info: Any) -> str:
    lo, hi = bounds(info)
    return f"{lo:g} – {hi:g}" if lo is not None and hi is not None else ""


def _rows(model: type[BaseModel], instance: BaseModel, prefix: str, out: list[str],
          sections: list[tuple[str, type[BaseModel], BaseModel]]) -> None:
    for name, info in model.model_fields.items():
        value = getattr(instance, name)
        key = f"{prefix}{name}"
        if isinstance(value, Section):
            sections.append((key, type(value), value))
            continue
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        unit = extra.get("unit", "")
        doc = (info.description or "").replace("|", "\\|")
        if "plausible" in extra:
            lo, hi = extra["plausible"]   # type: ignore[misc,str-unpack]
            doc += f" Plausible range (the evidence): {lo:g} – {hi:g}."
        out.append(f"| `{key}` | {_default(value) if name != 'name' else '(required)'} | "
                   f"{unit} | {_range(info)} | {extra.get('source', '')} | {doc} |")


def _section_doc(model: type[BaseModel]) -> str:
    """A section's own description, followed by the general rules of the kind of section it
    is (an agency's ``careers`` also gets what ``Careers`` says of all careers)."""
    docs = [model.__doc__] + [b.__doc__ for b in model.__mro__[1:]
                              if issubclass(b, Section) and b is not Section
                              and b.__doc__ and b.__doc__ != model.__doc__]
    return " ".join(" ".join(d.split()) for d in docs if d)


def scenario_reference() -> str:
    lines = ["# Scenario file reference", "", INTRO, ""]
    sections: list[tuple[str, type[BaseModel], BaseModel]] = []
    top: list[str] = []
    _rows(Scenario, Scenario(name="x"), "", top, sections)
    head = ["| key | default | unit | range | provenance | meaning |",
            "|---|---|---|---|---|---|"]
    lines += ["## Top level", "", *head, *top, ""]
    while sections:
        key, model, inst = sections.pop(0)
        rows: list[str] = []
        nested: list[tuple[str, type[BaseModel], BaseModel]] = []
        _rows(model, inst, "", rows, nested)
        doc = _section_doc(model)
        lines += [f"## `[{key}]`", "", doc, ""]
        if rows:
            lines += [*head, *rows, ""]
        sections[0:0] = [(f"{key}.{k}", m, i) for k, m, i in nested]
    return "\n".join(lines)
