"""The generated scenario reference (sim.scenario.reference): every section described, every
numeric parameter's range shown."""

import re

from sim.scenario.reference import scenario_reference


def sections() -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for line in scenario_reference().splitlines():
        if line.startswith("## "):
            out.append((line, []))
        elif out:
            out[-1][1].append(line)
    return out


def test_every_section_is_described():
    for heading, body in sections():
        if heading == "## Top level":
            continue
        text = [ln for ln in body if ln.strip()]
        assert text and not text[0].startswith("|"), f"{heading} has no description"


def test_every_numeric_parameter_shows_its_range():
    for heading, body in sections():
        for row in body:
            cells = [c.strip() for c in row.strip("|").split("|")]
            if len(cells) < 6 or cells[0] in ("key", "---"):
                continue
            unit, rng = cells[2], cells[3]
            numeric = re.search(r"fraction|ratio|persons|months|years|1/year|count", unit)
            if numeric and "date" not in unit:
                assert rng, f"{heading} {cells[0]}: no range shown"
