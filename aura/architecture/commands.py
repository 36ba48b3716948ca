"""``aura check`` and ``aura docs``: the functions ``aura.cli`` wires as subcommands.

``aura check`` runs the project's import-linter contracts (in-process, on one graph) and
verifies the platform built from the modules package (:func:`aura.verification.verify`, and the
static :func:`~aura.architecture.rules.unused_dependencies`); it prints every violation, sorted,
as text or JSON, and compares them with a baseline when given one. ``aura docs`` writes the
architecture docs, or with ``--check`` fails when the committed ones are stale.

The modules package comes from ``--modules`` or ``modules`` in ``[tool.aura]``; with neither,
or when it declares no module, both fail (exit status 2) instead of checking nothing. The
project root (the folder of ``pyproject.toml``) is put on ``sys.path`` so that the project's
packages import. Exit status: 0 passed, 1 violations or stale docs, 2 a usage or configuration
error. Import-linter is imported only by ``aura check``.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TextIO

from aura.architecture.report import CheckReport, read_baseline, write_baseline
from aura.architecture.rules import unused_dependencies
from aura.config import (
    CLI_MODULES,
    ProjectConfig,
    add_modules_argument,
    load_config,
    load_modules,
    modules_given,
)
from aura.exceptions import AuraError, ConfigurationError
from aura.findings import Finding, count
from aura.platform import Platform
from aura.verification import SOURCE, verify

__all__ = ["add_check_arguments", "add_docs_arguments", "run_check", "run_docs"]


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``aura check``."""
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="report format (text)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help="accept the violations recorded in FILE; fail on new ones and on fixed ones",
    )
    parser.add_argument(
        "--update-baseline",
        action="store_true",
        help="record today's violations in the --baseline FILE and pass",
    )
    add_modules_argument(parser)
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="import-linter configuration (default: setup.cfg, .importlinter or pyproject.toml)",
    )


def run_check(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``aura check``; return the exit status."""
    if args.update_baseline and args.baseline is None:
        print("aura check: error: --update-baseline needs --baseline FILE.", file=out)
        return 2
    config = load_config()
    setting = config.modules_setting(args.modules, **CLI_MODULES)
    modules = load_modules(config, setting)
    try:
        with modules_given(setting):  # the module_dependencies contract checks the same package
            notes, findings = _contract_findings(args.config, config)
        findings.extend(_verification_findings(modules, findings))
        if args.update_baseline:
            write_baseline(args.baseline, findings)
            recorded = count(len(findings), "violation")
            print(f"aura check: recorded {recorded} in {args.baseline}.", file=out)
            return 0
        baseline = read_baseline(args.baseline) if args.baseline is not None else frozenset()
    except ConfigurationError as error:
        print(f"aura check: error: {error}", file=out)
        return 2
    report = CheckReport(tuple(sorted(set(findings))), baseline, tuple(notes))
    text = report.render_json() if args.format == "json" else report.render_text()
    print(text, file=out)
    return 0 if report.ok else 1


def add_docs_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``aura docs``."""
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the docs go (default: docs/architecture under the project root)",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; fail if the docs in DIR are stale"
    )
    add_modules_argument(parser)


def run_docs(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``aura docs``; return the exit status."""
    from aura.architecture.docs import build_docs, stale_docs, write_docs

    config = load_config()
    modules = load_modules(config, config.modules_setting(args.modules, **CLI_MODULES))
    out_dir = args.out if args.out is not None else _shown(config.root / "docs" / "architecture")
    try:
        with Platform(modules).start() as platform:
            files = build_docs(platform)
    except AuraError as error:
        print(f"aura docs: error: {error}", file=out)
        return 2
    if args.check:
        stale = stale_docs(files, out_dir)
        if stale:
            print(
                "aura docs: the architecture docs are stale; run `aura docs` to regenerate:",
                file=out,
            )
            print("\n".join(f"  - {line}" for line in stale), file=out)
            return 1
        print(f"aura docs: {len(files)} files in {out_dir.as_posix()} are up to date.", file=out)
        return 0
    changes = write_docs(files, out_dir)
    print(
        f"aura docs: wrote {len(files)} files to {out_dir.as_posix()} ({len(changes)} changed).",
        file=out,
    )
    return 0


# --- helpers -------------------------------------------------------------------------------------


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory when it is below it (as users typed it)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _contract_findings(
    given: Path | None, config: ProjectConfig
) -> tuple[list[str], list[Finding]]:
    try:
        from aura.architecture.linting import ImportContracts, find_config
    except ImportError as error:  # pragma: no cover - import-linter is a dev dependency
        raise ConfigurationError(
            f"aura check runs import-linter contracts, but import-linter is missing ({error}). "
            "Install it: pip install 'aura-modulith[architecture]'."
        ) from None
    path = given if given is not None else find_config(config.root)
    if path is None:
        return ["No import-linter configuration found: import contracts not checked."], []
    findings = [
        violation for result in ImportContracts(path).check_all() for violation in result.violations
    ]
    return [], findings


def _verification_findings(modules: list[ModuleType], found: list[Finding]) -> Iterator[Finding]:
    # A problem the static contract already reported at its place in the source is not repeated.
    reported = {finding.key for finding in found}
    try:
        platform = Platform(modules).start()
    except AuraError as error:
        message = f"The platform cannot be built: {error}"
        yield Finding(source=SOURCE, key="platform-build", message=message)
        return
    try:
        problems = [
            *verify(platform).problems,
            *(dataclasses.replace(f, source=SOURCE) for f in unused_dependencies(platform.modules)),
        ]
    finally:
        platform.close()
    yield from (problem for problem in problems if problem.key not in reported)
