"""``ModuleDependencyContract``: the module map's boundary checks as an import-linter contract.

The contract builds the project's module map (:func:`~aura.architecture.modulemap.load_module_map`:
``[tool.aura.boundaries]`` of ``pyproject.toml`` and the ``Module(...)`` declarations, read from the
source) and runs :func:`~aura.architecture.boundaries.check_boundaries` on it, the same checks as
``aura check``: a module uses (imports, looks up, couples to by string) only the modules it
declares, and only their published interface; layers inside modules; no cycles between modules;
subscriptions to published events; every file parsed. Nothing of the project is imported.

Register and use it::

    [importlinter]
    contract_types =
        module_dependencies: aura.architecture.contracts.ModuleDependencyContract

    [importlinter:contract:module-dependencies]
    name = modules use only what they declare
    type = module_dependencies
    modules = shop_app.modules

``modules`` may be left out: it names the package whose subpackages declare ``Module(...)``, and
defaults to ``modules`` in ``[tool.aura]`` of the ``pyproject.toml`` where ``lint-imports`` runs
(the modules of ``[tool.aura.boundaries]`` need neither). A map with no module is an error, never a
contract kept vacuously.
"""

from __future__ import annotations

from collections.abc import Sequence

import grimp
from importlinter import Contract, ContractCheck, fields, output
from rich.markup import escape

from aura.architecture.boundaries import check_boundaries
from aura.architecture.modulemap import load_module_map
from aura.architecture.report import RULES
from aura.config import load_config
from aura.exceptions import ConfigurationError
from aura.findings import Finding, count, render_line

__all__ = ["MapError", "ModuleDependencyContract"]


class MapError(ConfigurationError):
    """A module map that cannot be loaded, raised from the contract's check.

    ``lint-imports`` prints an exception's text as rich markup, which would eat every
    ``[tool.aura.boundaries...]`` in it: its text is escaped, and :attr:`plain` keeps the message
    for readers that print text (``aura.architecture.linting``).
    """

    @property
    def plain(self) -> str:
        """The message as written."""
        return super().__str__()

    def __str__(self) -> str:
        return escape(self.plain)


class ModuleDependencyContract(Contract):
    """Modules use only the modules they declare, through their published API, in layers.

    The contract ignores grimp's graph and reads the module map's own scan of the source: the
    graph holds neither the folders without ``__init__.py`` (namespace packages, part of their
    module all the same) nor the couplings made by strings (``get_service("users", ...)``,
    ``apps.get_model("billing.Invoice")``), and it would not say which file cannot be parsed.
    """

    type_name = "module_dependencies"

    modules = fields.StringField(required=False)
    """The package whose subpackages declare ``Module(...)`` (default: ``modules`` in
    ``[tool.aura]``)."""

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        """Check every module of the map in one pass; ``graph`` is not read."""
        declarations = str(self.modules) if self.modules is not None else None
        try:
            module_map = load_module_map(load_config(), declarations=declarations)
        except ConfigurationError as error:
            raise MapError(str(error)) from None
        report = check_boundaries(module_map)
        output.verbose_print(
            verbose,
            f"Checked {count(report.modules, 'module')} ({count(report.files, 'file')}) of the "
            "module map.",
        )
        return ContractCheck(kept=not report.findings, metadata={"findings": report.findings})

    def render_broken_contract(self, check: ContractCheck) -> None:
        """Print the findings grouped by rule, under its title: one line each."""
        findings: Sequence[Finding] = check.metadata["findings"]
        order = list(RULES)
        rules = sorted(
            {finding.rule for finding in findings},
            key=lambda rule: (order.index(rule) if rule in RULES else len(order), rule),
        )
        for rule in rules:
            output.print(f"{RULES[rule].title if rule in RULES else rule}:")
            output.new_line()
            for finding in findings:
                if finding.rule == rule:
                    output.print_error(escape(render_line(finding)), bold=False)
            output.new_line()
