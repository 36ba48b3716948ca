"""Run the benchmarks: ``python -m benchmarks [AREA ...] [--quick] [--output PATH]``.

Each area runs in a fresh process of its own (this module again, with ``--child``), so no area
inherits another's imports, caches or heap. The parent prints each area's table as it finishes
and, when every area ran, writes all results to ``--output`` (``benchmarks/results/latest.json``).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import AREAS
from benchmarks.core import (
    QUICK,
    Area,
    BenchmarkDefinitionError,
    Settings,
    profile_case,
    run_area,
)
from benchmarks.report import area_data, render_area, render_summary

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def main(argv: list[str] | None = None) -> int:
    """Run the chosen areas (all by default), each in its own process; return the exit code."""
    args = _parser().parse_args(argv)
    _write_bytecode()
    if args.profile is not None:
        return _profile(args.areas, args.profile)
    if args.show:
        return _show(Path(args.output))
    if args.child is not None:
        data = area_data(run_area(load_area(args.child), _settings(args)))
        Path(args.to).write_text(json.dumps(data, indent=1, ensure_ascii=False))
        return 0
    return _run(args.areas, _settings(args), Path(args.output))


def _run(names: list[str], settings: Settings, output: Path) -> int:
    unknown = [name for name in names if name not in AREAS]
    if unknown:
        print(f"Unknown area(s): {', '.join(unknown)}. Areas: {', '.join(AREAS)}.", file=sys.stderr)
        return 2
    areas, failed = _run_children(names or list(AREAS), settings)
    print(render_summary(areas))
    if settings == QUICK:
        print("A quick run proves the cases run; its numbers mean nothing.")
    if failed:
        print(
            f"Area(s) {', '.join(failed)} failed (see the errors above); {output} was not written.",
            file=sys.stderr,
        )
        return 1
    _write(output, {**_run_metadata(settings), "areas": areas})
    print(f"Wrote {output}.")
    return 0


def _write_bytecode() -> None:
    """Write the bytecode of aura's modules, as pip does when it installs the wheel.

    The commands timed as subprocesses (``aura check``, pytest with the plugin) then import
    compiled modules, as the peers installed beside them do (pip compiled theirs), even where
    ``PYTHONDONTWRITEBYTECODE`` is set and aura is an editable checkout: else every run of aura
    would compile its modules again, a cost no installed copy pays.
    """
    import compileall

    import aura

    compileall.compile_dir(Path(aura.__file__).parent, quiet=1)


def load_area(name: str) -> Area:
    """Return the ``AREA`` of the module ``benchmarks.<name>``."""
    area: Area = importlib.import_module(f"benchmarks.{name}").AREA
    return area


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("areas", nargs="*", metavar="AREA", help=f"among {', '.join(AREAS)}")
    parser.add_argument("--quick", action="store_true", help="run each case twice (smoke run)")
    default = Settings()
    parser.add_argument("--rounds", type=int, default=default.rounds, help="rounds per case")
    parser.add_argument(
        "--round-seconds", type=float, default=default.round_seconds, help="seconds per round"
    )
    parser.add_argument("--output", default=str(RESULTS), help="where to write the JSON results")
    parser.add_argument(
        "--show", action="store_true", help="print the tables of --output again, running nothing"
    )
    parser.add_argument(
        "--profile",
        metavar="CASE",
        help="profile one case of the one AREA given, e.g. bus --profile 'publish to 1 / aura'",
    )
    parser.add_argument("--child", metavar="AREA", help=argparse.SUPPRESS)
    parser.add_argument("--to", metavar="PATH", help=argparse.SUPPRESS)
    return parser


def _show(path: Path) -> int:
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        print(f"No results at {path}: run `python -m benchmarks` first.", file=sys.stderr)
        return 2
    for area in results["areas"]:
        print(render_area(area), end="\n\n")
    print(render_summary(results["areas"]))
    return 0


def _profile(areas: list[str], case: str) -> int:
    if len(areas) != 1:
        print("--profile needs exactly one AREA, the case's.", file=sys.stderr)
        return 2
    try:
        profile = profile_case(load_area(areas[0]), case)
    except BenchmarkDefinitionError as error:
        print(error, file=sys.stderr)
        return 2
    pstats.Stats(profile).sort_stats(pstats.SortKey.TIME).print_stats(25)
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    if args.quick:
        return QUICK
    return Settings(rounds=args.rounds, round_seconds=args.round_seconds)


def _child_arguments(settings: Settings) -> list[str]:
    if settings == QUICK:
        return ["--quick"]
    return ["--rounds", str(settings.rounds), "--round-seconds", str(settings.round_seconds)]


def _run_children(names: list[str], settings: Settings) -> tuple[list[dict[str, Any]], list[str]]:
    areas: list[dict[str, Any]] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="aura-bench-") as directory:
        for name in names:
            print(f"Running {name}...", file=sys.stderr, flush=True)
            path = Path(directory) / f"{name}.json"
            command = [sys.executable, "-m", "benchmarks", "--child", name, "--to", str(path)]
            completed = subprocess.run([*command, *_child_arguments(settings)], check=False)
            if completed.returncode != 0:
                failed.append(name)
                continue
            data = json.loads(path.read_text())
            areas.append(data)
            print(render_area(data), end="\n\n", flush=True)
    return areas, failed


def _run_metadata(settings: Settings) -> dict[str, Any]:
    return {
        "schema": 1,
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "machine": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "system": platform.platform(),
            "processor": _cpu_model() or platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        },
        "settings": {
            "rounds": settings.rounds,
            "round_seconds": settings.round_seconds,
            "number": settings.number,
        },
    }


def _cpu_model() -> str | None:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux
        return None
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return None


def _git(*args: str) -> str | None:
    try:
        completed = subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, cwd=RESULTS.parents[2]
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return completed.stdout.strip()


def _write(path: Path, data: dict[str, Any]) -> None:
    # Written aside then renamed, so an interrupted run never leaves half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    partial.replace(path)


if __name__ == "__main__":
    sys.exit(main())
