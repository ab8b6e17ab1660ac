"""How the library's work runs on the machine, the one rule every caller uses: thread and worker
counts that hold up on a busy machine, and the freed memory that feature processes keep.

LightGBM parallelises each boosting round with OpenMP. Two things make that fragile when other
programs share the cores:

* **Waiting policy.** By default libgomp threads spin (busy-wait) between parallel regions.
  When a core is taken by another process, a spinning thread burns the time slice its partner
  needs, and one round can take ten times longer than on one thread. ``hms_features`` therefore
  sets ``OMP_WAIT_POLICY=PASSIVE`` (sleep instead of spin) when it is imported, before scikit-learn
  or LightGBM load libgomp, unless the user already chose a policy. libgomp reads the variable
  once, when it is loaded: importing LightGBM *before* ``hms_features`` keeps its default.
  LightGBM has no parameter for it.
* **Thread count.** Passive threads waste no CPU while they wait, but each parallel region
  then pays for waking them. On tables below :data:`SMALL_TABLE_CELLS` a boosting round has
  too little work per region to repay that: on 2 idle cores, 50 rounds on an 8-patient
  175 x 3,274 table took 0.9-1.2 s on one thread and 1.4-2.4 s on two passive ones in repeated
  runs, and 1.04-1.13x as long on two in ``benchmarks/bench_contention.py`` (two hosts).
  :func:`lightgbm_threads` therefore gives small tables one thread whatever the waiting
  policy. Larger tables get all the CPUs asked for when waiting is passive (the kernel shares
  a busy core per thread, so they degrade gracefully);
  when it is not (libgomp was loaded before ``hms_features`` and spins, or the user chose
  ``ACTIVE``), no more threads than CPUs are idle right now (``/proc/stat``, over 0.1 s).

Feature workers are separate processes (joblib loky) that never spin, so :func:`feature_workers`
only resolves negative counts against the CPUs this process may use (``os.sched_getaffinity``,
which respects ``taskset`` and container CPU sets, unlike ``os.cpu_count``).

**Freed memory.** Computing a chunk of features allocates and frees arrays of tens of MB many
times. glibc's malloc gives the top of its heap back to the kernel whenever more than 64 MiB of it
is free (its trim threshold, which it raises to at most twice its mmap threshold of at most 32
MiB), so each chunk's next large arrays are faulted in and zeroed page by page again: for the
demo's 600 windows in one process, 80,000-118,000 minor page faults and 1-3 ms of system time per
window (fast and default set). While features are computed, :func:`hold_heap` fixes the mmap
threshold at glibc's own ceiling of 32 MiB and raises the trim threshold to
:data:`HEAP_TRIM_THRESHOLD`, so freed memory stays in the heap for the next arrays: 12,000-18,000
faults and 0.4-0.6 ms, and 1.16x (fast) and 1.11x (default) less CPU per window (medians of 6 and 4
interleaved pairs of builds in one process, 2026-12-02). The price is memory: a process keeps up to
that much freed memory between chunks, and freed blocks are not always reusable by a larger
request, so the feature benchmark's largest worker peaked at 595-621 MB against 562-574 MB before
(one process: 464 MB against 466). Feature workers keep the setting for their life: they are
joblib's reusable loky workers, which other joblib work in the same session may reuse until they
have been idle for 300 s and exit; the caller's process, when chunks run in it, gets glibc's
ceiling back afterwards and its free memory returned (:func:`release_heap`). Other C libraries than
glibc: nothing is changed.

**Loky's leak check.** Loky restarts a worker whose resident memory, measured after a call, has
grown more than 3e8 bytes beyond what it was after the worker's first call, taking that for a leak.
A feature worker grows legitimately: it keeps its freed memory, and a chunk's memory grows with
``chunk_size`` and with the recordings it reads. A restarted worker is replaced by a new
interpreter that imports numpy, scipy, pandas and the library again (about 2 s of CPU here), and
the pool runs one worker short meanwhile. It happened here: after a small first build (chunks of 8
windows), a build of the 600 demo rows with ``chunk_size=128`` had one of its two workers replaced
(2026-12-02); with chunks of 64 the workers held 230 MiB after the small build and 450-505 MiB
after each later one, a growth of up to 275 MiB against loky's limit of 3e8 bytes (286 MiB).
:func:`feature_worker` therefore switches that check off in the library's workers, for their life
(the same reusable workers as above).
"""

from __future__ import annotations

import ctypes
import os
import platform
import time
from contextlib import contextmanager
from functools import lru_cache

__all__ = [
    "HEAP_TRIM_THRESHOLD",
    "SMALL_TABLE_CELLS",
    "available_cpus",
    "feature_worker",
    "feature_workers",
    "heap_held",
    "hold_heap",
    "idle_cpus",
    "lightgbm_threads",
    "openmp_passive",
    "release_heap",
]

#: Tables with fewer cells (rows x features) than this train LightGBM on one thread whatever the
#: load and waiting policy: an 8-patient table of the default set (175 x 3,274 = 0.6 M cells)
#: ran 1.04-2x as long on two passive threads as on one on an idle machine, and a spinning
#: second thread stalls it on a busy core.
SMALL_TABLE_CELLS = 1_000_000

#: How long :func:`idle_cpus` watches the CPUs, seconds.
IDLE_SAMPLE_S = 0.1


def _libgomp_loaded() -> bool | None:
    """Whether a libgomp is mapped into this process already (None: cannot tell)."""
    try:
        with open("/proc/self/maps") as fh:
            return "libgomp" in fh.read()
    except OSError:
        return None


# hms_features/__init__.py imports this module first, before scikit-learn or LightGBM load
# libgomp, which reads OMP_WAIT_POLICY once, when it is loaded.
_USER_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")
_LIBGOMP_BEFORE_US = _libgomp_loaded()
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def openmp_passive() -> bool:
    """Whether LightGBM's OpenMP threads sleep (rather than spin) while they wait.

    True when the user set ``OMP_WAIT_POLICY=PASSIVE``, or left it unset and no libgomp was
    loaded before ``hms_features`` was imported (which then set it); False when the user chose
    another policy, when LightGBM or scikit-learn was imported first, or where it cannot be told
    (no ``/proc/self/maps``).
    """
    if _USER_WAIT_POLICY is not None:
        return _USER_WAIT_POLICY.strip().upper() == "PASSIVE"
    return _LIBGOMP_BEFORE_US is False


def available_cpus() -> int:
    """Number of CPUs this process may run on.

    ``len(os.sched_getaffinity(0))`` where the platform has it (Linux: respects ``taskset`` and
    container CPU sets), else ``os.cpu_count()``; at least 1.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cpu_times(cpus: set[int], path: str = "/proc/stat") -> tuple[float, float]:
    """Summed (idle, total) jiffies of the given CPUs from a ``/proc/stat`` file."""
    idle = total = 0.0
    with open(path) as fh:
        for line in fh:
            name, _, rest = line.partition(" ")
            if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
                continue
            v = [float(x) for x in rest.split()]
            # user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
            idle += v[3] + (v[4] if len(v) > 4 else 0.0)
            total += sum(v[:8])
    return idle, total


def idle_cpus(interval: float = IDLE_SAMPLE_S, path: str = "/proc/stat") -> float | None:
    """How many of this process's CPUs are idle right now.

    Reads the kernel's per-CPU counters twice, ``interval`` seconds apart, and returns the idle
    fraction of that interval summed over the CPUs of ``os.sched_getaffinity(0)`` (so 2 idle
    cores give about 2.0, two cores each kept busy by another process about 0.0).

    Parameters
    ----------
    interval : float
        Sampling time, seconds (the call sleeps this long).
    path : str
        The ``/proc/stat`` file (a parameter for tests).

    Returns
    -------
    float or None
        Idle CPUs, between 0 and :func:`available_cpus`; None where ``/proc/stat`` or the CPU
        affinity cannot be read (not Linux).
    """
    try:
        cpus = set(os.sched_getaffinity(0))
        i0, t0 = _cpu_times(cpus, path)
        time.sleep(interval)
        i1, t1 = _cpu_times(cpus, path)
    except (AttributeError, OSError, ValueError):
        return None
    if t1 <= t0:
        return None
    return min(len(cpus), max(0.0, len(cpus) * (i1 - i0) / (t1 - t0)))


def feature_workers(n_jobs: int | None) -> int:
    """Number of feature-extraction worker processes for an ``n_jobs`` setting.

    Parameters
    ----------
    n_jobs : int or None
        None: 1; a positive count is kept; negative counts back from :func:`available_cpus`
        (-1: all of them, -2: all but one), at least 1.

    Returns
    -------
    int
    """
    return _resolve(n_jobs, available_cpus, "workers; use a positive count, or -1 for all CPUs")


def _resolve(n_jobs, cpus, zero_hint: str) -> int:
    """joblib's ``n_jobs`` convention, the one parser: None -> 1, a positive count as it is,
    negative counts back from ``cpus()`` (-1: all), at least 1; 0 is refused."""
    if n_jobs is None:
        return 1
    n_jobs = int(n_jobs)
    if n_jobs == 0:
        raise ValueError(f"n_jobs=0 is not a number of {zero_hint}")
    return n_jobs if n_jobs > 0 else max(1, cpus() + 1 + n_jobs)


def lightgbm_threads(n_jobs: int | None, n_rows: int, n_features: int, *,
                     idle: float | None = None, cpus: int | None = None,
                     passive: bool | None = None) -> int:
    """LightGBM ``num_threads`` for a training table: the safe rule.

    * ``None`` (scikit-learn's convention): 1.
    * A positive count: that many threads, at most :func:`available_cpus` (the user asked).
    * A negative count (-1: "all cores", the command line's default) for a table with fewer
      than :data:`SMALL_TABLE_CELLS` cells: 1 (waking a second thread costs more than it does).
    * A negative count for a larger table, when OpenMP waits passively
      (:func:`openmp_passive`): the count it asks for (-1: all CPUs).
    * A negative count for a larger table when OpenMP spins: as many threads as CPUs are idle
      right now (:func:`idle_cpus`, rounded to the nearest whole CPU), at least 1 and at most
      that count, and 1 where the idle CPUs cannot be measured.

    Parameters
    ----------
    n_jobs : int or None
        The caller's thread setting.
    n_rows, n_features : int
        Shape of the training table.
    idle : float, optional
        Idle CPUs, when already measured (default: measure with :func:`idle_cpus`, 0.1 s).
    cpus : int, optional
        CPUs this process may use (default :func:`available_cpus`).
    passive : bool, optional
        Whether OpenMP waits passively (default :func:`openmp_passive`).

    Returns
    -------
    int
        Between 1 and ``cpus``.
    """
    cpus = available_cpus() if cpus is None else max(1, int(cpus))
    wanted = _resolve(n_jobs, lambda: cpus, "LightGBM threads; use a positive count, or -1 "
                                            "for as many as the machine has idle")
    if n_jobs is None:
        return 1
    if int(n_jobs) > 0:
        return min(wanted, cpus)
    if int(n_rows) * int(n_features) < SMALL_TABLE_CELLS or wanted == 1:
        return 1
    if openmp_passive() if passive is None else passive:
        return wanted
    if idle is None:
        idle = idle_cpus()
    if idle is None:
        return 1
    return max(1, min(wanted, int(idle + 0.5)))


# ------------------------------------------------------------------------------- freed memory

#: glibc's ``mallopt`` parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3

#: glibc's ceiling for its dynamic mmap threshold on 64-bit systems (32 MiB): allocations above
#: it always get their own mapping. :func:`hold_heap` fixes the threshold there from the start.
HEAP_MMAP_THRESHOLD = 32 * 2**20

#: Free memory (bytes) at the top of the heap that a process computing features keeps instead of
#: returning it to the kernel. With glibc's 64 MiB, the fast set's 600 demo windows (a second
#: build in one process) took 108,000 minor page faults and 0.8 s of system time; with 256 MiB
#: 7,200 and 0.14 s, with 1 GiB 5,700 and 0.08 s (2026-12-02), at the same peak of that process.
HEAP_TRIM_THRESHOLD = 256 * 2**20

#: glibc's trim threshold at its dynamic ceiling (twice :data:`HEAP_MMAP_THRESHOLD`): what a
#: process that has run large numpy work has anyway, and what :func:`release_heap` restores.
_GLIBC_TRIM_CEILING = 2 * HEAP_MMAP_THRESHOLD


@lru_cache(maxsize=1)
def _glibc():
    """This process's glibc (``mallopt`` and ``malloc_trim``), or None with another C library."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        lib = ctypes.CDLL("libc.so.6")
        lib.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return lib


def _mallopt(trim: int) -> bool:
    """Set glibc's mmap threshold to its ceiling and its trim threshold to ``trim`` bytes (both:
    setting either one alone ends glibc's dynamic adjustment, which would leave the mmap
    threshold at 128 KiB)."""
    lib = _glibc()
    if lib is None:
        return False
    return bool(lib.mallopt(_M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD)
                and lib.mallopt(_M_TRIM_THRESHOLD, trim))


def hold_heap() -> bool:
    """Keep up to :data:`HEAP_TRIM_THRESHOLD` bytes of freed memory in this process's heap.

    For the processes that compute features (see the module's notes): the same arrays are then
    reused from the heap instead of being faulted in again. Idempotent and cheap.

    Returns
    -------
    bool
        Whether the setting was applied (False where the C library is not glibc).
    """
    return _mallopt(HEAP_TRIM_THRESHOLD)


def release_heap() -> bool:
    """Undo :func:`hold_heap`: glibc's dynamic ceilings (32 MiB mmap, 64 MiB trim threshold), and
    the free memory at the top of the heap returned to the kernel now (``malloc_trim``).

    Returns
    -------
    bool
        Whether anything was done (False where the C library is not glibc).
    """
    if not _mallopt(_GLIBC_TRIM_CEILING):
        return False
    _glibc().malloc_trim(0)
    return True


@contextmanager
def heap_held():
    """:func:`hold_heap` for the duration of a ``with`` block, then :func:`release_heap`; for
    feature work run in the caller's own process. Yields whether the heap is held."""
    held = hold_heap()
    try:
        yield held
    finally:
        if held:
            release_heap()


def feature_worker() -> None:
    """Set up this process, one of joblib's loky workers, to compute feature chunks: keep its
    freed memory (:func:`hold_heap`) and switch off loky's leak check, which would otherwise
    restart it when that memory, or a larger chunk, makes it grow (see the module's notes).
    Idempotent and cheap; outside a loky worker only the heap is held."""
    import sys

    hold_heap()
    loky = sys.modules.get("joblib.externals.loky.process_executor")
    if loky is not None and hasattr(loky, "_MAX_MEMORY_LEAK_SIZE"):
        # a module global that the worker's loop reads after every call (joblib 1.4-1.6)
        loky._MAX_MEMORY_LEAK_SIZE = sys.maxsize
