"""Boundary checks on a synthetic monolith: ``aura check`` beside ``tach check`` and
``lint-imports`` with the same rules, and the decision of ``pytest --aura-changed``.

:func:`generate` writes a modular monolith (deterministic: the same seed gives the same bytes) to
a folder: one top-level package ``app`` of 50 modules ``app.m00`` … ``app.m49``, each with the
layers ``api`` > ``application | infrastructure`` > ``domain`` (nine files and an ``__init__.py``
each: 2,051 files in all), and two test files per module under ``tests/``. Modules import each
other's published ``api`` along an acyclic declared dependency graph (a module depends only on
modules after it), plus four planted violations: an undeclared dependency, an internal import (a
declared dependency's ``domain``), a layer importing the one above it, and an independent sibling
importing the other.

:func:`write_configuration` writes the same rules for each tool:

- ``aura``: ``[tool.aura.boundaries]`` in ``pyproject.toml``: each module's package,
  ``depends_on``, ``interface = ["api"]``, and the layers once for all modules;
- ``tach``: ``tach.toml``. Tach has modules and interfaces but no layers *inside* a module (its
  layers rank whole modules, and let a higher one use a lower one undeclared), so each layer of
  each module is a tach module (200 of them) whose ``depends_on`` lists the lower layers of its
  own module and the ``api`` of every module its module depends on. Every rule becomes a
  dependency rule: tach reports all four violations as "cannot depend on";
- ``lint-imports``: ``.importlinter``: per module, a forbidden contract on the modules it does not
  declare and one on the non-``api`` sub-packages of those it does (both with
  ``allow_indirect_imports``: aura and tach judge each import, not chains of imports), and one
  layers contract with the 50 modules as containers.

:func:`findings` runs a tool on a tree as a user does and returns the places (``path:line``) it
reports; :func:`compare` holds them against the planted violations. Every case checks its tool
that way before it is timed.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from aura.architecture.boundaries import check_boundaries
from aura.architecture.modulemap import load_module_map
from aura.architecture.selection import select_tests
from aura.config import load_config
from benchmarks.core import Area, Case, Namespace, Target

__all__ = [
    "AREA",
    "Monolith",
    "Planted",
    "compare",
    "findings",
    "generate",
    "tree",
    "write_configuration",
]

PACKAGE = "app"
MODULES = 50
FILES_PER_LAYER = 9
SEED = 17
LAYERS = ("api", "application", "infrastructure", "domain")
_BELOW = {
    "api": ("application", "infrastructure", "domain"),
    "application": ("domain",),
    "infrastructure": ("domain",),
    "domain": (),
}
"""The layers each layer may import (its own module's); ``application | infrastructure``."""
_STEM = {"api": "endpoint", "application": "service", "infrastructure": "repository"}
_STEM["domain"] = "model"
_CLASS = {"api": "Endpoint", "application": "Service", "infrastructure": "Repository"}
_CLASS["domain"] = "Model"
_FUTURE = "from __future__ import annotations"
_VERB = {"api": "handle", "application": "run", "infrastructure": "load", "domain": "validate"}
_STDLIB = (
    "import json",
    "import re",
    "from collections.abc import Iterable, Mapping",
    "from decimal import Decimal",
    "from typing import Any",
)


@dataclasses.dataclass(frozen=True, slots=True)
class Planted:
    """A violation written on purpose: which rule, and the line of the import."""

    rule: str
    """``undeclared-dependency``, ``internal-import`` or ``layer``, as aura names them."""
    path: str
    """Relative to the tree, with ``/``."""
    line: int
    importer: str
    imported: str

    @property
    def place(self) -> str:
        """``path:line``."""
        return f"{self.path}:{self.line}"


@dataclasses.dataclass(frozen=True, slots=True)
class Monolith:
    """What :func:`generate` wrote: the dependency graph declared, the violations planted."""

    root: Path
    depends_on: dict[str, tuple[str, ...]]
    planted: tuple[Planted, ...]
    files: int


def _names(count: int) -> list[str]:
    return [f"m{index:02d}" for index in range(count)]


def _graph(rng: random.Random, names: list[str]) -> dict[str, tuple[str, ...]]:
    """Each module depends on up to four of the twelve after it: acyclic by construction."""
    graph = {}
    for index, name in enumerate(names):
        later = names[index + 1 : index + 13]
        count = rng.randint(0, min(4, len(later)))
        graph[name] = tuple(sorted(rng.sample(later, count)))
    return graph


def _symbol(layer: str, index: int) -> tuple[str, str, str]:
    """A file's stem, its class and its function: ``model_3``, ``Model3``, ``validate_3``."""
    return f"{_STEM[layer]}_{index}", f"{_CLASS[layer]}{index}", f"{_VERB[layer]}_{index}"


def _imports(
    rng: random.Random, module: str, layer: str, index: int, deps: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """The import lines of one file (stdlib, own lower layers and siblings, others' ``api``),
    and the names they bind that the body then uses."""
    lines = sorted(
        ["import dataclasses", "import logging", *rng.sample(_STDLIB, rng.randint(0, 2))]
    )
    used: list[str] = []
    own = f"{PACKAGE}.{module}"
    project: list[str] = []
    if index > 0 and rng.random() < 0.6:  # a sibling file of the same layer, before it
        stem, cls, _ = _symbol(layer, rng.randrange(index))
        project.append(f"from .{stem} import {cls}")
        used.append(cls)
    for lower in _BELOW[layer]:
        for other in sorted(rng.sample(range(FILES_PER_LAYER), rng.randint(1, 2))):
            stem, cls, function = _symbol(lower, other)
            style = rng.randrange(3)
            if style == 0:
                project.append(f"from {own}.{lower}.{stem} import {cls}, {function}")
                used.extend((cls, function))
            elif style == 1:
                project.append(f"from ..{lower} import {stem}")
                used.append(f"{stem}.{function}")
            else:
                project.append(f"from ..{lower}.{stem} import {function}")
                used.append(function)
    for dep in sorted(rng.sample(deps, min(len(deps), rng.randint(0, 2)))):
        stem, cls, function = _symbol("api", rng.randrange(FILES_PER_LAYER))
        style = rng.randrange(3)
        if style == 0:
            project.append(f"from {PACKAGE}.{dep}.api.{stem} import {function}")
            used.append(function)
        elif style == 1:
            project.append(f"from {PACKAGE}.{dep}.api import {stem}")
            used.append(f"{stem}.{function}")
        else:
            project.append(f"import {PACKAGE}.{dep}.api.{stem}")
            used.append(f"{PACKAGE}.{dep}.api.{stem}.{function}")
    return [*lines, "", *sorted(set(project))], used


def _body(layer: str, index: int, used: list[str]) -> list[str]:
    """About forty lines of plausible code: a frozen dataclass, a few functions using imports."""
    _, cls, function = _symbol(layer, index)
    calls = [f"        _log.debug('%s', {name})" for name in used] or ["        pass"]
    return [
        "",
        "_log = logging.getLogger(__name__)",
        "",
        "",
        "@dataclasses.dataclass(frozen=True, slots=True)",
        f"class {cls}:",
        f'    """An object of the {layer} layer ({index})."""',
        "",
        "    id: int",
        "    name: str",
        "    tags: tuple[str, ...] = ()",
        "",
        "    def renamed(self, name: str) -> " + f"{cls}:",
        '        """The same, under another name."""',
        "        return type(self)(self.id, name, self.tags)",
        "",
        "    def tagged(self, *tags: str) -> " + f"{cls}:",
        '        """The same, with more tags."""',
        "        return type(self)(self.id, self.name, (*self.tags, *tags))",
        "",
        "",
        f"def {function}(items: list[dict[str, object]]) -> list[{cls}]:",
        f'    """Build the valid {cls} objects of ``items``; log what was skipped."""',
        f"    result: list[{cls}] = []",
        "    for position, item in enumerate(items):",
        "        name = str(item.get('name', '')).strip()",
        "        if not name:",
        "            _log.warning('item %d has no name', position)",
        "            continue",
        f"        result.append({cls}(position, name))",
        "    return result",
        "",
        "",
        "def _touch() -> None:",
        '    """Refer to what is imported, as real code would."""',
        "    if __debug__:",
        *calls,
        "",
    ]


def generate(root: Path, *, modules: int = MODULES, seed: int = SEED) -> Monolith:
    """Write the monolith's code and tests under ``root`` (empty or absent), no configuration;
    return what it holds."""
    rng = random.Random(seed)
    names = _names(modules)
    graph = _graph(rng, names)
    planted = _plan(graph, names)
    files = 0

    def write(relative: str, lines: list[str]) -> None:
        nonlocal files
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")
        files += relative.startswith(f"{PACKAGE}/")

    write(f"{PACKAGE}/__init__.py", ['"""The synthetic monolith."""'])
    for module in names:
        base = f"{PACKAGE}/{module}"
        write(f"{base}/__init__.py", [f'"""Module {module}; its published API is its api."""'])
        for layer in LAYERS:
            exported = [_symbol(layer, index) for index in range(FILES_PER_LAYER)]
            write(
                f"{base}/{layer}/__init__.py",
                [
                    f'"""The {layer} layer of {module}."""',
                    "",
                    *(f"from .{stem} import {cls}, {fn}" for stem, cls, fn in exported),
                ],
            )
            for index in range(FILES_PER_LAYER):
                stem = _symbol(layer, index)[0]
                relative = f"{base}/{layer}/{stem}.py"
                imports, used = _imports(rng, module, layer, index, graph[module])
                header = [f'"""{module}.{layer}: {stem}."""', "", _FUTURE, ""]
                lines = [*header, *imports]
                for plant in planted.get(relative, ()):
                    lines.append(plant[0])
                    used.append(plant[1])
                write(relative, [*lines, *_body(layer, index, used)])
        for layer in ("api", "domain"):  # two test files per module
            stem, cls, function = _symbol(layer, 0)
            write(
                f"tests/{module}/test_{layer}.py",
                [
                    f'"""Tests of {module}.{layer}."""',
                    "",
                    f"from {PACKAGE}.{module}.{layer}.{stem} import {cls}, {function}",
                    "",
                    "",
                    f"def test_{function}_skips_items_without_a_name() -> None:",
                    f"    assert {function}([{{'name': 'a'}}, {{}}]) == [{cls}(0, 'a')]",
                ],
            )
    found = tuple(_located(root, relative, plants) for relative, plants in planted.items())
    return Monolith(root, graph, tuple(p for group in found for p in group), files)


_Plan = dict[str, list[tuple[str, str, str, str, str]]]
"""Per file: (import line, a name it binds, rule, importer, imported)."""


def _plan(graph: dict[str, tuple[str, ...]], names: list[str]) -> _Plan:
    """Where the four violations go: fixed modules, targets chosen from the graph."""
    plan: _Plan = {}

    def add(module: str, layer: str, index: int, line: str, name: str, rule: str, imported: str):
        relative = f"{PACKAGE}/{module}/{layer}/{_symbol(layer, index)[0]}.py"
        importer = f"{PACKAGE}.{module}.{layer}.{_symbol(layer, index)[0]}"
        plan.setdefault(relative, []).append((line, name, rule, importer, imported))

    # An undeclared dependency, on a later module (so that no cycle arises).
    source = names[3]
    target = next(n for n in names[4:] if n not in graph[source])
    add(
        source,
        "application",
        4,
        f"from {PACKAGE}.{target}.api.endpoint_1 import handle_1 as undeclared",
        "undeclared",
        "undeclared-dependency",
        f"{PACKAGE}.{target}.api.endpoint_1",
    )
    # An internal import: a declared dependency's domain.
    source = next(n for n in names[11:] if graph[n])
    target = graph[source][0]
    add(
        source,
        "infrastructure",
        2,
        f"from {PACKAGE}.{target}.domain.model_5 import Model5 as internal",
        "internal",
        "internal-import",
        f"{PACKAGE}.{target}.domain.model_5",
    )
    # A layer importing the one above it.
    source = names[22]
    add(
        source,
        "domain",
        6,
        f"from {PACKAGE}.{source}.application.service_1 import run_1 as upward",
        "upward",
        "layer",
        f"{PACKAGE}.{source}.application.service_1",
    )
    # An independent sibling importing the other (relative).
    source = names[37]
    add(
        source,
        "application",
        3,
        "from ..infrastructure import repository_0 as sideways",
        "sideways",
        "layer",
        f"{PACKAGE}.{source}.infrastructure.repository_0",
    )
    return plan


def _located(root: Path, relative: str, plants: list[tuple[str, ...]]) -> list[Planted]:
    lines = (root / relative).read_text(encoding="utf-8").splitlines()
    return [
        Planted(rule, relative, lines.index(line) + 1, importer, imported)
        for line, _, rule, importer, imported in plants
    ]


# --- the three configurations ---------------------------------------------------------------------

TOOLS = ("aura", "tach", "lint-imports")


def write_configuration(tool: str, monolith: Monolith) -> Path:
    """Write ``tool``'s configuration of the rules into the tree (and nothing for the other
    tools: ``aura check`` would also run an ``.importlinter`` it finds); return its path."""
    written = {
        "aura": ("pyproject.toml", aura_configuration),
        "tach": ("tach.toml", tach_configuration),
        "lint-imports": (".importlinter", importlinter_configuration),
    }
    name, render = written[tool]
    path = monolith.root / name
    path.write_text(render(monolith.depends_on), encoding="utf-8")
    return path


def _toml_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def aura_configuration(graph: dict[str, tuple[str, ...]]) -> str:
    """``[tool.aura.boundaries]``: 50 modules, their dependencies, ``api`` published, layers."""
    lines = [
        '[project]\nname = "synthetic-monolith"\nversion = "0"\n',
        "[tool.aura.boundaries]",
        'layers = ["api", "application | infrastructure", "domain"]',
    ]
    for module, deps in graph.items():
        lines += [
            "",
            f"[tool.aura.boundaries.modules.{module}]",
            f'package = "{PACKAGE}.{module}"',
            f"depends_on = {_toml_list(deps)}",
            'interface = ["api"]',
        ]
    return "\n".join(lines) + "\n"


def tach_configuration(graph: dict[str, tuple[str, ...]]) -> str:
    """``tach.toml``: one tach module per layer of each module, dependencies spelled out."""
    lines = [
        "# One tach module per layer of each aura module: tach's layers rank whole modules, so",
        "# the layers inside a module are written as dependencies between its layer modules.",
        'source_roots = ["."]',
        'exclude = ["**/__pycache__", "tests/**"]',
    ]
    for module, deps in graph.items():
        for layer in LAYERS:
            allowed = [f"{PACKAGE}.{module}.{lower}" for lower in _BELOW[layer]]
            allowed += [f"{PACKAGE}.{dep}.api" for dep in deps]
            lines += [
                "",
                "[[modules]]",
                f'path = "{PACKAGE}.{module}.{layer}"',
                f"depends_on = {_toml_list(allowed)}",
            ]
    return "\n".join(lines) + "\n"


def importlinter_configuration(graph: dict[str, tuple[str, ...]]) -> str:
    """``.importlinter``: two forbidden contracts per module and one layers contract."""
    names = list(graph)
    lines = ["[importlinter]", f"root_package = {PACKAGE}", ""]
    for module, deps in graph.items():
        undeclared = [f"{PACKAGE}.{n}" for n in names if n != module and n not in deps]
        internals = [f"{PACKAGE}.{d}.{layer}" for d in deps for layer in LAYERS if layer != "api"]
        lines += [
            f"[importlinter:contract:{module}-dependencies]",
            f"name = {module} imports only the modules it declares",
            "type = forbidden",
            f"source_modules = {PACKAGE}.{module}",
            "forbidden_modules =",
            *(f"    {name}" for name in undeclared),
            "allow_indirect_imports = true",
            "",
        ]
        if internals:
            lines += [
                f"[importlinter:contract:{module}-interfaces]",
                f"name = {module} imports only the api of its dependencies",
                "type = forbidden",
                f"source_modules = {PACKAGE}.{module}",
                "forbidden_modules =",
                *(f"    {name}" for name in internals),
                "allow_indirect_imports = true",
                "",
            ]
    lines += [
        "[importlinter:contract:layers]",
        "name = layers inside every module",
        "type = layers",
        "layers =",
        "    api",
        "    application | infrastructure",
        "    domain",
        "containers =",
        *(f"    {PACKAGE}.{name}" for name in names),
        "",
    ]
    return "\n".join(lines)


# --- what each tool reports -----------------------------------------------------------------------

BIN = Path(sys.executable).parent
AURA_CHECK = [str(BIN / "aura"), "check"]
TACH_CHECK = [str(BIN / "tach"), "check"]
LINT_IMPORTS = [str(BIN / "lint-imports"), "--no-logo"]
CACHES = {"aura": ".aura_cache", "tach": None, "lint-imports": ".import_linter_cache"}
"""Where each tool keeps what it reuses between runs (tach 0.35.3 keeps nothing for check)."""
_WIDE = {**os.environ, "COLUMNS": "1000"}  # import-linter wraps its lines to the terminal


def findings(tool: str, root: Path) -> set[str]:
    """The places (``path:line``) that ``tool`` reports on the tree at ``root`` (which holds its
    configuration), run once as a user runs it, its cache removed before and after."""
    cache = CACHES[tool]
    if cache is not None:
        shutil.rmtree(root / cache, ignore_errors=True)
    try:
        if tool == "aura":
            report = json.loads(_run([*AURA_CHECK, "--format", "json"], root).stdout)
            return {violation["location"] for violation in report["violations"]}
        if tool == "tach":
            items = json.loads(_run([*TACH_CHECK, "--output", "json"], root).stdout)
            return {
                f"{item['Located']['file_path']}:{item['Located']['line_number']}"
                for item in items
                if "Located" in item
            }
        output = _run(LINT_IMPORTS, root).stdout
        return {f"{_path_of(root, name)}:{line}" for name, line in _CHAIN.findall(output)}
    finally:
        if cache is not None:
            shutil.rmtree(root / cache, ignore_errors=True)


_CHAIN = re.compile(r"^-\s+(\S+) -> \S+ \(l\.(\d+)\)", re.MULTILINE)
"""One line of an import-linter chain: ``- a.b -> c.d (l.12)``."""


def _path_of(root: Path, dotted: str) -> str:
    relative = Path(*dotted.split("."))
    if (root / relative).is_dir():
        return (relative / "__init__.py").as_posix()
    return relative.with_suffix(".py").as_posix()


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a checker that must report violations (exit status 1), as the planted ones are."""
    completed = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, check=False, env=_WIDE
    )
    if completed.returncode != 1:
        raise RuntimeError(
            f"{' '.join(command)} in {cwd} exited with {completed.returncode}, not 1 "
            f"(violations found):\n{completed.stdout}\n{completed.stderr}"
        )
    return completed


def compare(monolith: Monolith, tool: str) -> tuple[list[str], list[str]]:
    """What ``tool`` reports on the tree (holding its configuration) against the planted
    violations: the planted places it missed, and the places it reported beyond them."""
    expected = {plant.place for plant in monolith.planted}
    found = findings(tool, monolith.root)
    return sorted(expected - found), sorted(found - expected)


# --- the cases ------------------------------------------------------------------------------------

_WORK = tempfile.TemporaryDirectory(prefix="aura-bench-boundaries-")
atexit.register(_WORK.cleanup)
_MASTER: list[Monolith] = []


def _master() -> Monolith:
    """The tree without configuration, generated once per process."""
    if not _MASTER:
        _MASTER.append(generate(Path(_WORK.name) / "master"))
    return _MASTER[0]


def tree(tool: str, slot: str) -> Path:
    """The copy of the tree named ``slot``, with ``tool``'s configuration, made on first use.

    Cases that leave the cache alike share a slot (the cold ones remove it after each round,
    the warm ones keep it); others have their own, so that no case sees another's cache. The
    files are hard links to one generated tree (no tool writes them). The first copy for each
    tool is checked: the tool must report the planted violations and nothing else.
    """
    root = Path(_WORK.name) / slot
    if root.exists():
        return root
    master = _master()
    shutil.copytree(master.root, root, copy_function=os.link)
    copy = dataclasses.replace(master, root=root)
    write_configuration(tool, copy)
    if tool not in _VERIFIED:
        missed, extra = compare(copy, tool)
        if missed or extra:
            raise RuntimeError(
                f"{tool} does not report exactly the planted violations: missed {missed}, "
                f"reported besides {extra}."
            )
        _VERIFIED.add(tool)
    return root


_VERIFIED: set[str] = set()


def _remove_cache(namespace: Namespace) -> None:
    shutil.rmtree(namespace["cache"], ignore_errors=True)


_GROUP = "check 2,051 files, 50 modules"
_AURA_COLD = "aura check (cold: .aura_cache removed)"
_AURA_WARM = "aura check (warm: .aura_cache present)"
_TACH = "tach check"
_LINT_COLD = "lint-imports (cold: .import_linter_cache removed)"
_LINT_WARM = "lint-imports (warm: .import_linter_cache present)"
_INPROCESS_COLD = "check_boundaries in process (cold)"
_INPROCESS_WARM = "check_boundaries in process (warm)"
_SELECT = "select tests for one changed domain file"
_SELECT_COLD = "select_tests in process (cold)"
_SELECT_WARM = "select_tests in process (warm)"
CHANGED = f"{PACKAGE}/m30/domain/model_2.py"
"""The change the selection is decided for: a domain file of a module others depend on."""


def _command_case(name: str, tool: str, command: list[str], *, warm: bool) -> Case:
    """A checker run as a subprocess in a tree of its own; cold: its cache removed after each
    round (untimed), so each round starts without it; warm: the cache made before the rounds."""
    cache = CACHES[tool]

    def setup() -> Namespace:
        root = tree(tool, f"{tool}-{'warm' if warm else 'cold'}")
        if warm:
            _run(command, root)
        return {"run": _run, "command": command, "root": root, "cache": root / (cache or "-")}

    reset = _remove_cache if cache is not None and not warm else None
    return Case(_GROUP, name, "run(command, root)", setup, reset=reset)


def _check_inprocess(root: Path) -> object:
    return check_boundaries(load_module_map(load_config(root)))


def _select_inprocess(root: Path) -> object:
    return select_tests(load_module_map(load_config(root)), [root / CHANGED], [root / "tests"])


def _inprocess_case(group: str, name: str, run: Callable[[Path], object], *, warm: bool) -> Case:
    """The module map loaded and ``run`` on it, in this process (no start-up, no imports)."""

    def setup() -> Namespace:
        root = tree("aura", f"aura-{'warm' if warm else 'cold'}")
        if warm:
            run(root)
        return {"run": run, "root": root, "cache": root / ".aura_cache"}

    return Case(group, name, "run(root)", setup, reset=None if warm else _remove_cache)


def _key(name: str, group: str = _GROUP) -> str:
    return f"{group} / {name}"


AREA = Area(
    name="boundaries",
    title="Module boundaries: aura check, tach check and lint-imports on a 50-module monolith",
    cases=(
        _command_case(_AURA_COLD, "aura", AURA_CHECK, warm=False),
        _command_case(_AURA_WARM, "aura", AURA_CHECK, warm=True),
        _command_case(_TACH, "tach", TACH_CHECK, warm=False),
        _command_case(_LINT_COLD, "lint-imports", LINT_IMPORTS, warm=False),
        _command_case(_LINT_WARM, "lint-imports", LINT_IMPORTS, warm=True),
        _inprocess_case(_GROUP, _INPROCESS_COLD, _check_inprocess, warm=False),
        _inprocess_case(_GROUP, _INPROCESS_WARM, _check_inprocess, warm=True),
        _inprocess_case(_SELECT, _SELECT_COLD, _select_inprocess, warm=False),
        _inprocess_case(_SELECT, _SELECT_WARM, _select_inprocess, warm=True),
    ),
    targets=(
        Target(_key(_AURA_COLD), "≤ 1.0x tach check", 1.0, _key(_TACH), _key(_INPROCESS_COLD)),
        Target(_key(_AURA_WARM), "≤ 1.0x tach check", 1.0, _key(_TACH), _key(_INPROCESS_WARM)),
        Target(
            _key(_AURA_COLD),
            "≤ 1.0x lint-imports, cold",
            1.0,
            _key(_LINT_COLD),
            _key(_INPROCESS_COLD),
        ),
        Target(
            _key(_AURA_WARM),
            "≤ 1.0x lint-imports, warm",
            1.0,
            _key(_LINT_WARM),
            _key(_INPROCESS_WARM),
        ),
        Target(_key(_SELECT_COLD, _SELECT), "≤ 0.5 s", 0.5e9),
        Target(_key(_SELECT_WARM, _SELECT), "≤ 0.5 s", 0.5e9),
    ),
    notes=(
        "The tree: benchmarks/boundaries.py generate() (seed 17): package app, modules m00-m49, "
        "each api > application | infrastructure > domain with 9 files and an __init__.py per "
        "layer (2,051 files, 94,000 lines) and 2 test files under tests/; each module depends "
        "on up to 4 of the 12 after it and imports their api; 4 planted violations (an "
        "undeclared dependency, an internal import, a layer upward, independent siblings). "
        "Before the rounds, each tool is run once without cache and must report exactly the "
        "4 planted lines.",
        "The same rules three ways: [tool.aura.boundaries] (50 modules, interface = "
        '["api"], the layers once); tach.toml (one tach module per layer of each module, 200, '
        "its depends_on the lower layers of its own module and the api of its module's "
        "dependencies: tach has no layers inside a module); .importlinter (per module a "
        "forbidden contract on the modules it does not declare and one on the non-api "
        "sub-packages of those it does, allow_indirect_imports = true, and one layers "
        "contract with the 50 modules as containers: 93 contracts).",
        "Each command runs as a subprocess in a copy of the tree holding only its tool's "
        "configuration, one for a tool's cold cases and one for its warm ones (interpreter "
        "start-up and imports included); cold removes the "
        "tool's cache after every round, untimed. tach 0.35.3 keeps no cache for `tach "
        "check`. In process: the map loaded and checked, or the tests selected for a change "
        f"of {CHANGED} (select_tests, as pytest --aura-changed decides once it has the "
        "changed files), without start-up; warm: .aura_cache present.",
    ),
    packages=("aura", "tach", "import-linter", "grimp"),
)
