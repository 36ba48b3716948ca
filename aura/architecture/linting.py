"""Run a project's import-linter contracts in-process: one graph, one check per contract.

``lint-imports`` builds the graph and checks every contract; the pytest plugin wants one test per
contract and ``aura check`` wants data, so :class:`ImportContracts` reads the configuration once,
builds the graph on first use, and checks contracts one at a time on a copy of it (contracts may
mutate their graph, as in ``lint-imports``). Each :class:`ContractResult` carries import-linter's
own report of a broken contract, made deterministic (its chains sorted), and the violations as
data: one :class:`~aura.findings.Finding` per chain.

Only import-linter's public API is used: :func:`importlinter.api.read_configuration`, the contract
classes under :mod:`importlinter.contracts`, and the ``Contract`` interface (``check()`` and
``render_broken_contract()``, which prints through :mod:`importlinter.output`).
"""

from __future__ import annotations

import configparser
import copy
import dataclasses
import importlib
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grimp
from importlinter import Contract, ContractCheck, api, output
from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.independence import IndependenceContract
from importlinter.contracts.layers import LayersContract
from importlinter.contracts.private_modules import PrivateModulesContract
from importlinter.contracts.protected import ProtectedContract
from importlinter.domain.contract import InvalidContractOptions
from rich.console import Console

from aura.exceptions import ConfigurationError
from aura.findings import Finding

__all__ = [
    "BUILT_IN_TYPES",
    "CONFIG_FILENAMES",
    "ContractResult",
    "ContractSpec",
    "ImportContracts",
    "find_config",
]

CONFIG_FILENAMES = ("setup.cfg", ".importlinter", "pyproject.toml")
"""Where import-linter looks for its configuration, in its own order."""

BUILT_IN_TYPES: Mapping[str, type[Contract]] = {
    "acyclic_siblings": AcyclicSiblingsContract,
    "forbidden": ForbiddenContract,
    "independence": IndependenceContract,
    "layers": LayersContract,
    "private_modules": PrivateModulesContract,
    "protected": ProtectedContract,
}
"""import-linter's own contract types, by the names its configuration gives them."""


@dataclasses.dataclass(frozen=True)
class ContractSpec:
    """A contract as configured: its id (the section name), its name and its type."""

    id: str
    name: str
    type: str


@dataclasses.dataclass(frozen=True)
class ContractResult:
    """The outcome of checking one contract."""

    contract: ContractSpec
    kept: bool
    report: str
    """import-linter's own rendering of the broken contract (empty when kept)."""
    violations: tuple[Finding, ...]
    """How the contract is broken, as data: one finding per chain (or per Aura rule broken)."""
    warnings: tuple[str, ...] = ()


def find_config(directory: Path) -> Path | None:
    """Return the first file in ``directory`` with an import-linter configuration, or None."""
    for name in CONFIG_FILENAMES:
        candidate = directory / name
        if candidate.is_file():
            try:
                api.read_configuration(str(candidate))
            except FileNotFoundError:  # the file exists but holds no [importlinter] section
                continue
            except (OSError, UnicodeDecodeError, ValueError, configparser.Error):
                return candidate  # unreadable: ImportContracts says why, naming the file
            return candidate
    return None


class ImportContracts:
    """The import-linter contracts of one configuration file, checked on one graph."""

    def __init__(self, config: Path) -> None:
        self.config = config
        try:
            options = api.read_configuration(str(config))
        except FileNotFoundError:
            raise ConfigurationError(
                f"No import-linter configuration in {config}: expected an [importlinter] "
                "section (or [tool.importlinter] in pyproject.toml). Add one, or point to the "
                "file that has it."
            ) from None
        except (OSError, UnicodeDecodeError, ValueError, configparser.Error) as error:
            # tomllib's errors are ValueErrors; a folder is an OSError.
            reason = " ".join(str(error).split()) or type(error).__name__
            raise ConfigurationError(
                f"Cannot read {config} as an import-linter configuration ({type(error).__name__}: "
                f"{reason}). Fix it, or pass --config with an INI file that has an "
                "[importlinter] section (setup.cfg, .importlinter) or a pyproject.toml with "
                "[tool.importlinter]."
            ) from None
        self._session: dict[str, Any] = options["session_options"]
        self._contracts: list[dict[str, Any]] = options["contracts_options"]
        self._types = _contract_types(self._session, config)
        self.contracts = tuple(
            ContractSpec(_contract_id(options), options["name"], options["type"])
            for options in self._contracts
        )
        self._graph: grimp.ImportGraph | None = None

    @property
    def graph(self) -> grimp.ImportGraph:
        """The import graph of the root packages, built on first use and then kept."""
        if self._graph is None:
            session = self._session
            roots = session["root_packages"]
            self._graph = grimp.build_graph(
                *([roots] if isinstance(roots, str) else roots),  # one line in INI is a string
                include_external_packages=_flag(session, "include_external_packages"),
                exclude_type_checking_imports=_flag(session, "exclude_type_checking_imports"),
                cache_dir=None,  # one build per process; no cache files shared between workers
            )
        return self._graph

    def check(self, contract_id: str, *, graph: grimp.ImportGraph | None = None) -> ContractResult:
        """Check one contract (by id) against a copy of the graph, or of ``graph`` if given.

        Passing a graph with a planted import shows that a contract can fail, without touching
        the source.
        """
        spec = next((spec for spec in self.contracts if spec.id == contract_id), None)
        if spec is None:
            known = ", ".join(spec.id for spec in self.contracts)
            raise ConfigurationError(
                f"No contract {contract_id!r} in {self.config}. Its contracts: {known}."
            )
        contract = self._build(spec)
        try:
            check = contract.check(
                copy.deepcopy(graph if graph is not None else self.graph), verbose=False
            )
        except Exception as error:  # a contract that cannot run: misconfigured, or buggy
            plain = getattr(error, "plain", None)  # a module map error, unescaped (see MapError)
            kind = "ConfigurationError" if plain is not None else type(error).__name__
            raise ConfigurationError(
                f"Contract {spec.name!r} ({spec.id}) in {self.config} could not be checked: "
                f"{kind}: {plain if plain is not None else error}"
            ) from error
        _sort_chains(check.metadata)
        if check.kept:
            return ContractResult(spec, True, "", (), tuple(check.warnings))
        source = f"import contract {spec.id}"
        violations = {
            dataclasses.replace(violation, source=source)
            for violation in _violations(check.metadata)
        }
        return ContractResult(
            spec,
            False,
            _rendered(contract, check),
            tuple(sorted(violations)) or (Finding(source=source, key=spec.id, message=spec.name),),
            tuple(check.warnings),
        )

    def check_all(self) -> list[ContractResult]:
        """Check every contract, in configuration order."""
        return [self.check(spec.id) for spec in self.contracts]

    def _build(self, spec: ContractSpec) -> Contract:
        options = next(options for options in self._contracts if _contract_id(options) == spec.id)
        contract_class = self._types.get(spec.type)
        if contract_class is None:
            raise ConfigurationError(
                f"Contract {spec.name!r} in {self.config} has the unknown type {spec.type!r}. "
                f"Known types: {', '.join(sorted(self._types))}; register others with "
                "contract_types in the [importlinter] section."
            )
        try:
            return contract_class(
                name=spec.name,
                session_options=self._session,
                contract_options=options,
            )
        except InvalidContractOptions as error:
            problems = "; ".join(f"{field}: {message}" for field, message in error.errors.items())
            raise ConfigurationError(
                f"Contract {spec.name!r} in {self.config} is not configured correctly: {problems}"
            ) from None


def _contract_id(options: Mapping[str, Any]) -> str:
    """The contract's id: its section name in INI, its ``id`` (or else its name) in TOML."""
    return str(options.get("id", options["name"]))


def _contract_types(session: Mapping[str, Any], config: Path) -> dict[str, type[Contract]]:
    """The contract types by name: import-linter's own, then those ``contract_types`` registers.

    ``contract_types`` lines read ``name: package.module.ContractClass``, as for ``lint-imports``.
    """
    types = dict(BUILT_IN_TYPES)
    registered = session.get("contract_types", [])
    for line in [registered] if isinstance(registered, str) else registered:  # one line: a string
        name, _, dotted = (part.strip() for part in str(line).partition(":"))
        module_name, _, class_name = dotted.rpartition(".")
        try:
            found = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError, ValueError) as error:
            raise ConfigurationError(
                f"contract_types in {config} registers {name!r} as {dotted!r}, which cannot be "
                f"imported ({type(error).__name__}: {error}). Write `name: package.module.Class`."
            ) from None
        if not (isinstance(found, type) and issubclass(found, Contract)):
            raise ConfigurationError(
                f"contract_types in {config} registers {name!r} as {dotted!r}, which is not a "
                "subclass of importlinter.Contract."
            )
        types[name] = found
    return types


def _flag(session: Mapping[str, Any], name: str) -> bool:
    return str(session.get(name, "false")).lower() == "true"


# --- deterministic reports -----------------------------------------------------------------------


def _sort_key(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _sort_chains(metadata: dict[str, Any]) -> None:
    """Sort the chains in place: import-linter lists some of them in set order."""
    for key in ("invalid_dependencies", "invalid_chains"):
        if key not in metadata:
            continue
        for item in metadata[key]:
            for nested in ("routes", "chains"):
                if nested in item:
                    item[nested] = sorted(item[nested], key=_sort_key)
        metadata[key] = sorted(metadata[key], key=_sort_key)


@contextmanager
def _captured_output() -> Iterator[io.StringIO]:
    """Capture what import-linter prints, as plain text without colours or line wrapping."""
    buffer = io.StringIO()
    # import-linter prints through one module-level rich Console; a plain one in its place gives
    # the report as text, the same on every terminal.
    original = output.console
    output.console = Console(
        file=buffer, color_system=None, highlight=False, soft_wrap=True, width=1000
    )
    try:
        yield buffer
    finally:
        output.console = original


def _rendered(contract: Contract, check: ContractCheck) -> str:
    with _captured_output() as buffer:
        contract.render_broken_contract(check)
    lines = [line.rstrip() for line in buffer.getvalue().splitlines()]
    return "\n".join(lines).strip("\n")


# --- violations as data --------------------------------------------------------------------------


def _violations(metadata: Mapping[str, Any]) -> Iterator[Finding]:
    for finding in metadata.get("findings", ()):  # Aura's own contract types
        if isinstance(finding, Finding):
            yield finding
    for dependency in metadata.get("invalid_dependencies", ()):  # layers
        for route in dependency["routes"]:
            yield _chain_violation(route["chain"])
    for module in metadata.get("undeclared_modules", ()):  # exhaustive layers
        yield Finding(key=f"{module} unlisted", message=f"{module} is not listed as a layer")
    for chains in metadata.get("invalid_chains", ()):  # forbidden, independence
        for chain in chains["chains"]:
            yield _chain_violation(chain["chain"] if isinstance(chain, Mapping) else chain)
    for illegal in metadata.get("illegal_imports", ()):  # private_modules, protected
        for link in getattr(illegal, "illegal_links", [illegal]):
            yield _chain_violation([link])


def _chain_violation(chain: Sequence[Mapping[str, Any]]) -> Finding:
    modules = [chain[0]["importer"], *(link["imported"] for link in chain)]
    steps = [chain[0]["importer"]]
    for link in chain:
        lines = ", ".join("l.?" if n is None else f"l.{n}" for n in link["line_numbers"])
        steps.append(f"{link['imported']} ({lines})")
    return Finding(key=" -> ".join(modules), message=" -> ".join(steps))
