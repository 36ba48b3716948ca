"""The timing core: cases and targets, interleaved rounds, and the numbers derived from them.

Each case is a statement timed like :mod:`timeit` does it: compiled into a loop in a function
whose locals are the names the case's setup returns, with the garbage collector paused while the
loop runs. Every case of an area (the two baselines included) runs once per round, in an order
rotated each round, so that machine noise falls on all of them alike. A case's numbers are the
best and the median nanoseconds per operation over the rounds; a ratio of two cases is the median
of their per-round ratios, so that a machine running faster or slower for a few seconds (as
shared virtual machines do) changes both sides of each ratio alike.
"""

from __future__ import annotations

import asyncio
import cProfile
import dataclasses
import gc
import itertools
import pstats
import statistics
import textwrap
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BASELINES",
    "BASELINE_CALL",
    "BASELINE_LOOP",
    "QUICK",
    "Area",
    "AreaResult",
    "BenchmarkDefinitionError",
    "Case",
    "Hotspot",
    "Measurement",
    "Namespace",
    "Settings",
    "Target",
    "Verdict",
    "hotspots",
    "memory_case",
    "noop",
    "profile_case",
    "run_area",
]

Namespace = dict[str, Any]
"""The names a case's statement uses, as its setup returns them."""


class BenchmarkDefinitionError(ValueError):
    """An area or case is defined wrongly: a target names a missing case, a name clashes."""


@dataclass(frozen=True, slots=True)
class Case:
    """One timed statement: ``stmt`` runs ``number`` times a round, with ``setup()``'s names.

    ``stmt`` may span lines; with ``is_async`` it runs inside a coroutine and may ``await``.
    ``around`` is entered around each round, untimed (for context variables the statement
    needs); ``reset`` runs after each round, untimed (to empty what the statement accumulates).

    A case measures nanoseconds by default. One that measures something else names its
    ``unit`` and its ``meter`` (read before and after each round, as the clock is: bytes held,
    with :func:`memory_case`), and runs a fixed ``number`` of operations a round.
    """

    group: str
    name: str
    stmt: str
    setup: Callable[[], Namespace]
    is_async: bool = False
    around: Callable[[], AbstractContextManager[object]] = nullcontext
    reset: Callable[[Namespace], object] | None = None
    unit: str = "ns"
    meter: Callable[[], int] | None = None
    number: int | None = None

    @property
    def key(self) -> str:
        """The case's name within its area, as targets refer to it: ``"group / name"``."""
        return f"{self.group} / {self.name}"


@dataclass(frozen=True, slots=True)
class Target:
    """A goal from the issue: ``case`` takes at most ``limit`` times ``reference``.

    Without a ``reference`` the limit is absolute, in the case's unit per operation
    (nanoseconds, or bytes for a memory case). ``text`` is the
    goal as the issue words it, shown beside the measured ratio.
    """

    case: str
    text: str
    limit: float
    reference: str | None = None
    profile: str | None = None
    """The case whose profile says where the time goes when the target is missed: by default
    ``case`` itself; ``""`` for none. A case timed in a subprocess names its in-process twin,
    since its own profile would show only the wait for the child."""

    @property
    def profiled(self) -> str:
        """The key of the case profiled on a miss (empty: none)."""
        return self.case if self.profile is None else self.profile


@dataclass(frozen=True, slots=True)
class Hotspot:
    """A function and its share of a profiled case's time (cProfile's own time, callees out)."""

    function: str
    share: float


@dataclass(frozen=True, slots=True)
class Area:
    """The cases of one area, the targets judged on them, and notes on the forms chosen.

    ``packages`` names the distributions whose versions the results record (aura and the peers).
    """

    name: str
    title: str
    cases: tuple[Case, ...]
    targets: tuple[Target, ...] = ()
    notes: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Settings:
    """How long to measure: ``rounds`` rounds of about ``round_seconds`` per case.

    A fixed ``number`` of operations per round skips warm-up and calibration (smoke runs).
    """

    rounds: int = 21
    round_seconds: float = 0.01
    number: int | None = None
    profile_seconds: float = 0.5
    """How long each missed target's case runs under the profiler, after the rounds."""


QUICK = Settings(rounds=1, number=2)
"""Each case twice, once: enough to prove the cases run, far too little to mean anything."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """What one case measured: nanoseconds per operation, one sample per round."""

    case: Case
    number: int
    samples: tuple[float, ...]

    @property
    def best(self) -> float:
        """The fastest round, in ns per operation."""
        return min(self.samples)

    @property
    def median(self) -> float:
        """The median round, in ns per operation."""
        return statistics.median(self.samples)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A target judged: the measured ratio (or ns, for an absolute target) against its limit."""

    target: Target
    value: float

    @property
    def passed(self) -> bool:
        """Whether the measured value is within the limit."""
        return self.value <= self.target.limit


@dataclass(frozen=True, slots=True)
class AreaResult:
    """An area's measurements (baselines first) and its targets judged."""

    area: Area
    settings: Settings
    measurements: tuple[Measurement, ...]
    verdicts: tuple[Verdict, ...]
    hotspots: tuple[tuple[Verdict, tuple[Hotspot, ...]], ...] = ()
    """Each missed target with the hot spots of its profiled case (a full run only)."""

    @classmethod
    def judged(
        cls, area: Area, settings: Settings, measurements: tuple[Measurement, ...]
    ) -> AreaResult:
        """Judge ``area``'s targets: ratios per round, absolute limits on the median."""
        by_key = {m.case.key: m for m in measurements}
        verdicts = tuple(
            Verdict(
                target,
                by_key[target.case].median
                if target.reference is None
                else _paired_ratio(by_key[target.case], by_key[target.reference]),
            )
            for target in area.targets
        )
        return cls(area, settings, measurements, verdicts)

    def ratio(self, key: str, reference: str) -> float:
        """How many times as long as case ``reference`` case ``key`` takes (median per round)."""
        by_key = {m.case.key: m for m in self.measurements}
        return _paired_ratio(by_key[key], by_key[reference])


def _paired_ratio(measurement: Measurement, reference: Measurement) -> float:
    return statistics.median(
        a / b for a, b in zip(measurement.samples, reference.samples, strict=True)
    )


@contextmanager
def _traced_memory() -> Iterator[None]:
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        yield
    finally:
        if started:
            tracemalloc.stop()


def _traced_bytes() -> int:
    return tracemalloc.get_traced_memory()[0]


def memory_case(
    group: str,
    name: str,
    stmt: str,
    setup: Callable[[], Namespace],
    *,
    reset: Callable[[Namespace], object] | None = None,
    number: int = 1_000,
) -> Case:
    """A case measuring the bytes ``stmt`` leaves held per operation (``tracemalloc``).

    Each round runs ``number`` operations with the garbage collector paused and reads the
    memory Python holds before and after; ``reset`` then frees what the round kept.
    """
    return Case(
        group,
        name,
        stmt,
        setup,
        around=_traced_memory,
        reset=reset,
        unit="B",
        meter=_traced_bytes,
        number=number,
    )


def noop() -> None:
    """Do nothing: the work of the baselines and of every protected call measured here."""


def _baseline_namespace() -> Namespace:
    # Ten distinct functions, as the ten subscribers of a bus are.
    return {"noop": noop, "noops": [_new_noop() for _ in range(10)]}


def _new_noop() -> Callable[[], None]:
    def noop() -> None:
        """Do nothing."""

    return noop


BASELINE_CALL = "baseline / direct call of a no-op"
BASELINE_LOOP = "baseline / loop calling 10 no-ops"
BASELINES = (
    Case("baseline", "direct call of a no-op", "noop()", _baseline_namespace),
    Case("baseline", "loop calling 10 no-ops", "for f in noops:\n    f()", _baseline_namespace),
)
"""Measured in every area, interleaved with its cases; every ratio column divides by them."""


_TEMPLATE = """\
{prefix}def _batch(_it, _timer, _ns):
{names}
    _t0 = _timer()
    for _ in _it:
{body}
    return _timer() - _t0
"""


class _Prepared:
    """A case ready to time: its namespace built and its statement compiled."""

    def __init__(self, case: Case, loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
        self.case = case
        self.namespace = case.setup()
        self._batch = _compile(case, self.namespace)
        self._loop = loop

    def time(self, number: int) -> float:
        """Run the statement ``number`` times; return the nanoseconds it took."""
        iterations = itertools.repeat(None, number)
        with self.case.around():
            collecting = gc.isenabled()
            gc.disable()  # as timeit does: a collection would land on whichever case is running
            try:
                meter = self.case.meter or time.perf_counter_ns
                result = self._batch(iterations, meter, self.namespace)
                if self.case.is_async:
                    result = self._loop().run_until_complete(result)
            finally:
                if collecting:
                    gc.enable()
        if self.case.reset is not None:
            self.case.reset(self.namespace)
        return float(result)


def _compile(case: Case, namespace: Namespace) -> Callable[..., Any]:
    """Compile the statement into a loop whose locals are the namespace's names (as timeit)."""
    reserved = {"_it", "_timer", "_ns", "_t0", "_"} & set(namespace)
    if reserved:
        raise BenchmarkDefinitionError(
            f"Case {case.key!r}: its setup returns the reserved name(s) {sorted(reserved)}; "
            "rename them."
        )
    names = "\n".join(f"    {name} = _ns[{name!r}]" for name in namespace) or "    pass"
    source = _TEMPLATE.format(
        prefix="async " if case.is_async else "",
        names=names,
        body=textwrap.indent(textwrap.dedent(case.stmt).strip(), " " * 8),
    )
    scope: Namespace = {}
    exec(compile(source, f"<benchmark {case.key}>", "exec"), scope)
    batch: Callable[..., Any] = scope["_batch"]
    return batch


def _calibrate(prepared: _Prepared, settings: Settings) -> int:
    """The number of operations that makes one round last about ``round_seconds``."""
    if settings.number is not None:
        return settings.number
    if prepared.case.number is not None:
        prepared.time(prepared.case.number)  # warm up, as below
        return prepared.case.number
    prepared.time(1)  # warm up: a first call may build what later calls reuse
    number = 1
    while True:
        elapsed = prepared.time(number) / 1e9
        if elapsed >= settings.round_seconds / 10:
            return max(1, round(number * settings.round_seconds / elapsed))
        number *= 10


def run_area(area: Area, settings: Settings) -> AreaResult:
    """Measure the baselines and every case of ``area`` in interleaved rounds; judge targets."""
    cases = (*BASELINES, *area.cases)
    _check_keys(area, cases)
    with _event_loop() as loop:
        prepared = [_Prepared(case, loop) for case in cases]
        numbers = [_calibrate(p, settings) for p in prepared]
        samples: list[list[float]] = [[] for _ in prepared]
        for round_index in range(settings.rounds):
            gc.collect()
            shift = round_index % len(prepared)
            for index in [*range(shift, len(prepared)), *range(shift)]:
                elapsed = prepared[index].time(numbers[index])
                samples[index].append(elapsed / numbers[index])
    measurements = tuple(
        Measurement(p.case, n, tuple(s)) for p, n, s in zip(prepared, numbers, samples, strict=True)
    )
    result = AreaResult.judged(area, settings, measurements)
    if settings.number is not None:  # a smoke run: its misses mean nothing
        return result
    missed = [v for v in result.verdicts if not v.passed and v.target.profiled]
    profiles: dict[str, tuple[Hotspot, ...]] = {}
    for verdict in missed:
        key = verdict.target.profiled
        if key not in profiles:
            profiles[key] = hotspots(profile_case(area, key, seconds=settings.profile_seconds))
    return dataclasses.replace(
        result, hotspots=tuple((v, profiles[v.target.profiled]) for v in missed)
    )


def hotspots(profile: cProfile.Profile, top: int = 6) -> tuple[Hotspot, ...]:
    """The ``top`` functions of ``profile`` by their own time, each with its share (1% or more)
    of the time the case's statement spent in what it calls.

    Functions of this repository are named by their path in it and line (``aura/bus.py:741
    _accept``), others by file name; C functions as cProfile names them (``{method 'execute'
    of 'sqlite3.Connection' objects}``). The profiler adds a cost to every Python call, so
    Python functions weigh more here than in the timings, against C ones.
    """
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    # The timing loop itself (the compiled batch and this module) is the benchmark's, not the
    # case's: the shares are of the time in what the statement calls.
    own = {
        where: entry
        for where, entry in stats.items()
        if not where[0].startswith("<benchmark ") and Path(where[0]).name != "core.py"
    }
    total = sum(entry[2] for entry in own.values())
    if total <= 0:
        return ()
    ranked = sorted(own.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return tuple(
        Hotspot(_function_name(*where), entry[2] / total)
        for where, entry in ranked
        if entry[2] / total >= 0.01
    )


_ROOT = Path(__file__).resolve().parents[1]


def _function_name(file: str, line: int, function: str) -> str:
    if file == "~":  # a built-in: cProfile's own wording of it
        return function
    path = Path(file)
    try:
        shown = path.resolve().relative_to(_ROOT).as_posix()
    except ValueError:
        shown = path.name
    return f"{shown}:{line} {function}"


def profile_case(area: Area, key: str, seconds: float = 1.0) -> cProfile.Profile:
    """Run the case ``key`` of ``area`` for about ``seconds`` under cProfile; return the profile.

    For finding where a case spends its time; the timing itself is distorted by the profiler.
    """
    cases = {case.key: case for case in (*BASELINES, *area.cases)}
    if key not in cases:
        raise BenchmarkDefinitionError(
            f"Area {area.name!r} has no case {key!r}. Its cases: {', '.join(cases)}."
        )
    profiler = cProfile.Profile()
    with _event_loop() as loop:
        prepared = _Prepared(cases[key], loop)
        number = _calibrate(prepared, Settings(round_seconds=seconds))
        profiler.enable()
        prepared.time(number)
        profiler.disable()
    return profiler


@contextmanager
def _event_loop() -> Iterator[Callable[[], asyncio.AbstractEventLoop]]:
    """Give a getter of one event loop, made on first use (by async cases only), then close it."""
    loops: list[asyncio.AbstractEventLoop] = []

    def get() -> asyncio.AbstractEventLoop:
        if not loops:
            loops.append(asyncio.new_event_loop())
        return loops[0]

    try:
        yield get
    finally:
        for loop in loops:
            loop.close()


def _check_keys(area: Area, cases: Sequence[Case]) -> None:
    keys = [case.key for case in cases]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise BenchmarkDefinitionError(
            f"Area {area.name!r} has two cases named {', '.join(duplicates)}. "
            "Give each case its own group and name."
        )
    for target in area.targets:
        for key in (target.case, target.reference):
            if key is not None and key not in keys:
                raise BenchmarkDefinitionError(
                    f"Target {target.text!r} of area {area.name!r} names the case {key!r}, "
                    f"which the area does not have. Its cases: {', '.join(keys)}."
                )
