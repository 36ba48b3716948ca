"""``ModuleDependencyContract``: an import-linter contract type for coupling imports can't show.

Modules reach each other through strings: ``get_service("users", "UserService")``,
``resolve("user_service")`` (a container lookup of another module's service) and
``subscribe("user.deactivated")``. This contract reads each module's declaration (the ``module``
object of each package under ``modules``), scans the module's source files for those strings
(:mod:`aura.architecture.scanning`), and breaks when (the rules are
:func:`aura.architecture.rules.check_declarations`):

- a module looks up a service of a module it does not declare in ``depends_on`` (or of no
  module at all);
- a module subscribes to an event type that no module declares with ``publishes(...)``;
- service dependencies form a cycle (declared ones and looked-up ones together).

One contract checks every module in one pass over one graph. Register and use it::

    [importlinter]
    contract_types =
        module_dependencies: aura.architecture.contracts.ModuleDependencyContract

    [importlinter:contract:module-dependencies]
    name = modules look up only the services they declare
    type = module_dependencies
    modules = shop_app.modules

``modules`` may be left out: the contract then reads ``modules`` from ``[tool.aura]`` of the
``pyproject.toml`` where ``lint-imports`` runs. A package with no declared module breaks the
contract's check with an error instead of passing it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

import grimp
from importlinter import Contract, ContractCheck, fields, output
from rich.markup import escape

from aura.architecture.rules import check_declarations
from aura.architecture.scanning import references_in_file
from aura.config import load_config
from aura.exceptions import ConfigurationError
from aura.findings import Finding, render_lines
from aura.module import Module

__all__ = ["ModuleDependencyContract"]

_SECTIONS = (
    ("Service lookups of undeclared modules", ("undeclared-dependency", "unknown-module")),
    ("Subscriptions to events no module publishes", ("event-without-publisher",)),
    ("Cycles of service dependencies", ("dependency-cycle",)),
)


class ModuleDependencyContract(Contract):
    """Modules look up only services of modules they declare and subscribe to declared events."""

    type_name = "module_dependencies"

    modules = fields.StringField(required=False)
    """The package whose subpackages are the modules (default: ``modules`` in ``[tool.aura]``)."""

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        """Check every module of the package in one pass; the graph is only read."""
        given = str(self.modules) if self.modules is not None else None
        setting = load_config().modules_setting(
            given,
            flag="the contract's `modules`",
            override="set `modules = PACKAGE` in the contract",
        )
        package = setting.package
        if package not in graph.modules:
            raise ConfigurationError(
                f"The modules package {package!r} (from {setting.origin}) is not in the import "
                "graph: name a package inside one of root_packages, or add its root package to "
                "root_packages."
            )
        declared = _declared_modules(graph, package)
        if not declared:
            raise ConfigurationError(
                f"The modules package {package!r} (from {setting.origin}) holds no module: none "
                "of its subpackages declares `module = Module(...)`, so there is nothing to "
                "check. Declare one in each module's __init__.py, or point `modules` at the "
                "package that holds them."
            )
        output.verbose_print(verbose, f"Scanning {len(declared)} modules of {package}...")
        references = {
            module.name: [
                reference
                for path in _source_files(graph, package_name)
                for reference in references_in_file(path)
            ]
            for package_name, module in declared.items()
        }
        findings = check_declarations(list(declared.values()), references)
        return ContractCheck(kept=not findings, metadata={"findings": findings})

    def render_broken_contract(self, check: ContractCheck) -> None:
        """Print the findings grouped by rule, each with its place and its fix."""
        findings: Sequence[Finding] = check.metadata["findings"]
        for title, rules in _SECTIONS:
            selected = [finding for finding in findings if finding.rule in rules]
            if not selected:
                continue
            output.print(f"{title}:")
            output.new_line()
            for line in render_lines(selected):
                if line.startswith("- "):  # the finding itself; its fix follows, indented
                    output.print_error(escape(line), bold=False)
                else:
                    output.print(escape(line))
            output.new_line()


def _declared_modules(graph: grimp.ImportGraph, package: str) -> dict[str, Module]:
    """Import each subpackage of ``package`` and return its ``module`` declaration, by package."""
    declared: dict[str, Module] = {}
    for child in sorted(graph.find_children(package)):
        try:
            imported = importlib.import_module(child)
        except Exception as error:  # the package's own code failed: say which and why
            raise ValueError(
                f"Cannot import {child} to read its module declaration: "
                f"{type(error).__name__}: {error}"
            ) from error
        declaration = getattr(imported, "module", None)
        if isinstance(declaration, Module):
            declared[child] = declaration
    return declared


def _source_files(graph: grimp.ImportGraph, package: str) -> list[Path]:
    """The files of ``package`` and of every module under it, as the graph knows them."""
    root = Path(next(iter(sys.modules[package].__path__)))
    files = []
    for name in sorted({package, *graph.find_descendants(package)}):
        relative = Path(*name.split(".")[package.count(".") + 1 :])
        for candidate in (root / relative / "__init__.py", root / f"{relative}.py"):
            if candidate.is_file():
                files.append(candidate)
                break
    return files
