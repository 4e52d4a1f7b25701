"""Self-contained HTML pages for the reports: plotly.js embedded once, every text escaped.

Reports must open offline and must never run text from a scenario file as HTML, so a page is
built only from escaped text, tables of values, and Plotly figures; the one script it loads
is plotly.js itself, inlined.

Each page also reports on itself, so a headless browser (the test suite) can tell whether it
worked: a tiny inline script records script errors from the moment the page starts, and once
the page has loaded sets ``data-figures`` (figure divs), ``data-figures-drawn`` (those Plotly
has drawn, with every trace) and ``data-script-errors`` (how many, with the messages in
``data-script-error-text``) on ``<body>``.
"""

from __future__ import annotations

import html
import json
import pkgutil
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

from sim.reports.figure import Chart, white_template

if TYPE_CHECKING:
    import plotly.graph_objects as go

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1400px; padding: 1rem 2rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem;
     border-bottom: 1px solid #ddd; } h3 { font-size: 1.05rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
p.note { color: #555; font-size: .9rem; max-width: 60rem; }
.figure { width: 100%; min-height: 420px; }
.meets { background: #e6f4ea; } .misses { background: #fdecea; }
.table-wrap { overflow-x: auto; max-width: 100%; }
details { margin: .5rem 0 1rem; } summary { cursor: pointer; font-weight: 600; }
section.summary { border: 1px solid #ccc; border-radius: 6px; padding: .25rem 1rem .5rem;
                  margin: .5rem 0 1.5rem; }
section.summary h2 { margin-top: .5rem; }
tr.on-track td.verdict { background: #d8f0de; font-weight: 600; }
tr.at-risk td.verdict { background: #fff1c2; font-weight: 600; }
tr.off-track td.verdict { background: #f9d6d2; font-weight: 600; }
td.up-sure { background: #b9e3c4; } td.up { background: #e3f4e7; }
td.down-sure { background: #f3b9b1; } td.down { background: #fbe4e0; }
td.flat { background: #f2f2f2; color: #555; }
table.matrix td { font-variant-numeric: tabular-nums; }
p.warning { color: #8a4b00; font-weight: 600; }
dl.glossary dt { font-weight: 600; } dl.glossary dd { margin: 0 0 .4rem 1rem; color: #444; }
@page { size: A4; margin: 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 9.5pt; }
  h1 { font-size: 15pt; } h2 { font-size: 12pt; break-after: avoid; }
  table { width: 100%; font-size: 8pt; } th, td { padding: .1rem .25rem; }
  td.num { white-space: normal; }
  .table-wrap { overflow: visible; }
  section.summary { break-after: page; border: none; padding: 0; }
  .figure { min-height: 0; break-inside: avoid; }
  details > summary { list-style: none; }
  .modebar-container { display: none; }
}
"""

# Plotly sizes each chart in pixels for the screen; for print (A4 portrait is about 700 CSS px
# wide inside the margins) the charts are laid out again at that width, and back afterwards.
PRINT_FIT = """(function () {
  function figs() { return document.querySelectorAll("div.plotly-graph-div"); }
  window.addEventListener("beforeprint", function () {
    figs().forEach(function (gd) { Plotly.relayout(gd, {width: 700, autosize: false}); });
  });
  window.addEventListener("afterprint", function () {
    figs().forEach(function (gd) { Plotly.relayout(gd, {width: null, autosize: true}); });
  });
})();"""

# Before plotly.js, so that an error in it or in any figure's script is caught too.
WATCH_ERRORS = """window.reportErrors = [];
window.addEventListener("error", function (e) {
  window.reportErrors.push(String(e.message || e.type) + (e.filename ? " (" + e.filename + ":"
                           + e.lineno + ")" : ""));
});
window.addEventListener("unhandledrejection", function (e) {
  window.reportErrors.push("unhandled rejection: " + String(e.reason));
});"""

# After the figures: counts what was drawn, retrying briefly in case Plotly draws late.
REPORT_STATUS = """(function () {
  function drawn(gd) {
    return !!(gd._fullLayout && gd._fullData && gd.data &&
              gd._fullData.length === gd.data.length && gd.querySelector("svg.main-svg"));
  }
  function status(tries) {
    var figs = Array.prototype.slice.call(document.querySelectorAll("div.plotly-graph-div"));
    var done = figs.filter(drawn).length;
    var b = document.body.dataset;
    b.figures = figs.length; b.figuresDrawn = done;
    b.scriptErrors = window.reportErrors.length;
    b.scriptErrorText = window.reportErrors.join(" | ");
    var verdict = document.getElementById("verdict");
    if (verdict) { b.verdictBottom = Math.round(verdict.querySelector("table")
                                                .getBoundingClientRect().bottom); }
    b.overflowX = document.documentElement.scrollWidth > window.innerWidth + 1 ? "yes" : "no";
    if (done < figs.length && tries > 0) { setTimeout(function () { status(tries - 1); }, 200); }
  }
  window.addEventListener("load", function () { status(25); });
})();"""


# plotly.io.to_html's div for one figure (full_html=False, include_plotlyjs=False), whitespace
# and all: the page holds exactly what Plotly would write (tests/test_report.py compares them).
FIGURE_DIV = """\
<div style="height:{height}; width:{width};">\
                            <div id="{id}" class="plotly-graph-div" \
style="height:100%; width:100%;"></div>\
            <script>\
                window.PLOTLYENV=window.PLOTLYENV || {{}};\
                                if (document.getElementById("{id}")) {{\
                    Plotly.newPlot(\
                        "{id}",\
                        {data},\
                        {layout},\
                        {config}\
                    )\
                }};\
            </script>\
        </div>"""

FIGURE_CONFIG = {"responsive": True, "displaylogo": False}


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


class Page:
    """A report page built section by section."""

    def __init__(self, title: str):
        self.title = title
        self.parts: list[str] = [f"<h1>{esc(title)}</h1>"]
        self.n_figures = 0

    def heading(self, text: str, level: int = 2) -> "Page":
        self.parts.append(f"<h{level}>{esc(text)}</h{level}>")
        return self

    def text(self, text: str, note: bool = False) -> "Page":
        cls = ' class="note"' if note else ""
        self.parts.append(f"<p{cls}>{esc(text)}</p>")
        return self

    def table(self, header: Sequence[str], rows: Iterable[Sequence[Any]],
              row_classes: Iterable[str] | None = None,
              numeric: Sequence[int] = (), cell_classes: dict[int, str] | None = None
              ) -> "Page":
        """A table; numbers (and the ``numeric`` columns, e.g. formatted intervals) are
        right-aligned, everything is escaped. Wide tables scroll rather than overflow."""
        cell_classes = cell_classes or {}
        out = ['<div class="table-wrap"><table><thead><tr>',
               *(f"<th>{esc(h)}</th>" for h in header), "</tr></thead><tbody>"]
        classes = list(row_classes) if row_classes is not None else None
        for i, row in enumerate(rows):
            cls = f' class="{esc(classes[i])}"' if classes and classes[i] else ""
            cells = "".join(
                f'<td class="num">{esc(c)}</td>' if isinstance(c, (int, float)) or j in numeric
                else f'<td class="{esc(cell_classes[j])}">{esc(c)}</td>' if j in cell_classes
                else f"<td>{esc(c)}</td>" for j, c in enumerate(row))
            out.append(f"<tr{cls}>{cells}</tr>")
        out.append("</tbody></table></div>")
        self.parts.append("".join(out))
        return self

    @contextmanager
    def details(self, summary: str, open: bool = False) -> Iterator["Page"]:
        """A collapsible block: long reference tables stay out of the way until opened."""
        self.parts.append(f"<details{' open' if open else ''}><summary>{esc(summary)}</summary>")
        try:
            yield self
        finally:
            self.parts.append("</details>")

    def matrix(self, header: Sequence[str],
               rows: Sequence[tuple[str, Sequence[tuple[Sequence[str], str]]]]) -> "Page":
        """A table of labelled rows whose cells each carry lines of text and a class (the
        compare report's lever x target matrix, coloured by direction and certainty)."""
        out = ['<div class="table-wrap"><table class="matrix"><thead><tr>',
               *(f"<th>{esc(h)}</th>" for h in header), "</tr></thead><tbody>"]
        for label, cells in rows:
            tds = "".join(f'<td class="{esc(cls)}">' + "<br>".join(esc(x) for x in lines)
                          + "</td>" for lines, cls in cells)
            out.append(f"<tr><th>{esc(label)}</th>{tds}</tr>")
        out.append("</tbody></table></div>")
        self.parts.append("".join(out))
        return self

    def warning(self, text: str) -> "Page":
        self.parts.append(f'<p class="warning">{esc(text)}</p>')
        return self

    @contextmanager
    def section(self, cls: str, section_id: str) -> Iterator["Page"]:
        """A block with a class and an id (the verdict summary, which prints as page one)."""
        self.parts.append(f'<section class="{esc(cls)}" id="{esc(section_id)}">')
        try:
            yield self
        finally:
            self.parts.append("</section>")

    def glossary(self, terms: Sequence[tuple[str, str]]) -> "Page":
        """Definitions of the words a reader may not know, kept out of the tables' way."""
        items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in terms)
        self.parts.append(f'<dl class="glossary">{items}</dl>')
        return self

    def figure(self, fig: Chart | go.Figure) -> "Page":
        """A chart in one look for every report (white template, the same margins); plain
        charts (``sim.reports.figure``) are embedded without Plotly's validation."""
        self.n_figures += 1
        look = dict(autosize=True, margin=dict(l=60, r=30, t=90, b=50))
        if isinstance(fig, Chart):
            fig.update_layout(template=white_template(), **look)
        else:
            fig.update_layout(template="plotly_white")
            fig.update_layout(**look)
        spec = fig.to_dict()
        self.parts.append('<div class="figure">' + figure_div(spec, f"figure-{self.n_figures}")
                          + "</div>")
        return self

    def render(self) -> str:
        return self.render_bytes().decode("utf-8")

    def render_bytes(self) -> bytes:
        """The page as UTF-8, plotly.js copied in as the bytes of Plotly's file: decoding
        and encoding again its 5 MB took a tenth of the run report's time."""
        head = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"<title>{esc(self.title)}</title><style>{STYLE}</style>"
                f"<script>{WATCH_ERRORS}</script>"
                "<script type=\"text/javascript\">")
        tail = ("</script></head><body>" + "\n".join(self.parts)
                + f"<script>{REPORT_STATUS}</script><script>{PRINT_FIT}</script></body></html>\n")
        return b"".join((head.encode("utf-8"), plotly_js(), tail.encode("utf-8")))


def plotly_js() -> bytes:
    """plotly.js, the file ``plotly.offline.get_plotlyjs`` reads (and decodes) from Plotly's
    package."""
    data = pkgutil.get_data("plotly", "package_data/plotly.min.js")
    assert data is not None
    return data


def figure_div(spec: dict[str, Any], div_id: str) -> str:
    """A figure's div and script, as ``plotly.io.to_html`` writes them for a figure's dict.

    Written here rather than by Plotly because ``plotly.io``'s serializer imports its
    validators and narwhals, which took a fifth of a second of ``run`` (issue #18)."""
    layout = spec.get("layout", {})
    template = layout.get("template", {}).get("layout", {})
    return FIGURE_DIV.format(
        id=div_id, data=figure_json(spec.get("data", [])), layout=figure_json(layout),
        config=json.dumps(FIGURE_CONFIG),
        width=_css_size(layout.get("width", template.get("width", "100%"))),
        height=_css_size(layout.get("height", template.get("height", "100%"))))


def figure_json(value: Any) -> str:
    """Plotly's JSON of a figure's data or layout: compact, NaN and infinities as null (which
    strict JSON lacks), and ``<``, ``>``, ``/`` escaped so that no text closes the script."""
    text = json.dumps(value, separators=(",", ":"), default=_json_value)
    if "NaN" in text or "Infinity" in text:
        text = json.dumps(json.loads(text, parse_constant=lambda _: None),
                          separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("/", "\\u002f")


def _json_value(value: Any) -> Any:
    """What ``json`` cannot write, as Plotly's encoder writes the kinds a chart holds: dates
    and times as ISO text, numpy arrays and numbers as lists and numbers."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"a chart cannot hold a {type(value).__name__}")


def _css_size(value: Any) -> str:
    """A figure's width or height for its div: a number in pixels, anything else as given."""
    try:
        float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(value) + "px"
