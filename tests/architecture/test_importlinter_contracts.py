"""Every contract of ``.importlinter`` can fail, and says exactly where.

Each import-linter contract is checked against a copy of the real import graph with one planted
import (and, where needed, one planted module), and must report the planted chain exactly. Aura's
own contract type reads source files rather than the graph: it is planted in a pytester project
in ``test_module_dependency_contract.py``. A contract added to ``.importlinter`` without a case
here fails ``test_every_contract_has_a_planted_violation``.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import grimp
import pytest

from aura.architecture.linting import ImportContracts
from aura.findings import Finding

CONFIG = Path(__file__).resolve().parents[2] / ".importlinter"
PROVED_ELSEWHERE = {"module-dependencies": "test_module_dependency_contract.py"}


@dataclasses.dataclass(frozen=True)
class Plant:
    imports: tuple[tuple[str, str, int], ...]
    report: str
    modules: tuple[str, ...] = ()


EXHAUSTIVE_NOTE = (
    "(Since this contract is marked as 'exhaustive', every child of every container must be "
    "declared as a layer.)"
)

PLANTS = {
    "aura-is-standalone": Plant(
        (("aura.registry", "contracts.users", 12),),
        "aura is not allowed to import contracts:\n\n-   aura.registry -> contracts.users (l.12)",
    ),
    "contracts-below-modules": Plant(
        (("contracts.users", "modules.users.domain", 7),),
        "contracts is not allowed to import modules:\n\n"
        "-   contracts.users -> modules.users.domain (l.7)",
    ),
    "modules-below-app": Plant(
        (("modules.billing.application", "app.demo", 9),),
        "modules is not allowed to import app:\n\n"
        "-   modules.billing.application -> app.demo (l.9)",
    ),
    "platform-layers": Plant(
        (("contracts.events", "modules.users", 5),),
        "contracts is not allowed to import modules:\n\n- contracts.events -> modules.users (l.5)",
    ),
    "modules-independent": Plant(
        (("modules.billing.application", "modules.users.domain", 14),),
        "modules.billing is not allowed to import modules.users:\n\n"
        "- modules.billing.application -> modules.users.domain (l.14)",
    ),
    "module-layers": Plant(
        (("modules.billing.domain", "modules.billing.application", 11),),
        "modules.billing.domain is not allowed to import modules.billing.application:\n\n"
        "- modules.billing.domain -> modules.billing.application (l.11)\n\n\n"
        "The following modules are not listed as layers:\n\n"
        f"- modules.users.utils\n\n{EXHAUSTIVE_NOTE}",
        modules=("modules.users.utils",),
    ),
    "module-infrastructure-wired-by-init": Plant(
        (("modules.billing.handlers", "modules.billing.infrastructure", 9),),
        "Illegal imports of protected package modules.billing.infrastructure\n"
        "(via modules.*.infrastructure expression):\n\n"
        "- modules.billing.handlers -> modules.billing.infrastructure (l.9)",
    ),
    "aura-layers": Plant(
        (("aura.bus", "aura.testing.plugin", 3),),
        "aura.bus is not allowed to import aura.testing:\n\n"
        "- aura.bus -> aura.testing.plugin (l.3)\n\n\n"
        "The following modules are not listed as layers:\n\n"
        f"- aura.secrets\n\n{EXHAUSTIVE_NOTE}",
        modules=("aura.secrets",),
    ),
    "private-modules": Plant(
        (("aura.bus", "aura.registry._cache", 9),),
        "Private modules may only be imported from within their parent package:\n\n"
        "- aura.bus -> aura.registry._cache (l.9)",
        modules=("aura.registry._cache",),
    ),
}


@pytest.fixture(scope="module")
def contracts() -> ImportContracts:
    return ImportContracts(CONFIG)


def planted(contracts: ImportContracts, plant: Plant) -> grimp.ImportGraph:
    graph = copy.deepcopy(contracts.graph)
    for module in plant.modules:
        graph.add_module(module)
    for importer, imported, line in plant.imports:
        graph.add_import(
            importer=importer, imported=imported, line_number=line, line_contents="import it"
        )
    return graph


def test_every_contract_has_a_planted_violation(contracts: ImportContracts) -> None:
    configured = {spec.id for spec in contracts.contracts}
    assert configured == set(PLANTS) | set(PROVED_ELSEWHERE)


def test_the_code_base_keeps_every_contract(contracts: ImportContracts) -> None:
    broken = {result.contract.id: result.report for result in contracts.check_all()}
    assert {id_: report for id_, report in broken.items() if report} == {}


@pytest.mark.parametrize("contract_id", sorted(PLANTS))
def test_a_planted_violation_breaks_the_contract_with_its_chain(
    contracts: ImportContracts, contract_id: str
) -> None:
    plant = PLANTS[contract_id]
    result = contracts.check(contract_id, graph=planted(contracts, plant))
    assert not result.kept
    assert result.report == plant.report


def test_violations_are_data_one_per_chain_without_line_numbers_in_their_key(
    contracts: ImportContracts,
) -> None:
    result = contracts.check("aura-layers", graph=planted(contracts, PLANTS["aura-layers"]))
    source = "import contract aura-layers"
    assert result.violations == (
        Finding(
            source=source,
            key="aura.bus -> aura.testing.plugin",
            message="aura.bus -> aura.testing.plugin (l.3)",
        ),
        Finding(
            source=source,
            key="aura.secrets unlisted",
            message="aura.secrets is not listed as a layer",
        ),
    )


def test_indirect_chains_are_reported_whole_and_in_a_stable_order(
    contracts: ImportContracts,
) -> None:
    # import-linter lists an independence contract's chains in set order; they come sorted.
    plant = Plant(
        (
            ("modules.notifications.domain", "contracts.shared", 8),
            ("modules.billing.domain", "contracts.shared", 4),
            ("contracts.shared", "modules.users.domain", 2),
        ),
        "",
        modules=("contracts.shared",),
    )
    result = contracts.check("modules-independent", graph=planted(contracts, plant))
    assert result.report == (
        "modules.billing is not allowed to import modules.users:\n\n"
        "- modules.billing.domain -> contracts.shared (l.4)\n"
        "  contracts.shared -> modules.users.domain (l.2)\n\n\n"
        "modules.notifications is not allowed to import modules.users:\n\n"
        "- modules.notifications.domain -> contracts.shared (l.8)\n"
        "  contracts.shared -> modules.users.domain (l.2)"
    )
    assert [violation.message for violation in result.violations] == [
        "modules.billing.domain -> contracts.shared (l.4) -> modules.users.domain (l.2)",
        "modules.notifications.domain -> contracts.shared (l.8) -> modules.users.domain (l.2)",
    ]


def test_the_graph_is_built_once_and_each_check_gets_a_copy(contracts: ImportContracts) -> None:
    graph = contracts.graph
    contracts.check("aura-layers", graph=planted(contracts, PLANTS["aura-layers"]))
    assert contracts.check("aura-layers").kept
    assert contracts.graph is graph
    assert "aura.secrets" not in graph.modules  # the planted module stayed in its copy
