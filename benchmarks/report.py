"""Results as data (the JSON of ``results/latest.json``) and as a Markdown table.

An area's result crosses a process boundary as the dict :func:`area_data` returns; the table is
rendered from that dict, so what is printed is exactly what is written.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from typing import Any

from benchmarks.core import BASELINE_CALL, BASELINE_LOOP, AreaResult

__all__ = ["area_data", "format_ns", "format_value", "render_area", "render_summary"]

_HEADER = (
    "| case | best | median | x direct call | x 10-call loop | target | ratio | result |\n"
    "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |"
)


def area_data(result: AreaResult) -> dict[str, Any]:
    """Return an area's result as plain JSON data: settings, versions, cases and targets."""
    area = result.area
    units = {m.case.key: m.case.unit for m in result.measurements}
    return {
        "name": area.name,
        "title": area.title,
        "notes": list(area.notes),
        "packages": {name: _version(name) for name in area.packages},
        "settings": {
            "rounds": result.settings.rounds,
            "round_seconds": result.settings.round_seconds,
            "number": result.settings.number,
        },
        "cases": [
            {
                "key": m.case.key,
                "group": m.case.group,
                "name": m.case.name,
                "stmt": m.case.stmt,
                "is_async": m.case.is_async,
                "unit": m.case.unit,
                "number": m.number,
                "best_ns": m.best,
                "median_ns": m.median,
                "samples_ns": list(m.samples),
                # Bytes against the baselines' nanoseconds would be no ratio at all.
                "ratio_to_call": result.ratio(m.case.key, BASELINE_CALL)
                if m.case.unit == "ns"
                else None,
                "ratio_to_loop": result.ratio(m.case.key, BASELINE_LOOP)
                if m.case.unit == "ns"
                else None,
            }
            for m in result.measurements
        ],
        "targets": [
            {
                "case": v.target.case,
                "unit": units[v.target.case],
                "reference": v.target.reference,
                "text": v.target.text,
                "limit": v.target.limit,
                "value": v.value,
                "passed": v.passed,
            }
            for v in result.verdicts
        ],
        "hotspots": [
            {
                "case": verdict.target.case,
                "text": verdict.target.text,
                "profiled": verdict.target.profiled,
                "functions": [[spot.function, spot.share] for spot in spots],
            }
            for verdict, spots in result.hotspots
        ],
    }


_DISTRIBUTIONS = {"aura": "aura-modulith"}
"""Import names whose distribution is named otherwise (the wheel is aura-modulith)."""


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(_DISTRIBUTIONS.get(distribution, distribution))
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def render_area(data: dict[str, Any]) -> str:
    """Render one area's data as a Markdown section: a heading, the table, then its notes."""
    targets: dict[str, list[dict[str, Any]]] = {}
    for target in data["targets"]:
        targets.setdefault(target["case"], []).append(target)
    lines = [f"### {data['title']}", "", _HEADER]
    for case in data["cases"]:
        lines.extend(_case_rows(case, targets.get(case["key"], [])))
    versions = ", ".join(f"{name} {version}" for name, version in data["packages"].items())
    notes = [*data["notes"], *([f"Versions: {versions}."] if versions else [])]
    if notes:
        lines.append("")
        lines.extend(f"- {note}" for note in notes)
    missed = data.get("hotspots", [])  # results written before profiles have none
    if missed:
        lines.extend(["", _HOTSPOTS])
        lines.extend(_hotspot_line(entry) for entry in missed)
    return "\n".join(lines)


_HOTSPOTS = (
    "Where the time goes in each missed target: the functions taking the most of the time its "
    "case spends in what it calls, by their own time under cProfile (which weighs Python calls "
    "more than C ones); `python -m benchmarks AREA --profile CASE` prints the whole profile:"
)


def _hotspot_line(entry: dict[str, Any]) -> str:
    profiled = "" if entry["profiled"] == entry["case"] else f", profiled as {entry['profiled']}"
    spots = "; ".join(f"{share:.0%} `{function}`" for function, share in entry["functions"])
    return f"- {entry['case']} ({entry['text']}{profiled}): {spots or 'no time profiled'}."


def _case_rows(case: dict[str, Any], targets: list[dict[str, Any]]) -> Iterable[str]:
    unit = case.get("unit", "ns")  # results written before memory cases have none
    numbers = (
        f"{format_value(case['best_ns'], unit)} | {format_value(case['median_ns'], unit)} | "
        f"{_ratio(case['ratio_to_call'])} | {_ratio(case['ratio_to_loop'])}"
    )
    label = f"{case['group']}: {case['name']}"
    if not targets:
        yield f"| {label} | {numbers} | | | |"
        return
    yield f"| {label} | {numbers} | {_judged(targets[0])} |"
    for target in targets[1:]:  # a second target of the same case: its own row, numbers once
        yield f"| ″ | | | | | {_judged(target)} |"


def _ratio(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def _judged(target: dict[str, Any]) -> str:
    value = target["value"]
    unit = target.get("unit", "ns")
    measured = f"{value:.2f}x" if target["reference"] is not None else format_value(value, unit)
    return f"{target['text']} | {measured} | {'pass' if target['passed'] else 'FAIL'}"


def render_summary(areas: list[dict[str, Any]]) -> str:
    """One line: how many targets were met, and which were not."""
    targets = [target for data in areas for target in data["targets"]]
    missed = [t for t in targets if not t["passed"]]
    line = f"Targets met: {len(targets) - len(missed)} of {len(targets)}."
    if missed:
        line += " Missed: " + "; ".join(f"{t['case']} ({t['text']})" for t in missed) + "."
    return line


def format_value(value: float, unit: str) -> str:
    """Show a measurement in its unit: a duration (``"ns"``) or bytes (``"B"``)."""
    if unit == "ns":
        return format_ns(value)
    if unit == "B":
        return f"{value:,.0f} B" if value < 10_000 else f"{value / 1024:,.1f} KiB"
    return f"{value:,.3g} {unit}"


def format_ns(value: float) -> str:
    """Show a duration in ns, µs, ms or s with three significant figures.

    A difference of two timings (the harness's pytest cases) can come out below zero on a
    noisy machine: it is shown with its sign, in the same units."""
    if value < 0:
        return f"-{format_ns(-value)}"
    if value < 1e3:
        return f"{value:.0f} ns"
    if value < 1e6:
        return f"{value / 1e3:.3g} µs"
    if value < 1e9:
        return f"{value / 1e6:.3g} ms"
    return f"{value / 1e9:.3g} s"
