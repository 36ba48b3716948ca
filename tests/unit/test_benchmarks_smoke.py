"""The benchmarks run: every case of every area, a few times; checked for shape, never speed."""

from __future__ import annotations

import json
import math
import pstats
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import pytest

from benchmarks import AREAS
from benchmarks.__main__ import load_area, main
from benchmarks.core import (
    BASELINE_CALL,
    BASELINE_LOOP,
    BASELINES,
    QUICK,
    Area,
    AreaResult,
    BenchmarkDefinitionError,
    Case,
    Measurement,
    Settings,
    Target,
    memory_case,
    profile_case,
    run_area,
)
from benchmarks.report import area_data, render_area, render_summary

ROOT = Path(__file__).resolve().parents[2]


def _needs_postgres() -> None:
    """The postgres area starts a private cluster: skip (or fail, on CI) without one."""
    import os

    from aura.testing.postgres import locate_server

    locate_server(os.environ)  # skips, or fails with AURA_REQUIRE_POSTGRES=1, when missing


@pytest.mark.parametrize("name", AREAS)
def test_every_case_of_an_area_runs_and_every_target_is_judged(name: str) -> None:
    if name == "postgres":
        _needs_postgres()
    area = load_area(name)

    try:
        result = run_area(area, QUICK)
    finally:
        if name == "postgres":  # its replicas and cluster, before this worker exits
            from benchmarks import postgres

            postgres.shutdown()

    keys = [m.case.key for m in result.measurements]
    assert keys == [case.key for case in (*BASELINES, *area.cases)]
    assert all(m.number == 2 and len(m.samples) == 1 and m.best > 0 for m in result.measurements)
    assert [v.target for v in result.verdicts] == list(area.targets)
    assert all(math.isfinite(v.value) and v.value > 0 for v in result.verdicts)
    data = json.loads(json.dumps(area_data(result)))
    assert data["name"] == name
    assert "aura" in data["packages"]
    assert [case["key"] for case in data["cases"]] == keys
    table = render_area(data)
    for case in area.cases:
        assert f"| {case.group}: {case.name} |" in table
    for target in area.targets:
        assert target.text in table


def test_the_command_runs_each_area_in_its_own_process_and_writes_what_show_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _needs_postgres()
    output = tmp_path / "results" / "latest.json"

    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    results = json.loads(output.read_text())
    assert [area["name"] for area in results["areas"]] == list(AREAS)
    assert results["settings"] == {"rounds": 1, "round_seconds": QUICK.round_seconds, "number": 2}
    assert {"created_at", "commit", "dirty", "machine"} <= set(results)
    assert completed.stdout.count("| case | best | median |") == len(AREAS)
    assert completed.stdout.endswith(
        f"A quick run proves the cases run; its numbers mean nothing.\nWrote {output}.\n"
    )
    assert not list(output.parent.glob("*.tmp"))
    assert main(["--show", "--output", str(output)]) == 0
    assert capsys.readouterr().out == completed.stdout.removesuffix(
        f"A quick run proves the cases run; its numbers mean nothing.\nWrote {output}.\n"
    )


def test_an_unknown_area_is_refused_with_the_areas_there_are(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["bsu"]) == 2

    assert capsys.readouterr().err == (
        "Unknown area(s): bsu. Areas: bus, container, registry, breaker, harness, store, "
        "postgres, architecture, boundaries, telemetry.\n"
    )


def _recording(log: list[str], name: str) -> Case:
    return Case("order", name, f"log.append({name!r})", lambda: {"log": log})


def test_rounds_interleave_the_cases_in_a_rotated_order() -> None:
    log: list[str] = []
    area = Area("demo", "Demo", (_recording(log, "a"), _recording(log, "b")))

    run_area(area, Settings(rounds=4, number=1))

    # Four cases, the two baselines first; round r starts at the r-th: a and b swap in round 4.
    assert log == ["a", "b", "a", "b", "a", "b", "b", "a"]


_caller: ContextVar[str] = ContextVar("caller", default="nobody")


@contextmanager
def _as_benchmark() -> Iterator[None]:
    token = _caller.set("benchmark")
    try:
        yield
    finally:
        _caller.reset(token)


def test_an_async_statement_runs_inside_its_around_context_and_is_reset_after_each_round() -> None:
    seen: list[str] = []
    resets: list[int] = []

    async def observe() -> None:
        seen.append(_caller.get())

    case = Case(
        "async",
        "observe",
        "await observe()",
        lambda: {"observe": observe},
        is_async=True,
        around=_as_benchmark,
        reset=lambda namespace: resets.append(len(seen)),
    )

    run_area(Area("demo", "Demo", (case,)), Settings(rounds=2, number=3))

    assert seen == ["benchmark"] * 6
    assert resets == [3, 6]
    assert _caller.get() == "nobody"


def test_a_target_naming_a_missing_case_is_refused() -> None:
    area = Area(
        "demo",
        "Demo",
        (Case("g", "fast", "pass", dict),),
        targets=(Target("g / fast", "≤ 1.0x slow", 1.0, "g / slow"),),
    )

    with pytest.raises(BenchmarkDefinitionError) as raised:
        run_area(area, QUICK)

    assert str(raised.value) == (
        "Target '≤ 1.0x slow' of area 'demo' names the case 'g / slow', which the area does not "
        f"have. Its cases: {BASELINE_CALL}, {BASELINE_LOOP}, g / fast."
    )


def test_a_setup_returning_a_reserved_name_is_refused() -> None:
    area = Area("demo", "Demo", (Case("g", "clash", "pass", lambda: {"_it": 1}),))

    with pytest.raises(BenchmarkDefinitionError) as raised:
        run_area(area, QUICK)

    assert str(raised.value) == (
        "Case 'g / clash': its setup returns the reserved name(s) ['_it']; rename them."
    )


def _measured(case: Case, *samples: float) -> Measurement:
    return Measurement(case, 100, samples)


def test_ratios_are_medians_of_per_round_ratios_and_each_target_gets_a_row() -> None:
    fast = Case("publish", "aura", "pass", dict)
    slow = Case("publish", "peer", "pass", dict)
    area = Area(
        "demo",
        "Demo area",
        (fast, slow),
        targets=(
            Target("publish / aura", "≤ 0.5x peer", 0.5, "publish / peer"),
            Target("publish / aura", "≤ 1 µs", 1e3),
        ),
        notes=("A note.",),
    )
    call, loop = BASELINES
    result = AreaResult.judged(
        area,
        Settings(),
        (
            _measured(call, 30, 40, 50),
            _measured(loop, 400, 400, 500),
            _measured(fast, 100, 800, 900),
            _measured(slow, 1_000, 2_000, 2_000),
        ),
    )
    data = area_data(result)

    assert render_area(data) == "\n".join(
        [
            "### Demo area",
            "",
            "| case | best | median | x direct call | x 10-call loop | target | ratio | result |",
            "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |",
            "| baseline: direct call of a no-op | 30 ns | 40 ns | 1.00 | 0.10 | | | |",
            "| baseline: loop calling 10 no-ops | 400 ns | 400 ns | 10.00 | 1.00 | | | |",
            "| publish: aura | 100 ns | 800 ns | 18.00 | 1.80 | ≤ 0.5x peer | 0.40x | pass |",
            "| ″ | | | | | ≤ 1 µs | 800 ns | pass |",
            "| publish: peer | 1 µs | 2 µs | 40.00 | 4.00 | | | |",
            "",
            "- A note.",
        ]
    )
    assert render_summary([data]) == "Targets met: 2 of 2."


def test_a_memory_case_counts_the_bytes_each_operation_leaves_held() -> None:
    def setup() -> dict[str, object]:
        return {"kept": [], "size": 967}

    def empty(namespace: dict[str, object]) -> None:
        namespace["kept"].clear()  # type: ignore[attr-defined]

    case = memory_case(
        "memory",
        "a 1,000-byte object each",
        "kept.append(bytes(size))",
        setup,
        reset=empty,
        number=200,
    )
    area = Area(
        "demo",
        "Demo area",
        (case,),
        targets=(Target("memory / a 1,000-byte object each", "≤ 1 KB", 1000),),
    )
    data = area_data(run_area(area, Settings(rounds=3, profile_seconds=0.01)))

    measured = data["cases"][-1]
    assert measured["unit"] == "B"
    assert measured["number"] == 200
    # A new 1,000-byte bytes object each (967 bytes and its header), and the list's slot.
    assert sys.getsizeof(bytes(967)) == 1000
    assert 1000 <= measured["median_ns"] <= 1016
    assert measured["ratio_to_call"] is None
    (row,) = [line for line in render_area(data).splitlines() if line.startswith("| memory")]
    assert row.startswith("| memory: a 1,000-byte object each | 1,0")
    assert row.endswith(" B |  |  | ≤ 1 KB | " + row.split(" | ")[-2] + " | FAIL |")
    assert data["targets"][0]["passed"] is False


def test_two_cases_of_one_name_are_refused() -> None:
    area = Area("demo", "Demo", (Case("g", "twice", "pass", dict), Case("g", "twice", "", dict)))

    with pytest.raises(BenchmarkDefinitionError) as raised:
        run_area(area, QUICK)

    assert str(raised.value) == (
        "Area 'demo' has two cases named g / twice. Give each case its own group and name."
    )


def test_the_command_calibrates_each_case_to_the_round_time_asked(tmp_path: Path) -> None:
    output = tmp_path / "registry.json"
    command = [sys.executable, "-m", "benchmarks", "registry", "--output", str(output)]

    completed = subprocess.run(
        [*command, "--rounds", "2", "--round-seconds", "0.001"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    (area,) = json.loads(output.read_text())["areas"]
    assert area["settings"] == {"rounds": 2, "round_seconds": 0.001, "number": None}
    assert all(len(case["samples_ns"]) == 2 and case["number"] >= 1 for case in area["cases"])
    assert "Targets met: " in completed.stdout


def test_a_case_can_be_profiled_to_see_where_its_time_goes() -> None:
    key = "registry / get_service (built, from another module)"

    profile = profile_case(load_area("registry"), key, seconds=0.001)

    functions = {name for (_, _, name) in pstats.Stats(profile).stats}
    assert "get_service" in functions


def _busy() -> int:
    return sum(range(300))


def test_a_missed_target_says_where_its_case_spends_its_time() -> None:
    busy = Case("work", "busy", "busy()", lambda: {"busy": _busy})
    twin = Case("work", "twin", "busy()\nbusy()", lambda: {"busy": _busy})
    area = Area(
        "demo",
        "Demo area",
        (busy, twin),
        targets=(
            Target("work / busy", "≤ 1 ns", 1.0),  # missed: its own case is profiled
            Target("work / busy", "≤ 2 ns", 2.0, profile=""),  # missed, nothing to profile
            Target("work / busy", "≤ 1 s", 1e9),  # met: not profiled
            Target("work / busy", "≤ 3 ns", 3.0, profile="work / twin"),
        ),
    )

    result = run_area(area, Settings(rounds=2, round_seconds=0.001, profile_seconds=0.01))

    assert [(v.target.text, v.target.profiled) for v, _ in result.hotspots] == [
        ("≤ 1 ns", "work / busy"),
        ("≤ 3 ns", "work / twin"),
    ]
    for _, spots in result.hotspots:
        names = [spot.function for spot in spots]
        line = _busy.__code__.co_firstlineno
        assert f"tests/unit/test_benchmarks_smoke.py:{line} _busy" in names
        assert "<built-in method builtins.sum>" in names
        assert not any("core.py" in name or "<benchmark" in name for name in names)
        assert all(0.01 <= spot.share <= 1 for spot in spots)
        assert sum(spot.share for spot in spots) <= 1 + 1e-9
    lines = render_area(area_data(result)).splitlines()
    assert lines[-3] == (
        "Where the time goes in each missed target: the functions taking the most of the time "
        "its case spends in what it calls, by their own time under cProfile (which weighs "
        "Python calls more than C ones); `python -m benchmarks AREA --profile CASE` prints the "
        "whole profile:"
    )
    assert re.fullmatch(r"- work / busy \(≤ 1 ns\): \d+% `.+`(; \d+% `.+`)*\.", lines[-2])
    assert lines[-1].startswith("- work / busy (≤ 3 ns, profiled as work / twin): ")
    assert "_busy`" in lines[-1]


def test_a_smoke_run_profiles_nothing() -> None:
    area = Area("demo", "Demo", (Case("work", "x", "pass", dict),), (Target("work / x", "0", 0),))

    result = run_area(area, QUICK)

    assert not result.verdicts[0].passed
    assert result.hotspots == ()
    assert "Where the time goes" not in render_area(area_data(result))


def test_profiling_a_case_the_area_lacks_names_the_cases_it_has(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["registry", "--profile", "get_service"]) == 2

    assert capsys.readouterr().err == (
        "Area 'registry' has no case 'get_service'. Its cases: "
        f"{BASELINE_CALL}, {BASELINE_LOOP}, registry / get_service (built, from another module), "
        "registry / call through the cross-module proxy, "
        "registry / the same method called directly.\n"
    )


def test_showing_results_that_were_never_written_says_how_to_make_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "latest.json"

    assert main(["--show", "--output", str(missing)]) == 2

    assert capsys.readouterr().err == (
        f"No results at {missing}: run `python -m benchmarks` first.\n"
    )


def test_durations_are_shown_in_their_unit_and_a_negative_difference_keeps_its_sign() -> None:
    from benchmarks.report import format_ns, format_value

    assert [format_ns(v) for v in (512, 1_234, 22_326_722, 2.5e9)] == [
        "512 ns",
        "1.23 µs",
        "22.3 ms",
        "2.5 s",
    ]
    assert format_ns(-22_326_722) == "-22.3 ms"
    assert format_value(981, "B") == "981 B"
    assert format_value(23_700, "B") == "23.1 KiB"
