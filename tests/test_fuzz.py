"""Hostile input: the scenario and sweep loaders never crash and never hang.

Hypothesis writes scenario and sweep files -- random bytes, TOML documents of random values
and structure, and valid files with keys replaced by random values -- and every one must end in
success or a clean exit-2 message naming the file, never a traceback; each example runs under
an alarm so a hang fails instead of stalling CI. Sweeps are only loaded and validated, never
run. Fixed seed (``derandomize``) and a bounded number of examples keep the run short.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sim.commands.cli import main
from sim.scenario.loading import InputError
from sim.scenario.schema import Scenario
from sim.runs.sweep_file import load_sweep

# CI: a fixed seed and 60 examples a test. FUZZ_EXAMPLES=N explores N random examples instead.
DEEPER = int(os.environ.get("FUZZ_EXAMPLES", "0"))
FUZZ = settings(derandomize=not DEEPER, max_examples=DEEPER or 60, deadline=None,
                database=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.function_scoped_fixture])
SECONDS = 10   # one load taking longer than this is a hang


@contextlib.contextmanager
def no_hang(seconds: int = SECONDS):
    def alarm(signum, frame):
        raise TimeoutError(f"a loader ran for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _leaves(node, prefix=()):
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from _leaves(v, (*prefix, k))
    else:
        yield prefix


SCENARIO_KEYS = [".".join(p) for p in _leaves(Scenario(name="x").model_dump(mode="python"))]

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
scalars = st.one_of(
    st.integers(-2**63, 2**63 - 1), st.integers(-3, 3000),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(-2, 2), st.booleans(), text,
    st.sampled_from(["off", "never", "linear", "2025-07-01", "", ".", "..", "a" * 300,
                     "../baseline.toml", "x\x00y"]),
    st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)), st.datetimes(), st.times())
HOSTILE_PATHS = ["", ".", "..", "/", "a" * 300, "x\x00y", "/dev/zero", "/proc/self/mem",
                 "../" * 40 + "etc/passwd", "base.toml", "fuzz.toml", "fuzz_sweep.toml",
                 "../baseline.toml", "nested/../base.toml", "\u00e9t\u00e9.toml"]
paths = st.one_of(st.sampled_from(HOSTILE_PATHS), text)
values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4)
                      | st.dictionaries(text, kids, max_size=4), max_leaves=8)
dated = st.lists(st.tuples(st.one_of(st.dates(), st.integers(1800, 2300), text), scalars)
                 .map(list), max_size=3)


def nest(key: str, value) -> dict:
    out = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


def deep_merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k),
                                                                             dict) else v
    return out


@st.composite
def scenario_docs(draw) -> dict:
    """Real keys (and some invented ones) set to random values, dated lists and tables."""
    doc: dict = {}
    if draw(st.booleans()):
        doc["name"] = draw(st.one_of(text, st.just("ok"), scalars))
    for _ in range(draw(st.integers(0, 5))):
        key = draw(st.one_of(st.sampled_from(SCENARIO_KEYS), st.sampled_from(
            ["extends", "calibration", "armed_forces", "dema.pool", "meta.note"]),
            text.filter(bool)))
        if key in ("extends", "calibration"):
            value = draw(st.one_of(paths, scalars))
        else:
            value = draw(st.one_of(values, dated, st.dictionaries(
                st.just("linear"), dated, min_size=1)))
        try:
            doc = deep_merge(doc, nest(key, value))
        except (AttributeError, TypeError):
            continue
    return doc


def _write_toml(path: Path, doc: dict) -> bool:
    try:
        path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    except (TypeError, ValueError):
        return False      # not representable in TOML: nothing to test
    return True


def _validate(path: Path, capsys) -> None:
    """``validate`` ends in 0 or a clean 2 naming the file; it never raises."""
    with no_hang():
        rc = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert rc in (0, 2), (rc, out, err)
    if rc == 2:
        assert err.startswith("error: ") and str(path) in err and "Traceback" not in err, err
    else:
        assert out.startswith("ok: "), out


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_as_a_scenario(tmp_path, capsys, data):
    path = tmp_path / "fuzz.toml"
    path.write_bytes(data)
    _validate(path, capsys)


@FUZZ
@given(scenario_docs())
@example({"name": "x", "extends": "a" * 300})
@example({"name": "x", "calibration": "x\x00y"})
def test_random_toml_scenarios(tmp_path, capsys, doc):
    path = tmp_path / "fuzz.toml"
    if _write_toml(path, doc):
        _validate(path, capsys)


@FUZZ
@given(st.sampled_from(SCENARIO_KEYS), st.one_of(values, dated))
def test_one_key_of_a_valid_scenario_replaced(tmp_path, capsys, key, value):
    """A valid file with one real key set to a random value (the commonest mistake)."""
    path = tmp_path / "fuzz.toml"
    doc = deep_merge({"name": "fuzz", "start_year": 2020, "horizon": 2030}, nest(key, value))
    if _write_toml(path, doc):
        _validate(path, capsys)


def test_the_fuzzed_validator_accepts_a_valid_file(tmp_path, capsys):
    path = tmp_path / "ok.toml"
    _write_toml(path, {"name": "fuzz", "horizon": 2030,
                       "armed_forces": {"careers": {"women_attrition_ratio": [[2026, 1.0]]}}})
    assert main(["validate", str(path)]) == 0
    path.write_text("name = 'fuzz'\nhorizon = 2020\n")
    assert main(["validate", str(path)]) == 2
    assert "horizon" in capsys.readouterr().err


# -- sweeps -----------------------------------------------------------------------------------

SWEEP = {"name": "fuzz", "base": "base.toml", "design": "grid", "replications": 2, "seed": 1,
         "parameters": [{"key": "armed_forces.careers.women_attrition_ratio",
                         "values": [1.0, 1.35]}]}
SWEEP_KEYS = ["name", "description", "base", "design", "samples", "replications",
              "replications_per_task", "seed", "random_numbers", "agencies", "overrides",
              "targets", "outputs", "parameters"]
PARAMETER_KEYS = ["key", "low", "high", "levels", "values", "from"]


@st.composite
def sweep_docs(draw) -> dict:
    doc = dict(SWEEP)
    for key in draw(st.lists(st.sampled_from(SWEEP_KEYS), max_size=4)):
        if draw(st.booleans()):
            doc.pop(key, None)
        else:
            doc[key] = draw(paths if key == "base" else values)
    if draw(st.booleans()):
        param: dict = {"key": draw(st.one_of(st.sampled_from(SCENARIO_KEYS), text))}
        for key in draw(st.lists(st.sampled_from(PARAMETER_KEYS), max_size=4)):
            param[key] = draw(st.one_of(values, st.floats(-10, 10), st.integers(0, 20),
                                        st.lists(st.floats(-1, 3), max_size=4)))
        doc["parameters"] = [param]
    if draw(st.booleans()):
        doc["overrides"] = draw(scenario_docs())
    if draw(st.booleans()):
        doc["design"] = draw(st.sampled_from(["grid", "latin_hypercube", "sobol"]))
        doc["samples"] = draw(st.integers(-1, 70))
    return doc


def _load_sweep(path: Path, capsys) -> None:
    """The sweep loader returns a sweep or raises InputError naming the file; when it raises,
    the ``sweep`` command exits 2 before running anything."""
    try:
        with no_hang():
            load_sweep(path)
    except InputError as err:
        assert str(path) in str(err)
        with no_hang():
            assert main(["sweep", str(path), "--out", str(path.parent / "out")]) == 2
        assert capsys.readouterr().err.startswith("error: ")
        assert not (path.parent / "out").exists()


@pytest.fixture
def sweep_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("sweep")
    (d / "base.toml").write_text('name = "base"\nhorizon = 2026\nreplications = 2\n')
    return d


@FUZZ
@given(sweep_docs())
@example({**SWEEP, "base": "a" * 300})      # crashed with OSError: file name too long
@example({**SWEEP, "base": "x\x00y"})       # crashed with ValueError: embedded null byte
def test_random_sweep_files(sweep_dir, capsys, doc):
    path = sweep_dir / "fuzz_sweep.toml"
    if _write_toml(path, doc):
        _load_sweep(path, capsys)


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_as_a_sweep(sweep_dir, capsys, data):
    path = sweep_dir / "fuzz_sweep.toml"
    path.write_bytes(data)
    _load_sweep(path, capsys)


def test_the_fuzzed_sweep_loader_accepts_a_valid_file(sweep_dir):
    path = sweep_dir / "ok_sweep.toml"
    _write_toml(path, SWEEP)
    assert load_sweep(path).keys == ["armed_forces.careers.women_attrition_ratio"]
