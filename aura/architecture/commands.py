"""``aura check``, ``aura modules`` and ``aura docs``: the subcommands ``aura.cli`` wires.

``aura check`` builds the module map (:func:`~aura.architecture.modulemap.load_module_map`: the
modules of ``[tool.aura.boundaries]`` and the ``Module(...)`` declarations, read from the source)
and runs the boundary checks on it (:func:`~aura.architecture.boundaries.check_boundaries`);
neither imports the project. It also runs the project's import-linter contracts when it has an
import-linter configuration (in-process, on one graph, which grimp builds from the source too),
but not those of type ``module_dependencies``: they run the same map checks. Only when ``modules``
in ``[tool.aura]`` (or ``--modules``) names a package of Aura modules, and ``--static`` is not
given, does it import them, build the platform and verify it at runtime
(:func:`aura.verification.verify`, and the static
:func:`~aura.architecture.rules.unused_dependencies`); otherwise a note says why it did not. A
platform that cannot be imported or built (a missing dependency, an import that raises or exits)
is one more violation beside the map's, never a crash. It prints every violation on one line,
``path:line: ...``, sorted by place (one without a line of its own is placed where its module or
its import contract is declared, as in SARIF), as text, JSON or SARIF, and compares them with a
baseline when given one. The summary says what was checked; a map without modules is an error,
never a pass.

``aura modules`` prints the module map. ``aura docs`` writes the architecture docs, or with
``--check`` fails when the committed ones are stale.

The project root (the folder of ``pyproject.toml``) is put on ``sys.path`` so that the project's
packages are found. Exit status: 0 passed, 1 violations or stale docs, 2 a usage or
configuration error. With ``--format json`` or ``sarif``, the standard output holds the report
alone: errors and other messages go to the standard error. Import-linter is imported only by
``aura check``, and only when the project configures it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO

from aura.architecture.boundaries import SOURCE as BOUNDARY_SOURCE
from aura.architecture.boundaries import check_boundaries
from aura.architecture.modulemap import (
    DECLARED_IN_SOURCE,
    ModuleMap,
    ModuleSpec,
    line_of,
    load_module_map,
    read_text,
    relative_path,
)
from aura.architecture.report import CheckReport, Rule, read_baseline, write_baseline
from aura.config import (
    CLI_MODULES,
    ModulesSetting,
    ProjectConfig,
    add_modules_argument,
    load_config,
    load_modules,
)
from aura.exceptions import AuraError, ConfigurationError
from aura.findings import PLATFORM_VERIFICATION as SOURCE
from aura.findings import Finding, count, render_json

# The platform (the runtime: the bus, pydantic, the store) is imported only to verify or document
# a platform: the module map's checks need none of it.

if TYPE_CHECKING:
    from aura.architecture.linting import ContractResult, ImportContracts
    from aura.platform import Platform

__all__ = [
    "add_check_arguments",
    "add_docs_arguments",
    "add_modules_arguments",
    "run_check",
    "run_docs",
    "run_modules",
]

MAP_CONTRACT_TYPE = "module_dependencies"
"""The import-linter contract type that runs the module map's checks: ``aura check`` runs those
itself, so it skips the contracts of this type."""


STATIC_NOTE = (
    "Platform verification skipped: --static checks the module map only, so no platform was "
    "built (nothing was imported)."
)
BUILD_FIX = (
    "Install the project's dependencies where aura check runs, or pass --static to check the "
    "module map only (nothing is imported)."
)


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``aura check``."""
    parser.add_argument(
        "--format",
        choices=("text", "json", "sarif"),
        default="text",
        help="report format: text (one line per violation), json, or sarif (SARIF 2.1.0, for "
        "code scanning); default text",
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
    add_modules_argument(
        parser, "where Module(...) declarations are read, and the platform to verify: "
    )
    parser.add_argument(
        "--static",
        action="store_true",
        help="check the module map only; import nothing (no platform verification)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="import-linter configuration (default: setup.cfg, .importlinter or pyproject.toml)",
    )


def run_check(
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO | None = None,
    *,
    modules: Callable[[], Sequence[Any]] | None = None,
    packages: Callable[[], Mapping[str, str]] | None = None,
) -> int:
    """Run ``aura check``; return the exit status.

    The report goes to ``out``. Errors and messages go there too with ``--format text``, and to
    ``err`` (default: the standard error) with ``json`` or ``sarif``, so that ``out`` holds the
    report alone. ``modules``, when given, returns the modules of the platform to verify instead
    of ``modules`` in ``[tool.aura]`` (``manage.py aura check`` gives the Django apps' modules);
    ``packages``, the package each of their code lives in (package -> module name; by default
    the packages whose ``module`` attribute is one of them), so that a module's code the map
    does not cover is reported, not left unchecked.
    """
    messages = out if args.format == "text" else (err if err is not None else sys.stderr)
    if args.update_baseline and args.baseline is None:
        print("aura check: error: --update-baseline needs --baseline FILE.", file=messages)
        return 2
    try:
        config = load_config()
        setting = _modules_setting(config, args.modules)
        module_map = load_module_map(config, declarations=args.modules)
        checked = check_boundaries(module_map)
        findings = list(checked.findings)
        contracts, notes, results = _contract_findings(args.config, config)
        findings.extend(violation for result in results for violation in result.violations)
        anchors = _anchors(module_map, contracts)
        load: Callable[[], Sequence[Any]] | None = modules
        if load is None and setting is not None:
            load = functools.partial(load_modules, config, setting)
        skipped = STATIC_NOTE if args.static else ("" if modules else _skipped(setting, module_map))
        if skipped or load is None:
            notes.append(skipped)
        else:
            findings.extend(_verification_findings(load, findings, module_map, anchors, packages))
        findings = [_placed(finding, anchors, module_map.root) for finding in findings]
        unbuilt = next((f for f in findings if f.rule == "platform-build"), None)
        if args.update_baseline and unbuilt is not None:
            print(
                f"aura check: error: {unbuilt.message.rstrip('.')}. A baseline would accept "
                "that the platform's verification did not run, and it would stay off without a "
                "failure. Fix the build, or pass --static to record the static checks alone. "
                "Nothing was written.",
                file=messages,
            )
            return 2
        if args.update_baseline:
            recorded = count(write_baseline(args.baseline, findings), "violation")
            print(f"aura check: recorded {recorded} in {args.baseline}.", file=messages)
            return 0
        baseline = _renamed(
            read_baseline(args.baseline) if args.baseline is not None else {}, module_map
        )
        # A platform that cannot be built is never accepted: its verification would stay off.
        baseline = {key: n for key, n in baseline.items() if " platform-build" not in key}
    except AuraError as error:
        print(f"aura check: error: {error}", file=messages)
        return 2
    report = CheckReport(
        tuple(findings),
        baseline,
        tuple(notes),
        modules=checked.modules,
        files=checked.files,
        contracts=len(results),
    )
    if args.format == "json":
        text = report.render_json()
    elif args.format == "sarif":
        from aura.architecture.sarif import render_sarif

        text = render_sarif(
            report, root=module_map.root, anchors=anchors, rules=_contract_rules(results)
        )
    else:
        text = report.render_text()
    print(text, file=out)
    return 0 if report.ok else 1


def add_modules_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``aura modules``."""
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (text)"
    )
    add_modules_argument(parser, "where Module(...) declarations are read: ")


def run_modules(args: argparse.Namespace, out: TextIO, err: TextIO | None = None) -> int:
    """Run ``aura modules``: print the module map; return the exit status.

    An error goes to ``out`` with ``--format text``, and to ``err`` (default: the standard
    error) with ``json``, so that ``out`` holds the JSON alone.
    """
    try:
        config = load_config()
        _modules_setting(config, args.modules)
        module_map = load_module_map(config, declarations=args.modules)
    except AuraError as error:
        messages = out if args.format == "text" else (err if err is not None else sys.stderr)
        print(f"aura modules: error: {error}", file=messages)
        return 2
    text = render_json(module_map.to_dict()) if args.format == "json" else module_map.render_text()
    print(text, file=out)
    return 0


def add_docs_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``aura docs``."""
    parser.add_argument(
        "--out",
        type=_folder,
        default=None,
        metavar="DIR",
        help="where the docs go (default: docs/architecture under the project root)",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; fail if the docs in DIR are stale"
    )
    parser.add_argument(
        "--static",
        action="store_true",
        help="build from the module map alone and import nothing, even with modules configured "
        "(no contracts, routes or tables)",
    )
    add_modules_argument(parser)


def _folder(text: str) -> Path:
    """``--out``'s folder; an empty one (an unset shell variable) is refused, not read as '.'."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"needs a folder, got {text!r}. Pass e.g. --out docs/architecture (the default)"
        )
    return Path(text)


def run_docs(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``aura docs``; return the exit status.

    The docs come from the module map (nothing imported); when the project configures its Aura
    modules package (``--modules``, ``modules`` in ``[tool.aura]``) and ``--static`` is not
    given, the platform is built from it and adds what only it knows. A configured package that
    does not import is an error, not a quiet fallback: the docs must not depend on which
    environment ran them.
    """
    from aura.architecture.boundaries import check_boundaries
    from aura.architecture.docs import build_docs, stale_docs, write_docs
    from aura.architecture.modulemap import load_module_map

    config = load_config()
    # With neither a modules package nor a module map, modules_setting says what to configure.
    configured = args.modules is not None or config.modules is not None or not config.boundaries
    setting = config.modules_setting(args.modules, **CLI_MODULES) if configured else None
    modules = load_modules(config, setting) if setting is not None and not args.static else []
    out_dir = args.out if args.out is not None else _shown(config.root / "docs" / "architecture")
    try:
        module_map = load_module_map(config, declarations=setting.package if setting else None)
        report = check_boundaries(module_map)
        if modules:
            from aura.platform import Platform

            with Platform(modules).start() as platform:
                from aura.architecture.schemas import SCHEMA_FILE, read_schemas

                committed = read_schemas(out_dir / SCHEMA_FILE)
                files = build_docs(module_map, report, platform, committed)
        else:
            files = build_docs(module_map, report)
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
    try:
        changes = write_docs(files, out_dir)
    except AuraError as error:
        print(f"aura docs: error: {error}", file=out)
        return 2
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


def _modules_setting(config: ProjectConfig, given: str | None) -> ModulesSetting | None:
    """The modules package of ``--modules`` or ``[tool.aura]`` (checked), or None when neither
    names one: the module map alone is then checked."""
    if given is None and config.modules is None:
        return None
    return config.modules_setting(given, **CLI_MODULES)


def _skipped(setting: ModulesSetting | None, module_map: ModuleMap) -> str:
    """The note saying why the platform is not verified, or "" when it is to be."""
    if setting is None:
        return (
            "Platform verification skipped: neither `modules` in [tool.aura] nor --modules "
            "names a package of Aura modules, so no platform was built (nothing was imported)."
        )
    if not any(_declared_in_source(spec) for spec in module_map.modules):
        return (
            f"Platform verification skipped: no subpackage of {setting.package!r} (from "
            f"{setting.origin}) declares `module = Module(...)`, so there is no Aura platform "
            "to build (nothing was imported)."
        )
    return ""


def _declared_in_source(spec: ModuleSpec) -> bool:
    return any(DECLARED_IN_SOURCE.search(origin) for origin in spec.origins)


_IMPORTLINTER_SECTIONS = {
    ".importlinter": "[importlinter",
    "setup.cfg": "[importlinter",
    "pyproject.toml": "[tool.importlinter",
}


def _may_configure_importlinter(root: Path) -> bool:
    """Whether a file where import-linter looks mentions its section (read as text)."""
    for name, section in _IMPORTLINTER_SECTIONS.items():
        try:
            if section in (root / name).read_text(encoding="utf-8", errors="replace"):
                return True
        except OSError:
            continue
    return False


def _contract_findings(
    given: Path | None, config: ProjectConfig
) -> tuple[ImportContracts | None, list[str], list[ContractResult]]:
    """The project's import contracts, notes on what was not checked, and the results."""
    if given is not None and not given.exists():
        raise ConfigurationError(
            f"--config names {given}, which does not exist. Pass the path of the import-linter "
            "configuration, or leave out --config to find it in setup.cfg, .importlinter or "
            "pyproject.toml."
        )
    if given is None and not _may_configure_importlinter(config.root):
        # Read without import-linter: the map's checks need it not, nor its start-up time.
        return None, ["No import-linter configuration found: import contracts not checked."], []
    try:
        from aura.architecture.linting import ImportContracts, find_config
    except ImportError as error:  # pragma: no cover - import-linter is a dev dependency
        raise ConfigurationError(
            f"aura check runs import-linter contracts, but import-linter is missing ({error}). "
            "Install it: pip install 'aura-modulith[architecture]'."
        ) from None
    path = given if given is not None else find_config(config.root)
    if path is None:
        return None, ["No import-linter configuration found: import contracts not checked."], []
    config.put_on_path()  # grimp finds the root packages on sys.path (it imports none of them)
    contracts = ImportContracts(path)
    notes = [
        f"Import contract {spec.id!r} ({MAP_CONTRACT_TYPE}) not run: aura check runs the same "
        "module map checks itself."
        for spec in contracts.contracts
        if spec.type == MAP_CONTRACT_TYPE
    ]
    results = [
        contracts.check(spec.id) for spec in contracts.contracts if spec.type != MAP_CONTRACT_TYPE
    ]
    return contracts, notes, results


def _event_catalog_findings(platform: Platform, module_map: ModuleMap) -> list[Finding]:
    """The contracts' breaking changes against the committed event catalog (``aura docs``'s
    ``docs/architecture/events.schema.json``); none when nothing is committed yet."""
    from aura.architecture.schemas import SCHEMA_FILE, breaking_changes, read_schemas

    committed = read_schemas(module_map.root / "docs" / "architecture" / SCHEMA_FILE)
    if committed is None:
        return []
    catalog = platform.bus.catalog
    types = [event_type for event_type in committed if event_type in catalog]
    return breaking_changes(committed, catalog, types, root=module_map.root)


def _verification_findings(
    load: Callable[[], Sequence[Any]],
    found: list[Finding],
    module_map: ModuleMap,
    anchors: Mapping[str, str],
    packages: Callable[[], Mapping[str, str]] | None = None,
) -> list[Finding]:
    """Import the modules, build the platform and verify it: its problems, or the one finding
    saying why it could not be built; and whether the map covers every module's code.

    Whatever the project's code raises (or exits with) while it is imported or started is that
    finding, so that the map's findings are still reported; what it prints goes to the standard
    error, so that a JSON or SARIF report stays pure. A problem the static checks already
    reported at its place in the source is not repeated; their cycles are those of imports,
    lookups and declarations together.
    """
    from aura.architecture.rules import unused_dependencies
    from aura.platform import Platform
    from aura.verification import verify

    reported = {finding.key for finding in found}
    mapped = set(module_map.names)
    cycles = any(finding.rule == "dependency-cycle" for finding in found)
    with contextlib.redirect_stdout(sys.stderr):
        try:
            modules = list(load())
        except (Exception, SystemExit) as error:
            return [_build_failure(error, "importing the modules", module_map, anchors)]
        try:
            platform = Platform(modules, boundaries=module_map).start()
        except (Exception, SystemExit) as error:
            return [_build_failure(error, "starting the platform", module_map, anchors)]
        try:
            problems = [
                # first: where a source line says it, the same problem found at run time is not
                # repeated (see the end)
                *_event_findings(module_map, platform.modules),
                *verify(platform, boundaries=module_map).problems,
                *(  # the map judges its own modules' dependencies from all their uses
                    dataclasses.replace(f, source=SOURCE)
                    for f in unused_dependencies(platform.modules)
                    if f.module not in mapped
                ),
                *_event_catalog_findings(platform, module_map),
                *_coverage_findings(
                    platform.modules,
                    packages() if packages is not None else _packages_of(platform.modules),
                    module_map,
                    anchors,
                ),
            ]
            _drop_used_at_run_time(found, platform.modules, module_map)
        finally:
            platform.close()
    kept = []
    for problem in problems:
        if problem.key in reported or (cycles and problem.rule == "dependency-cycle"):
            continue
        reported.add(problem.key)
        kept.append(problem)
    return kept


_OLD_UNUSED = "platform verification: unused-dependency "
"""How baselines written before the map judged its modules' dependencies name the finding."""


def _renamed(baseline: Mapping[str, int], module_map: ModuleMap) -> dict[str, int]:
    """``baseline`` with the old identity of a mapped module's unused dependency read as the
    module map's (the platform still judges the modules outside the map, under its name)."""
    renamed: dict[str, int] = {}
    for identity, times in baseline.items():
        if identity.startswith(_OLD_UNUSED):
            module = identity[len(_OLD_UNUSED) :].partition(" ")[0]
            if module in module_map.names:
                identity = f"{BOUNDARY_SOURCE}: unused-dependency {identity[len(_OLD_UNUSED) :]}"
        renamed[identity] = renamed.get(identity, 0) + times
    return renamed


def _drop_used_at_run_time(
    found: list[Finding], modules: Mapping[str, Any], module_map: ModuleMap
) -> None:
    """Take out of ``found`` the map's unused dependencies that the platform shows used: a
    ``resolve("user_service")`` of a service the dependency registers in a way the source
    alone cannot follow (a helper that takes the Module); the running modules know the name."""
    from aura.architecture.scanning import as_lookups, references_in_file

    unused = [f for f in found if f.rule == "unused-dependency" and f.module in modules]
    if not unused:
        return
    specs = {spec.name: spec for spec in module_map.modules}
    used: dict[str, set[str]] = {}
    for name in {f.module for f in unused}:
        spec = specs.get(name)
        files = spec.files if spec is not None else ()
        references = [ref for file in files for ref in references_in_file(file.path)]
        used[name] = {
            ref.target for ref in as_lookups(references, modules.values()) if ref.kind == "lookup"
        }
    found[:] = [f for f in found if f not in unused or f.subject not in used[f.module]]


_EVENT_RULES = frozenset({"undeclared-event", "event-without-publisher"})


def _event_findings(module_map: ModuleMap, modules: Mapping[str, Any]) -> list[Finding]:
    """The source's publish and subscribe calls judged against what the platform's modules
    declare they publish, where the map does not say (a Django app's ``module.publishes``):
    the static checks judge events only when every module's ``publishes`` is known."""
    if all(spec.publishes is not None for spec in module_map.modules):
        return []  # the static checks judged them already
    specs = []
    for spec in module_map.modules:
        module = modules.get(spec.name)
        if spec.publishes is None and module is not None and not module.synthesized:
            # Where to declare one more: the module's own declaration (its package's file).
            file = _file_of(spec.package)
            origin = relative_path(Path(file), module_map.root) if file else spec.origin
            spec = dataclasses.replace(
                spec, publishes=tuple(module.published), origins=(origin, *spec.origins)
            )
        specs.append(spec)
    if any(spec.publishes is None for spec in specs):
        return []  # a module still declares nothing (seed-style, or not on the platform)
    enriched = dataclasses.replace(module_map, modules=tuple(specs))
    return [f for f in check_boundaries(enriched).findings if f.rule in _EVENT_RULES]


def _packages_of(modules: Mapping[str, Any]) -> dict[str, str]:
    """The imported packages whose ``module`` attribute is one of ``modules`` (how a package
    declares its module), each with that module's name."""
    names = {id(module): name for name, module in modules.items()}
    found: dict[str, str] = {}
    for package, imported in list(sys.modules.items()):
        if not isinstance(imported, ModuleType):
            continue
        attributes = vars(imported)  # read as they are: no module __getattr__, no lazy load
        name = names.get(id(attributes.get("module")))
        if name is not None and "__path__" in attributes:
            found[package] = name
    return found


def _coverage_findings(
    modules: Mapping[str, Any],
    packages: Mapping[str, str],
    module_map: ModuleMap,
    anchors: Mapping[str, str],
) -> Iterator[Finding]:
    """What the platform has that the map does not check: a module the map does not declare
    (its imports and lookups go unchecked), a package of a module's code outside the map's
    package for it, a package the two call by different names."""
    if not module_map.modules:
        return  # no map at all: the static checks said so already
    specs = {spec.name: spec for spec in module_map.modules}
    covered = set(specs)  # the platform's modules the map declares, under one name or another
    told: set[str] = set()
    homes = {name: _home(packages, name) for name in set(packages.values())}
    for package, name in sorted(packages.items()):
        spec, holder = specs.get(name), _holder(module_map, package)
        if holder is not None and holder.name == name:
            continue  # where the map has it
        if spec is None and holder is not None and holder.package in (package, homes[name]):
            covered.add(name)
            if name in told:
                continue  # told once, for its first package
            told.add(name)
            yield Finding(
                module=name,
                rule="declaration-conflict",
                subject=f"name {holder.name}",
                message=(
                    f"The platform's module {name!r} is the package {holder.package}, which the "
                    f"module map declares as module {holder.name!r} ({holder.origin})."
                ),
                fix=f"Call the module by one name: rename the map's table to {name!r}.",
                location=anchors.get(holder.name, ""),  # the table to rename
            )
        elif spec is not None:
            checked = (
                f"checks it as code of {holder.name!r}"
                if holder is not None
                else "checks none of it"
            )
            yield Finding(
                module=name,
                rule="unmapped-code",
                subject=package,
                message=(
                    f"{package} is code of module {name!r} on the platform, but the module map "
                    f"places {name!r} at {spec.package} ({spec.origin}) and {checked}."
                ),
                fix=(
                    f"Move {package} under {spec.package}, or make it a module of its own, on "
                    "the platform and in the map."
                ),
            )
        # else a module the map does not declare at all (its package may sit inside another
        # module's): told below
    for name in sorted(set(modules) - covered):
        if getattr(modules[name], "synthesized", False):
            continue  # a seed-style package: it declares nothing of its own to check
        package = homes.get(name, "")
        file = _file_of(package)
        yield Finding(
            module=name,
            rule="unmapped-module",
            subject=name,
            message=(
                f"{name!r} is a module of the platform, but the module map does not declare "
                f"it: its imports and lookups are not checked (those of "
                f"{count(len(module_map.modules), 'module')} are)."
            ),
            fix=(
                f"Declare it: add [tool.aura.boundaries.modules.{name}] with package = "
                f"{package or '...'!r} to pyproject.toml."
            ),
            location=f"{file}:1" if file else "",  # where its code is, not in the map
        )


def _file_of(package: str) -> str | None:
    """The file of the imported package ``package`` (its ``__init__.py``), if any."""
    return getattr(sys.modules.get(package), "__file__", None) if package else None


def _home(packages: Mapping[str, str], name: str) -> str:
    """Module ``name``'s package: the one its code is in, or what the packages of its apps
    share (``clinic.billing`` for ``clinic.billing.invoices`` and ``clinic.billing.payments``)."""
    places = [package.replace(".", "/") for package, owner in packages.items() if owner == name]
    return os.path.commonpath(places).replace("/", ".") if places else ""


def _holder(module_map: ModuleMap, package: str) -> ModuleSpec | None:
    """The module of the map whose package holds ``package`` (the innermost), if any."""
    holders = [
        spec
        for spec in module_map.modules
        if package == spec.package or package.startswith(f"{spec.package}.")
    ]
    return max(holders, key=lambda spec: len(spec.package), default=None)


def _build_failure(
    error: BaseException, doing: str, module_map: ModuleMap, anchors: Mapping[str, str]
) -> Finding:
    """The finding of a platform that cannot be built: at the declaration of the module whose
    code raised ``error``, when one did."""
    module, raised = _raised_in(error, module_map)
    if isinstance(error, AuraError):  # Aura's own refusal says what to fix
        message, fix = f"The platform cannot be built: {error}", ""
    else:
        text = str(error)
        named = f"{type(error).__name__}: {text}" if text else type(error).__name__
        at = f" (at {raised})" if raised else ""
        message, fix = f"The platform cannot be built: {doing} raised {named}{at}.", BUILD_FIX
        if isinstance(error, ImportError) and not isinstance(error, ModuleNotFoundError):
            # Installed, but it cannot import: "partially initialized module" is an import
            # cycle in the project's own code, which no installation fixes.
            fix = (
                "the module exists but the import failed inside it (an import cycle in the "
                "project's code, or a name it does not define): fix that import, or pass --static"
            )
        elif type(error).__name__ in ("ImproperlyConfigured", "AppRegistryNotReady"):
            # A Django project's apps need its settings: Django's manage.py provides them.
            fix = (
                "the modules are a Django project's apps: run python manage.py aura check "
                "(the app aura.integrations.django in INSTALLED_APPS), which loads the settings"
            )
    return Finding(
        source=SOURCE,
        module=module,
        rule="platform-build",
        message=message,
        fix=fix,
        location=anchors.get(module, "") if module else "",
    )


def _raised_in(error: BaseException, module_map: ModuleMap) -> tuple[str, str]:
    """The module whose file raised ``error`` (the innermost such frame) and ``path:line`` there,
    or ``("", "")`` when no module's code did."""
    root = module_map.root
    owners = {
        (root / file.path).resolve(): spec.name
        for spec in module_map.modules
        for file in spec.files
    }
    places = [(frame.filename, frame.lineno) for frame in traceback.extract_tb(error.__traceback__)]
    if isinstance(error, SyntaxError) and error.filename:
        places.append((error.filename, error.lineno))
    for filename, line in reversed(places):
        try:
            owner = owners.get(Path(filename).resolve())
        except (OSError, ValueError):
            continue
        if owner is not None:
            return owner, f"{relative_path(Path(filename), root)}:{line or 1}"
    return "", ""


def _placed(finding: Finding, anchors: Mapping[str, str], root: Path) -> Finding:
    """``finding`` with a place ``path:line``, relative to ``root`` when it is under it (the
    runtime's places are absolute): a file without a line gets its module's
    declaration when it is in that file, else its first line; a finding without a place (a
    cycle, a verification problem, an import chain) is placed where its module is declared, or
    its import contract configured, as in the SARIF log."""
    path, _, line = finding.location.rpartition(":")
    if path and line.isdigit():
        if not Path(path).is_absolute():
            return finding
        # A place the runtime found (a handler's definition): shown from the project's root.
        return dataclasses.replace(finding, location=f"{relative_path(Path(path), root)}:{line}")
    declared = anchors.get(finding.module, "") if finding.module else ""
    if finding.location:
        file = Path(finding.location)
        declared_file = declared.rpartition(":")[0]
        same = declared_file and (root / declared_file).resolve() == file.resolve()
        place = declared if same else f"{relative_path(file, root)}:1"
    else:
        place = declared or anchors.get(finding.source, "") or anchors.get("", "")
    return dataclasses.replace(finding, location=place) if place else finding


# --- where findings without a place go, and what the contracts' rules say (for SARIF) ---------


def _anchors(module_map: ModuleMap, contracts: ImportContracts | None) -> dict[str, str]:
    """The place of each module's declaration and of each contract's section, as ``path:line``."""
    root = module_map.root
    anchors = {spec.name: spec.declared_at(root) for spec in module_map.modules}
    if contracts is not None:
        text = read_text(contracts.config)
        shown = relative_path(contracts.config, root)
        for spec in contracts.contracts:
            line = line_of(text, f"[importlinter:contract:{spec.id}]")
            anchors[f"import contract {spec.id}"] = f"{shown}:{line}"
    pyproject = root / "pyproject.toml"
    anchors[""] = "pyproject.toml:1" if pyproject.is_file() else next(iter(anchors.values()), "")
    return anchors


def _contract_rules(results: Sequence[ContractResult]) -> dict[str, Rule]:
    return {
        f"import-contract/{result.contract.id}": Rule(
            f"import-contract/{result.contract.id}",
            result.contract.name,
            f"The import-linter contract {result.contract.id!r} (type {result.contract.type}): "
            f"{result.contract.name}. Remove the import the chain ends with, or change the "
            "contract.",
        )
        for result in results
    }
