"""The compiled kernels against the numpy reference path (sim.model.kernels).

The kernels are the engine's hot loops rewritten for numba; the numpy code in roster, careers,
deployment and agencies is their specification. Both paths draw the same random numbers in
the same order and do the same floating-point operations, so every count of every
replication must be identical, not merely close.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from importlib.util import find_spec

import numpy as np
import pytest

from sim.model import kernels
from sim.model.agencies import AGENCY_CLASSES, change_months
from sim.model.replication import simulate
from sim.scenario.loading import load_scenario

pytestmark = pytest.mark.skipif(find_spec("numba") is None, reason="numba is not installed")


@pytest.fixture
def path_choice():
    yield kernels.use
    kernels.use(None)


def _both(scenario, replication: int, use):
    use(False)
    reference = simulate(scenario, replication)
    use(True)
    compiled = simulate(scenario, replication)
    return reference, compiled


@pytest.mark.parametrize("name,replications", [
    ("baseline", (0, 1, 2)),
    ("deployment_targeting", (3,)),       # a target share at rotations
    ("leadership_appointments", (4,)),    # women first up to an appointment share
    ("dema_pool_drive", (5,)),            # the pool's size and withdrawal
])
def test_compiled_kernels_give_the_reference_counts_exactly(root, path_choice, name,
                                                            replications):
    scenario = load_scenario(root / "scenarios" / f"{name}.toml")
    for r in replications:
        reference, compiled = _both(scenario, r, path_choice)
        for f in fields(reference.tally):
            np.testing.assert_array_equal(getattr(compiled.tally, f.name),
                                          getattr(reference.tally, f.name),
                                          err_msg=f"{name} replication {r}: {f.name}")
        assert compiled.person_events == reference.person_events
        assert compiled.simpy_events == reference.simpy_events


def test_rotations_and_appointments_probing_runs_short_alike(root, tmp_path, path_choice):
    """Where candidates are scarce, probing rows stops at its budget and the rest is drawn
    from the full list (``deployment.probe_rows``, ``kernels._probe``): both paths alike.
    The police's UN posts ask for 25 years as an officer (a handful qualify) and get 300
    posts, leader posts jump past the officers with 8 years, and DEMA's women are all but
    never drawn."""
    (tmp_path / "scarce.toml").write_text(f"""
name = "scarce"
extends = "{(root / 'scenarios' / 'baseline.toml').as_posix()}"
horizon = 2025
[police.deployment.un_ipo]
positions = 300
min_years_in_stage = 25.0
[police.careers]
establishment_leaders = [[2010-01-01, 1000], [2013-01-01, 9000]]
[dema.deployment]
women_selection_weight = 0.001
""")
    scenario = load_scenario(tmp_path / "scarce.toml")
    reference, compiled = _both(scenario, 0, path_choice)
    for f in fields(reference.tally):
        np.testing.assert_array_equal(getattr(compiled.tally, f.name),
                                      getattr(reference.tally, f.name), err_msg=f.name)
    assert compiled.person_events == reference.person_events


def test_the_paths_are_chosen_by_the_environment(monkeypatch, path_choice):
    monkeypatch.setenv("WPS_SIM_KERNELS", "0")
    assert kernels.load() is None
    monkeypatch.setenv("WPS_SIM_KERNELS", "1")
    assert kernels.load().path == "ahead-of-time"
    monkeypatch.setenv("WPS_SIM_KERNELS", "jit")
    assert kernels.load().path == "jit"
    path_choice(False)                    # an explicit choice wins over the environment
    assert kernels.load() is None


def test_the_install_built_the_kernels_ahead_of_time_from_this_source():
    """``pip install`` builds ``sim.model._kernels_aot`` (setup.py, sim/model/ahead_of_time.py)
    and a run loads it instead of numba. If this fails, the install had no C compiler, numba
    failed to build (setup.py prints why: ``pip install -v``), or kernels.py changed since:
    ``pip install -e .`` again."""
    from sim.model import _kernels_aot

    assert _kernels_aot.source_digest() == kernels.source_digest()
    assert kernels._ahead_of_time() is not None


def test_a_build_from_another_source_is_not_used(monkeypatch, path_choice):
    """An edited kernels.py (its digest no longer the build's) runs numba's compilation, never
    the stale build."""
    monkeypatch.setattr(kernels, "source_digest", lambda: 1)
    monkeypatch.delitem(kernels._LOADED, "compiled", raising=False)
    path_choice(True)
    assert kernels._ahead_of_time() is None
    assert kernels.load().path == "jit"


@pytest.mark.parametrize("name,replication", [("baseline", 0), ("leadership_appointments", 4),
                                              ("dema_pool_drive", 5)])
def test_the_kernels_built_ahead_of_time_are_numbas_own(root, path_choice, name, replication):
    """The two builds of the kernels (numba's compilation at first use, and the install's
    ahead-of-time build for the generic CPU) give identical tallies."""
    scenario = load_scenario(root / "scenarios" / f"{name}.toml")
    path_choice("jit")
    jit = simulate(scenario, replication)
    path_choice(True)
    assert kernels.load().path == "ahead-of-time"
    built = simulate(scenario, replication)
    for f in fields(jit.tally):
        np.testing.assert_array_equal(getattr(built.tally, f.name), getattr(jit.tally, f.name),
                                      err_msg=f"{name}: {f.name}")
    assert built.person_events == jit.person_events


def test_a_failed_ahead_of_time_build_leaves_the_install_to_numba(monkeypatch):
    """setup.py's build is best effort: where numba's ahead-of-time compiler is missing or
    fails, the install goes on without the module (and runs compile the kernels instead)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # pycc's pending deprecation
        import numba.pycc

    from sim.model import ahead_of_time

    def broken(*args, **kwargs):
        raise RuntimeError("no pycc here")

    monkeypatch.setattr(numba.pycc, "CC", broken)
    with pytest.warns(RuntimeWarning, match="not be built ahead of time"):
        assert ahead_of_time.setup_arguments() == {}


@pytest.mark.parametrize("name", ["baseline", "no_reform", "registration_lottery_only",
                                  "leadership_appointments", "recruitment_push"])
def test_career_rules_change_only_when_a_declared_lever_does(root, name):
    """The careers step rebuilds its rules only at the change months of ``rule_levers``;
    a lever that ``rules`` reads but an agency failed to declare would leave stale rules.
    Rebuilding them every month must give the rules in force since the last change."""
    scenario = load_scenario(root / "scenarios" / f"{name}.toml")
    for cls in AGENCY_CLASSES.values():
        agency = cls(scenario, 0)
        changes = change_months(agency.rule_levers())
        current = agency.rules(agency.start)
        for month in range(agency.start + 1, agency.end):
            if month in changes:
                current = agency.rules(month)
                continue
            fresh = agency.rules(month)
            for f in fields(fresh):
                assert np.array_equal(getattr(fresh, f.name), getattr(current, f.name)), \
                    (name, agency.name, month, f.name)


def test_kept_rotation_levers_are_those_in_force(root, tmp_path):
    """The rotations' lever values are kept per calendar month between the months at which a
    deployment lever can change; levers that change in months without a rotation, and one
    that ramps, must still be read as in force at every rotation."""
    (tmp_path / "dated.toml").write_text(f"""
name = "dated_rotations"
extends = "{(root / 'scenarios' / 'baseline.toml').as_posix()}"
[armed_forces.deployment]
rest_months = [[2027-02-01, 18], [2029-05-01, 30]]
women_selection_weight = [[2026-01-01, 1.0, "linear"], [2030-01-01, 2.0]]
[armed_forces.deployment.un_contingent]
positions = [[2027-03-01, 29], [2028-08-01, 40]]
target_share = [[2028-11-01, 0.2]]
""")
    for path in (tmp_path / "dated.toml", root / "scenarios" / "deployment_targeting.toml"):
        scenario = load_scenario(path)
        for cls in AGENCY_CLASSES.values():
            agency, fresh = cls(scenario, 0), cls(scenario, 0)
            for month in range(agency.start, agency.end):
                due = agency._due(month % 12)
                if not due:
                    continue
                fresh._rotation_values.clear()
                kept, now = agency._rotation_levers(due, month), fresh._rotation_levers(due, month)
                for a, b in zip(kept, now):
                    np.testing.assert_array_equal(a, b, err_msg=f"{path.name} {month}")


def test_loading_the_kernels_spares_scipy_linalg_and_restores_numbas_check(root):
    """Loading the kernels in a fresh process imports numba's registries without scipy.linalg
    (``kernels._load_registries``), leaves numba's BLAS check as it was, and freezes what it
    loaded out of the garbage collector's walks."""
    probe = ("import gc, sys\nfrom numba.np import linalg\nbefore = linalg.ensure_blas\n"
             "from sim.model import kernels\nkernels.use('jit')\nk = kernels.load()\n"
             "print(k is not None, 'scipy.linalg' in sys.modules, "
             "linalg.ensure_blas is before, gc.get_freeze_count() > 0)\n")
    out = subprocess.run([sys.executable, "-c", probe], cwd=root, check=True,
                         capture_output=True, text=True).stdout.split()
    assert out == ["True", "False", "True", "True"]


def test_without_a_cache_folder_the_numpy_path_runs_with_a_warning(monkeypatch):
    """numba refuses ``cache=True`` where no folder is writable (a read-only install and
    home on a cluster): the kernels are then not used, rather than compiled anew in every
    worker (about a minute each) or failing the run."""
    import numba

    def refuse(*args, **kwargs):
        def decorate(fn):
            raise RuntimeError(f"cannot cache function {fn.__name__!r}: no locator available")
        return decorate

    monkeypatch.setattr(numba, "njit", refuse)
    for name in (*kernels._INLINE, *kernels._PIECES, *kernels._KERNELS):   # as if never compiled
        monkeypatch.setattr(kernels, name, getattr(getattr(kernels, name), "py_func",
                                                   getattr(kernels, name)))
    before = dict(vars(kernels))
    with pytest.warns(RuntimeWarning, match="NUMBA_CACHE_DIR"):
        assert kernels._compile() is None
    assert all(vars(kernels)[name] is before[name] for name in kernels._KERNELS)


def test_the_engine_passes_each_kernel_its_declared_types(root, path_choice, monkeypatch):
    """Neither ``kernels._Direct`` nor the ahead-of-time build checks the types of the arrays
    it is given, which is right only while the engine passes every kernel the types of
    ``kernels.SIGNATURES``: run every scenario through numba's dispatcher, which types each
    call, and check each kernel has only its declared version."""
    from numba.core import sigutils

    path_choice("jit")
    monkeypatch.setattr(kernels._Direct, "__call__",
                        lambda self, *args: self.dispatcher(*args))
    for path in sorted((root / "scenarios").glob("*.toml")):
        simulate(load_scenario(path), 0)
    kernels.load()
    assert set(kernels.SIGNATURES) == set(kernels._KERNELS)
    called = 0
    for name, declared in kernels.SIGNATURES.items():
        arguments, returns = sigutils.normalize_signature(declared)
        dispatcher = getattr(kernels, name)
        for signature in dispatcher.signatures:
            assert signature == tuple(arguments), f"{name} was called with {signature}"
            assert dispatcher.overloads[signature].signature.return_type == returns, name
            called += 1
    # move_rows is called only inside the careers kernel: it has a version of its own only
    # where that kernel was compiled in this process rather than loaded from numba's cache.
    assert called >= len(kernels._KERNELS) - 1


@pytest.mark.parametrize("size", [0, 1, 2, 7, 1000])
def test_the_kernels_permutation_is_numpys(size, path_choice):
    """``kernels._permutation`` replaces numba's n-dimensional shuffle in the kernels: the same
    order as numpy's ``Generator.permutation`` and the stream left where numpy leaves it."""
    import numba

    path_choice("jit")
    kernels.load()

    @numba.njit
    def permute(stream, rows):
        return kernels._permutation(rows, kernels._generator(stream))

    ours, theirs = np.random.default_rng(size), np.random.default_rng(size)
    rows = np.arange(size, dtype=np.int64) * 3 + 1
    np.testing.assert_array_equal(permute(kernels.stream(ours), rows), theirs.permutation(rows))
    assert ours.random() == theirs.random()


def test_unique_below_and_distinct_are_numpys_unique(path_choice):
    """``kernels._unique_below`` and ``_distinct`` (a table instead of numba's sort, a large
    piece of code to load) give ``np.unique``'s answer, short ranges and long."""
    path_choice("jit")
    kernels.load()
    rng = np.random.default_rng(11)
    for top, size in ((50, 40), (6531, 1191), (10_000, 29), (1, 3), (5, 0)):
        values = rng.integers(0, top, size=size)
        np.testing.assert_array_equal(kernels._unique_below(values, top), np.unique(values))
        np.testing.assert_array_equal(kernels._distinct(values), np.unique(values))


def test_kth_smallest_is_numpys_partition(path_choice):
    """``kernels._kth_smallest`` (written out instead of numba's partition) finds the value
    ``np.partition`` puts at ``k``: ties, infinities, sorted and reversed input, every k of
    small arrays."""
    path_choice("jit")
    kernels.load()
    rng = np.random.default_rng(12)
    cases = [rng.exponential(size=n) for n in (1, 2, 3, 10, 257)]
    cases += [rng.integers(0, 4, size=60).astype(np.float64), np.arange(30.0),
              np.arange(30.0)[::-1].copy(), np.full(9, np.inf),
              np.concatenate([rng.exponential(size=20), np.full(5, np.inf)])]
    for values in cases:
        for k in range(len(values)):
            assert kernels._kth_smallest(values, k) == np.partition(values, k)[k]


@pytest.mark.parametrize("n_w,n_m,k,weight", [
    (1_466, 9_495, 181, 1.0),     # a large rotation: the threshold's branch
    (300, 700, 400, 2.5),         # k near the candidates: often the full partition
    (50, 5_000, 65, 0.0),         # women never drawn: their keys are inf
    (5_000, 20, 90, 1e-320),      # a tiny weight: women's keys overflow to inf
    (100, 100, 150, 40.0),        # a heavy weight
])
def test_the_race_of_keys_is_the_references(n_w, n_m, k, weight, path_choice):
    """``kernels._race`` finds the k-th key among those under a threshold (or all of them):
    the same women as ``deployment.women_drawn``, and the stream left where it leaves it."""
    import numba

    from sim.model.deployment import women_drawn

    path_choice("jit")
    kernels.load()

    @numba.njit
    def race(stream, n_w, n_m, k, weight):
        return kernels._women_drawn(n_w, n_m, k, weight, kernels._generator(stream))

    for seed in range(20):
        ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
        assert race(kernels.stream(ours), n_w, n_m, k, weight) == \
            women_drawn(n_w, n_m, k, weight, theirs)
        assert ours.random() == theirs.random()
