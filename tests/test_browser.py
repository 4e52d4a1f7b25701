"""The reports in a real browser: headless Chromium opens each page offline, and the page's
own status (``sim.reports.page``: figures found, figures drawn, script errors) must say that every
figure was drawn and no script failed. Scenario names and descriptions are hostile: if any
were run as HTML it would mark the page (``data-pwned``), which must not happen.

Skipped only when Chromium is absent (the CI installs Debian's package).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import plotly.graph_objects as go
import pytest

from conftest import write_sweep
from sim.commands.cli import main
from sim.reports.page import Page

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.toml"
CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--virtual-time-budget=10000")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

# Run as HTML, either would mark the page; shown as text they are harmless.
HOSTILE_NAME = "<script>document.documentElement.dataset.pwned='name'</script>"
HOSTILE_TEXT = "\"><img src=x onerror=\"document.documentElement.dataset.pwned='description'\">"


def scenario_file(folder: Path, stem: str, parent: Path, name: str, description: str,
                  extra: str = "") -> Path:
    """A short scenario (2018-2030) with the given name and description (TOML literal strings,
    which take both kinds of quote)."""
    path = folder / f"{stem}.toml"
    path.write_text(f"name = '''{name}'''\ndescription = '''{description}'''\n"
                    f'extends = "{parent}"\nstart_year = 2018\nhorizon = 2030\n{extra}')
    return path


def open_page(page: Path, width: int = 1280, height: int = 800) -> dict[str, str]:
    """Chromium's DOM after the page has loaded in a ``width`` x ``height`` window: the
    attributes of ``<html>`` and ``<body>``."""
    done = subprocess.run([CHROMIUM, *FLAGS, f"--window-size={width},{height}", "--dump-dom",
                           page.as_uri()], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    attrs: dict[str, str] = {}
    for tag in ("html", "body"):
        found = re.search(rf"<{tag}\b([^>]*)>", done.stdout)
        assert found, f"no <{tag}> in Chromium's DOM"
        attrs.update(re.findall(r'([\w-]+)="([^"]*)"', found.group(1)))
    return attrs


def assert_drawn(page: Path) -> dict[str, str]:
    source = page.read_text(encoding="utf-8")
    expected = source.count('class="plotly-graph-div"')
    assert expected > 0
    status = open_page(page)
    assert status.get("data-script-errors") == "0", status.get("data-script-error-text")
    assert status.get("data-figures") == str(expected)
    assert status.get("data-figures-drawn") == str(expected)
    assert "data-pwned" not in status, f"scenario text ran as HTML: {status['data-pwned']}"
    return status


def test_the_page_status_sees_script_errors_and_undrawn_figures(tmp_path):
    """The control: a page with a failing script and a figure Plotly never drew reports both
    (otherwise the tests below could not fail)."""
    page = Page("control")
    page.figure(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])))
    page.parts.append('<div class="plotly-graph-div" id="never-drawn"></div>')
    page.parts.append("<script>null.boom();</script>")
    path = tmp_path / "control.html"
    path.write_text(page.render(), encoding="utf-8")
    status = open_page(path)
    assert status["data-figures"] == "2" and status["data-figures-drawn"] == "1"
    assert status["data-script-errors"] == "1" and "null" in status["data-script-error-text"]


def test_the_run_report_draws_every_figure_without_errors(tmp_path):
    path = scenario_file(tmp_path, "hostile", BASELINE, HOSTILE_NAME, HOSTILE_TEXT)
    out = tmp_path / "out"
    assert main(["run", str(path), "--replications", "2", "--workers", "1", "--quiet",
                 "--out", str(out)]) == 0
    assert_drawn(out / "report.html")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert HOSTILE_NAME not in html and HOSTILE_TEXT not in html and "<img src=x" not in html


def test_the_comparison_report_draws_every_figure_without_errors(tmp_path):
    a = scenario_file(tmp_path, "a", BASELINE, HOSTILE_NAME, HOSTILE_TEXT)
    b = scenario_file(tmp_path, "b", ROOT / "scenarios" / "no_reform.toml", HOSTILE_TEXT,
                      HOSTILE_NAME)
    out = tmp_path / "out"
    assert main(["compare", str(a), str(b), "--replications", "2", "--workers", "1", "--quiet",
                 "--out", str(out)]) == 0
    assert_drawn(out / "report.html")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert HOSTILE_NAME not in html and HOSTILE_TEXT not in html and "<img src=x" not in html


def test_the_sweep_report_draws_every_figure_without_errors(tmp_path):
    sweep = write_sweep(tmp_path)
    out = tmp_path / "out"
    assert main(["sweep", str(sweep), "--replications", "1", "--workers", "1", "--quiet",
                 "--out", str(out)]) == 0
    assert_drawn(out / "report.html")


# -- the verdict first, on screen and on paper ----------------------------------------------


@pytest.fixture(scope="module")
def run_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "out"
    assert main(["run", str(BASELINE), "--replications", "2", "--workers", "1", "--quiet",
                 "--out", str(out)]) == 0
    return out / "report.html"


@pytest.fixture(scope="module")
def compare_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compare") / "out"
    assert main(["compare", str(BASELINE), str(ROOT / "scenarios" / "deployment_targeting.toml"),
                 str(ROOT / "scenarios" / "no_reform.toml"), "--replications", "2",
                 "--workers", "1", "--quiet", "--out", str(out)]) == 0
    return out / "report.html"


@pytest.fixture(scope="module")
def sweep_report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sweep")
    out = folder / "out"
    assert main(["sweep", str(write_sweep(folder)), "--replications", "1", "--workers", "1",
                 "--quiet", "--out", str(out)]) == 0
    return out / "report.html"


@pytest.mark.parametrize("width", [1024, 1400])
@pytest.mark.parametrize("report", ["run_report", "compare_report", "sweep_report"])
def test_the_verdict_is_in_the_first_screen_and_nothing_overflows(report, width, request):
    """The run report's verdict table, the comparison's lever x target matrix and the sweep's
    findings end within the first 800 px, and no page is wider than the window."""
    status = open_page(request.getfixturevalue(report), width, 800)
    assert status.get("data-script-errors") == "0", status.get("data-script-error-text")
    assert int(status["data-verdict-bottom"]) <= 800, status["data-verdict-bottom"]
    assert status["data-overflow-x"] == "no"


def print_to_pdf(page: Path, pdf: Path) -> list[str]:
    """Chromium's default print of the page (A4 from the page's own stylesheet), as text per
    PDF page."""
    pypdf = pytest.importorskip("pypdf")
    done = subprocess.run([CHROMIUM, *FLAGS, "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
                           page.as_uri()], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and pdf.exists(), done.stderr[-2000:]
    # Ligatures (ﬀ, ﬁ) come out of the PDF as single glyphs; fold them back for matching.
    fold = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl"})
    return [" ".join(p.extract_text().translate(fold).split())
            for p in pypdf.PdfReader(str(pdf)).pages]


def test_the_printed_comparison_opens_with_the_matrix(compare_report, tmp_path):
    first = print_to_pdf(compare_report, tmp_path / "compare.pdf")[0]
    assert "What each lever does to the targets" in first
    assert "deployment_targeting" in first and "no_reform" in first
    assert "pts" in first or "no effect" in first      # the cells, not only the headers


def test_the_printed_report_keeps_every_verdict_column_on_page_one(run_report, tmp_path):
    pages = print_to_pdf(run_report, tmp_path / "report.pdf")
    first = pages[0]
    for header in ("target", "verdict", "chance of meeting it", "women needed",
                   "women forecast"):
        assert header in first, f"{header!r} missing from the printed summary page"
    assert "UN military contingents: 15% by 2028" in first
    assert any(v in first for v in ("on track", "at risk", "off track"))
    assert len(pages) > 1   # the summary prints as a page of its own, the detail after it
