"""The thread rule: LightGBM threads and feature workers that degrade gently on a busy machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hms_features import parallel as P

ROOT = Path(__file__).resolve().parents[1]
BIG = (600, 3274)  # the demo's table: 1.96 M cells
SMALL = (175, 3274)  # an 8-patient table: 0.57 M cells


def test_available_cpus_follows_the_affinity_mask():
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert P.available_cpus() == expected >= 1


@pytest.mark.parametrize(("n_jobs", "expected"), [(None, 1), (1, 1), (3, 3), (-1, 4), (-2, 3),
                                                  (-4, 1), (-9, 1)])
def test_feature_workers(monkeypatch, n_jobs, expected):
    monkeypatch.setattr(P, "available_cpus", lambda: 4)
    assert P.feature_workers(n_jobs) == expected


@pytest.mark.parametrize(
    ("n_jobs", "shape", "idle", "cpus", "expected"),
    [
        (None, BIG, 4.0, 4, 1),  # scikit-learn's convention
        (1, BIG, 4.0, 4, 1),
        (2, BIG, 0.0, 4, 2),  # an explicit count is honoured, even on a busy machine ...
        (8, BIG, 4.0, 4, 4),  # ... up to the CPUs this process may use
        (-1, BIG, 2.0, 2, 2),  # idle machine: all cores
        (-1, BIG, 1.6, 2, 2),
        (-1, BIG, 1.4, 2, 1),  # one core taken: one thread
        (-1, BIG, 0.1, 2, 1),  # both cores taken
        (-1, BIG, 3.0, 4, 3),
        (-2, BIG, 4.0, 4, 3),  # "all but one" caps the idle count
        (-1, SMALL, 2.0, 2, 1),  # small tables: one thread whatever the load
        (-1, BIG, None, 2, 1),  # load unknown (no /proc/stat): the safe choice
        (-1, BIG, 2.0, 1, 1),
    ],
)
def test_lightgbm_threads_when_openmp_spins(n_jobs, shape, idle, cpus, expected, monkeypatch):
    monkeypatch.setattr(P, "idle_cpus", lambda *a, **k: idle)
    assert P.lightgbm_threads(n_jobs, *shape, cpus=cpus, passive=False) == expected
    if idle is not None:
        assert P.lightgbm_threads(n_jobs, *shape, idle=idle, cpus=cpus, passive=False) == expected


@pytest.mark.parametrize(
    ("n_jobs", "shape", "cpus", "expected"),
    [
        (None, BIG, 4, 1),
        (1, BIG, 4, 1),
        (3, BIG, 2, 2),
        (-1, BIG, 2, 2),  # passive threads cost nothing while they wait: all CPUs
        (-1, BIG, 8, 8),
        (-2, BIG, 8, 7),
        (-1, SMALL, 8, 1),  # small tables: one thread (waking a second costs more)
        (2, SMALL, 8, 2),  # ... unless the user asks for more
    ],
)
def test_lightgbm_threads_when_openmp_waits_passively(n_jobs, shape, cpus, expected,
                                                      monkeypatch):
    def boom(*a, **k):
        raise AssertionError("idle_cpus needs not be sampled when threads wait passively")

    monkeypatch.setattr(P, "idle_cpus", boom)
    assert P.lightgbm_threads(n_jobs, *shape, cpus=cpus, passive=True) == expected
    monkeypatch.setattr(P, "openmp_passive", lambda: True)
    assert P.lightgbm_threads(n_jobs, *shape, cpus=cpus) == expected


def test_lightgbm_threads_small_table_does_not_sample_the_cpus(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("idle_cpus called for a small table")

    monkeypatch.setattr(P, "idle_cpus", boom)
    assert P.lightgbm_threads(-1, 100, 100, cpus=8, passive=False) == 1
    assert P.lightgbm_threads(-1, P.SMALL_TABLE_CELLS - 1, 1, cpus=8, passive=False) == 1
    # whatever the waiting policy; from SMALL_TABLE_CELLS on, passive waiting gets all CPUs
    for passive in (True, False):
        assert P.lightgbm_threads(-1, P.SMALL_TABLE_CELLS - 1, 1, cpus=8, passive=passive) == 1
    assert P.lightgbm_threads(-1, P.SMALL_TABLE_CELLS, 1, cpus=8, passive=True) == 8


def test_zero_jobs_is_an_error():
    with pytest.raises(ValueError, match="n_jobs=0"):
        P.lightgbm_threads(0, *BIG)
    with pytest.raises(ValueError, match="n_jobs=0"):
        P.feature_workers(0)


def test_cpu_times_reads_the_affine_cpus_of_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text(
        "cpu  30 0 30 300 6 0 0 0 0 0\n"
        "cpu0 10 0 10 100 2 0 0 0 0 0\n"
        "cpu1 20 0 20 200 4 0 0 1 0 0\n"
        "cpu12 5 0 5 50 0 0 0 0 0 0\n"
        "intr 1 2 3\n"
    )
    # idle = idle + iowait; total = user..steal (guest time is already in user)
    assert P._cpu_times({0}, str(stat)) == (102.0, 122.0)
    assert P._cpu_times({0, 1}, str(stat)) == (102.0 + 204.0, 122.0 + 245.0)
    assert P._cpu_times({12}, str(stat)) == (50.0, 60.0)
    assert P._cpu_times({3}, str(stat)) == (0.0, 0.0)


def test_idle_cpus_is_between_zero_and_the_cpu_count():
    idle = P.idle_cpus(0.05)
    if not Path("/proc/stat").exists():
        assert idle is None
    else:
        assert 0.0 <= idle <= P.available_cpus()


def test_idle_cpus_without_proc_stat_is_none(tmp_path):
    assert P.idle_cpus(0.0, str(tmp_path / "missing")) is None


def _gomp_spincounts(code: str, **env) -> list[str]:
    """GOMP_SPINCOUNT of every libgomp loaded by ``code`` in a fresh interpreter."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    e.update(OMP_DISPLAY_ENV="VERBOSE", PYTHONPATH=str(ROOT), **env)
    r = subprocess.run([sys.executable, "-c", code], env=e, cwd=ROOT, capture_output=True,
                       text=True, timeout=120, check=True)
    return [line.split("=")[1].strip(" '") for line in r.stderr.splitlines()
            if line.strip().startswith("GOMP_SPINCOUNT")]


def test_passive_waiting_reaches_lightgbm_when_hms_features_is_imported_first():
    # libgomp prints its settings when loaded; PASSIVE shows as a spin count of 0
    code = "import hms_features, lightgbm, os; assert lightgbm.basic._LIB is not None"
    counts = _gomp_spincounts(code)
    assert counts and all(c == "0" for c in counts), counts


def test_lightgbm_alone_spins_which_is_what_the_import_prevents():
    counts = _gomp_spincounts("import lightgbm; lightgbm.basic._LIB")
    assert counts and all(c != "0" for c in counts), counts


def test_a_users_own_wait_policy_is_kept():
    code = "import os, hms_features, lightgbm; assert os.environ['OMP_WAIT_POLICY'] == 'ACTIVE'"
    counts = _gomp_spincounts(code, OMP_WAIT_POLICY="ACTIVE")
    assert counts and all(c != "0" for c in counts), counts


@pytest.mark.parametrize(
    ("code", "policy", "expected"),
    [
        ("import hms_features", None, True),
        ("import lightgbm, hms_features", None, False),  # libgomp loaded first: it spins
        ("import hms_features", "ACTIVE", False),
        ("import lightgbm, hms_features", "passive", True),
    ],
)
def test_openmp_passive_knows_whether_the_policy_reached_libgomp(code, policy, expected):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    env["PYTHONPATH"] = str(ROOT)
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    code += "; from hms_features.parallel import openmp_passive; print(openmp_passive())"
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                       text=True, timeout=120, check=True)
    assert r.stdout.strip() == str(expected)


# ------------------------------------------------------- the command line's default is the safe one
def _recorded_threads(monkeypatch, n_jobs, shape=(60, 5)):
    """num_threads LightGBM receives when the classifier is fitted with ``n_jobs``."""
    import lightgbm

    from hms_features.models import SoftLabelLGBMClassifier

    seen, real_train = [], lightgbm.train

    def spy(params, *a, **k):
        seen.append(params["num_threads"])
        return real_train(params, *a, **k)

    monkeypatch.setattr(lightgbm, "train", spy)
    rng = np.random.default_rng(0)
    X = rng.normal(size=shape)
    votes = rng.integers(0, 4, size=(shape[0], 6)) + np.eye(6, dtype=int)[np.arange(shape[0]) % 6]
    SoftLabelLGBMClassifier(n_estimators=2, n_jobs=n_jobs).fit(X, votes)
    return seen


def test_cli_default_threads_follow_the_safe_rule(monkeypatch):
    from hms_features import parallel
    from hms_features.cli import build_parser

    default = build_parser().parse_args(["cv", "DATA"]).n_jobs
    seen = _recorded_threads(monkeypatch, default)
    assert seen and max(seen) <= parallel.lightgbm_threads(default, 60, 5)
    # where OpenMP spins and no CPU is idle, the default must fall back to one thread
    monkeypatch.setattr(parallel, "openmp_passive", lambda: False)
    monkeypatch.setattr(parallel, "idle_cpus", lambda *a, **k: 0.0)
    assert set(_recorded_threads(monkeypatch, default)) == {1}


# ------------------------------------------------------------------------------- freed memory

_HEAP_SCRIPT = """
import resource, sys
import numpy as np
from hms_features import parallel as P

def rss_mib():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

def work():  # 4 x 24 MiB alive at once, then freed: 96 MiB, above glibc's 64 MiB trim ceiling
    arrays = [np.ones(3 * 2**20) for _ in range(4)]
    del arrays

held = P.hold_heap() if sys.argv[1] == "hold" else None
big = np.ones(5 * 2**20)  # 40 MiB: glibc's dynamic thresholds reach their ceilings
del big
work()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    work()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
rss_held = rss_mib()
released = P.release_heap() if held else None
print(held, faults, rss_held, released, rss_mib())
"""


def _heap_run(mode):
    out = subprocess.run([sys.executable, "-c", _HEAP_SCRIPT, mode], capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout.split()
    held, faults, rss_held, released, rss_after = out
    return held, int(faults), float(rss_held), released, float(rss_after)


@pytest.mark.skipif(P._glibc() is None, reason="the heap policy applies to glibc only; the "
                    "test of its absence below runs everywhere")
def test_hold_heap_keeps_freed_memory_for_the_next_arrays_and_release_returns_it():
    # fresh interpreters: glibc's thresholds are process state
    _, faults_default, rss_default, _, _ = _heap_run("default")
    held, faults_held, rss_held, released, rss_after = _heap_run("hold")
    assert held == "True" and released == "True"
    # glibc's default gives the 96 MiB back after every round and faults it in again (about
    # 20,000 page faults here with 4 KiB pages, fewer where transparent huge pages back them);
    # held, the same arrays come from the heap
    assert faults_default >= 20 * max(faults_held, 1)
    assert rss_held > rss_default + 64  # the freed 96 MiB kept ...
    assert rss_after < rss_held - 64  # ... until release_heap gives it back


def test_heap_policy_changes_nothing_without_glibc(monkeypatch):
    monkeypatch.setattr(P, "_glibc", lambda: None)
    assert P.hold_heap() is False
    assert P.release_heap() is False
    with P.heap_held() as held:
        assert held is False


# ------------------------------------------------------------------------- loky's leak check

_LOKY_SCRIPT = """
import os, sys, time
import numpy as np
from joblib.externals.loky import ProcessPoolExecutor
from hms_features import parallel as P

def pid(setup):
    if setup:
        P.feature_worker()
    return os.getpid()

def grow(mib):  # what a held heap or a larger chunk does to a worker: mib MiB more, kept
    sys.hms_kept = np.ones(mib * 2**17)
    return os.getpid()

with ProcessPoolExecutor(max_workers=1) as ex:
    first = ex.submit(pid, sys.argv[1] == "feature").result()  # loky's reference: after call 1
    grown = ex.submit(grow, 400).result()
    time.sleep(1.5)  # loky measures at most once a second, after a call
    ex.submit(pid, False).result()
    time.sleep(1.0)
    last = ex.submit(pid, False).result()
print(first, grown, last)
"""


def test_feature_workers_are_not_restarted_by_lokys_leak_check():
    def run(mode):
        out = subprocess.run([sys.executable, "-c", _LOKY_SCRIPT, mode], capture_output=True,
                             text=True, check=True, cwd=ROOT, timeout=120).stdout.split()
        return [int(x) for x in out]

    # a plain loky worker that grows by 400 MiB after its first call is taken for a leak and
    # replaced by a new process (the check this guards against is real here) ...
    first, grown, last = run("plain")
    assert first == grown and last != first
    # ... a feature worker is kept
    first, grown, last = run("feature")
    assert first == grown == last
