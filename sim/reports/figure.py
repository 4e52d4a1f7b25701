"""Charts as plain Plotly JSON (``{"data": [...], "layout": {...}}``), not graph objects.

Plotly's graph objects validate every property on every assignment and layout update; the run
report's nine charts spent most of the report's time there (issue #18). The charts here are
built from dicts whose property names follow Plotly's JSON schema, and embedded unvalidated
(``sim.reports.page``), so the page carries the same JSON a ``go.Figure`` would, at a fraction
of the cost. ``Chart`` keeps the few ``go.Figure`` methods the reports use (subplot grids,
``add_trace(row=, col=)``, axis updates, horizontal and vertical rules) with their meaning.
"""

from __future__ import annotations

import json
import pkgutil
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Sequence

Trace = dict[str, Any]


def scatter(**props: Any) -> Trace:
    """A scatter trace: the keyword arguments ``go.Scatter`` takes, unvalidated."""
    return {"type": "scatter", **props}


def sankey(**props: Any) -> Trace:
    return {"type": "sankey", **props}


def merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    """``update`` into ``into`` as Plotly's ``update`` does: nested dicts merge, anything
    else (lists included) replaces."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


@dataclass
class Chart:
    """A figure as Plotly JSON; ``cols`` is the subplot grid's width (0: no grid)."""

    data: list[Trace] = field(default_factory=list)
    layout: dict[str, Any] = field(default_factory=dict)
    cols: int = 0

    def add_trace(self, trace: Trace, row: int | None = None, col: int | None = None) -> None:
        """Append a trace; in a grid, on the axes of subplot (``row``, ``col``)."""
        if self.cols and row is not None and col is not None:
            x, y = self.axis_names(row, col)
            trace = {**trace, "xaxis": x, "yaxis": y}
        self.data.append(trace)

    def axis_names(self, row: int, col: int) -> tuple[str, str]:
        """``("x3", "y3")``: the axes of a subplot, numbered row by row from 1 (``x``)."""
        n = (row - 1) * self.cols + col
        return ("x", "y") if n == 1 else (f"x{n}", f"y{n}")

    def update_layout(self, **update: Any) -> None:
        merge(self.layout, update)

    def update_xaxes(self, row: int | None = None, col: int | None = None, **update: Any) -> None:
        self._update_axes("x", row, col, update)

    def update_yaxes(self, row: int | None = None, col: int | None = None, **update: Any) -> None:
        self._update_axes("y", row, col, update)

    def _update_axes(self, letter: str, row: int | None, col: int | None,
                     update: dict[str, Any]) -> None:
        """One subplot's axis, or (no ``row``) every axis of that letter the figure has."""
        if row is not None and col is not None:
            name = self.axis_names(row, col)[0 if letter == "x" else 1]
            keys = [f"{letter}axis{name[1:]}"]
        else:
            keys = [k for k in self.layout if k.startswith(f"{letter}axis")] or [f"{letter}axis"]
        for key in keys:
            merge(self.layout.setdefault(key, {}), update)

    def add_hline(self, y: float, line: dict[str, Any], row: int | None = None,
                  col: int | None = None, annotation: dict[str, Any] | None = None) -> None:
        """A horizontal rule across a subplot, labelled top left if ``annotation`` is given
        (as ``go.Figure.add_hline(annotation_position="top left")``); like it, none on a
        subplot that has no trace."""
        x, yr = self.axis_names(row, col) if row is not None and col is not None else ("x", "y")
        if row is not None and not any(t.get("xaxis") == x and t.get("yaxis") == yr
                                       for t in self.data):
            return
        self._shape(dict(type="line", x0=0, x1=1, xref=f"{x} domain", y0=y, y1=y, yref=yr,
                         line=line))
        if annotation is not None:
            self._note(dict(showarrow=False, x=0, xanchor="left", xref=f"{x} domain", y=y,
                            yanchor="bottom", yref=yr, **annotation))

    def add_vline(self, x: float, line: dict[str, Any],
                  annotation: dict[str, Any] | None = None) -> None:
        """A vertical rule, labelled top right if ``annotation`` is given."""
        self._shape(dict(type="line", x0=x, x1=x, xref="x", y0=0, y1=1, yref="y domain",
                         line=line))
        if annotation is not None:
            self._note(dict(showarrow=False, x=x, xanchor="left", xref="x", y=1,
                            yanchor="top", yref="y domain", **annotation))

    def _shape(self, shape: dict[str, Any]) -> None:
        self.layout.setdefault("shapes", []).append(shape)

    def _note(self, annotation: dict[str, Any]) -> None:
        self.layout.setdefault("annotations", []).append(annotation)

    def to_dict(self) -> dict[str, Any]:
        return {"data": self.data, "layout": self.layout}


def subplot_grid(rows: int, cols: int, titles: Sequence[str], horizontal_spacing: float,
                 vertical_spacing: float) -> Chart:
    """An empty grid of subplots laid out as ``plotly.subplots.make_subplots`` lays them out
    (row 1 at the top, equal cells, one title centred above each titled cell)."""
    chart = Chart(cols=cols)
    width = (1 - horizontal_spacing * (cols - 1)) / cols
    height = (1 - vertical_spacing * (rows - 1)) / rows
    notes = []
    for r in range(1, rows + 1):
        bottom = (rows - r) * (height + vertical_spacing)
        for c in range(1, cols + 1):
            left = (c - 1) * (width + horizontal_spacing)
            x, y = chart.axis_names(r, c)
            chart.layout[f"xaxis{x[1:]}"] = {"anchor": y, "domain": [left, left + width]}
            chart.layout[f"yaxis{y[1:]}"] = {"anchor": x, "domain": [bottom, bottom + height]}
            i = (r - 1) * cols + c - 1
            if i < len(titles) and titles[i]:       # an empty title: no annotation
                notes.append(dict(font=dict(size=16), showarrow=False, text=titles[i],
                                  x=left + width / 2, xanchor="center", xref="paper",
                                  y=bottom + height, yanchor="bottom", yref="paper"))
    if notes:
        chart.layout["annotations"] = notes
    return chart


@cache
def _white_template_json() -> str:
    data = pkgutil.get_data("plotly", "package_data/templates/plotly_white.json")
    assert data is not None
    return data.decode("utf-8")


def white_template() -> dict[str, Any]:
    """Plotly's ``plotly_white`` template as JSON, read once from Plotly's own file (what
    ``template="plotly_white"`` puts in a figure), a fresh copy per figure."""
    template: dict[str, Any] = json.loads(_white_template_json())
    return template
