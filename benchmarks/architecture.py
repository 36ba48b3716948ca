"""Architecture checks: import-linter's contracts on the platform, and ``aura check``.

Both run in-process on this repository (the working directory must be its root, as for
``lint-imports``). Each operation is a whole check, so a round is one run.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from aura.architecture.commands import add_check_arguments, run_check
from aura.architecture.linting import ImportContracts
from benchmarks.core import Area, Case, Namespace

__all__ = ["AREA"]

_GROUP = "check the platform's architecture"


def _setup() -> Namespace:
    config = Path(".importlinter").resolve()
    parser = argparse.ArgumentParser()
    add_check_arguments(parser)
    arguments = parser.parse_args([])
    return {
        "ImportContracts": ImportContracts,
        "config": config,
        "run_check": run_check,
        "arguments": arguments,
        "io": io,
    }


AREA = Area(
    name="architecture",
    title="Architecture: import-linter contracts on the platform, and aura check",
    cases=(
        Case(
            _GROUP,
            "lint-imports (every contract, one graph)",
            "ImportContracts(config).check_all()",
            _setup,
        ),
        Case(
            _GROUP,
            "aura check (contracts + platform verification)",
            "run_check(arguments, io.StringIO())",
            _setup,
        ),
    ),
    notes=(
        "lint-imports: import-linter's Python API builds the import graph once and checks every "
        "contract of .importlinter (including aura's module_dependencies type) on copies of it.",
        "aura check: the same contracts, then Platform.verify() on a started platform.",
    ),
    packages=("aura", "import-linter"),
)
