"""The import-linter contracts as pytest items: one test per contract, marked ``architecture``.

Turn it on with ``--aura-architecture`` or ``aura_architecture = true`` in the ini file. The
contracts come from the first import-linter configuration in the rootdir (``setup.cfg``,
``.importlinter``, ``pyproject.toml``), or from ``aura_importlinter_config``. Each item is named
by its contract and fails with import-linter's own report of the broken contract; the import
graph is built once per session. Select them with ``pytest -m architecture`` or ``-k``.

Registered through the ``pytest11`` entry point; it changes nothing until it is turned on, and
imports import-linter only then.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aura.exceptions import ConfigurationError

if TYPE_CHECKING:
    from aura.architecture.linting import ImportContracts

__all__ = ["ContractItem", "ContractsFile", "ImportContractBroken"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare ``--aura-architecture`` and its ini settings."""
    group = parser.getgroup("aura-architecture", "Aura architecture contracts")
    group.addoption(
        "--aura-architecture",
        action="store_true",
        default=False,
        help="check each import-linter contract as a test (marked 'architecture')",
    )
    parser.addini("aura_architecture", "check each import-linter contract as a test", type="bool")
    parser.addini(
        "aura_importlinter_config",
        "import-linter configuration file, relative to the rootdir (default: the first of "
        "setup.cfg, .importlinter and pyproject.toml that has one)",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``architecture`` marker."""
    config.addinivalue_line(
        "markers", "architecture: an import-linter contract checked as a test (--aura-architecture)"
    )


@pytest.hookimpl(tryfirst=True)  # before -m and -k deselect, so that they select these items
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Add one item per import-linter contract when turned on."""
    if not (config.getoption("aura_architecture") or config.getini("aura_architecture")):
        return
    try:
        from aura.architecture.linting import ImportContracts
    except ImportError:
        raise pytest.UsageError(
            "--aura-architecture checks import-linter contracts, but import-linter is not "
            "installed. Install Aura's architecture extra: pip install "
            "'aura-modulith[architecture]'"
        ) from None

    path = _config_path(config)
    try:
        contracts = ImportContracts(path)  # shared by the items: one graph for the session
    except ConfigurationError as error:
        raise pytest.UsageError(str(error)) from None
    parent = ContractsFile.from_parent(session, path=path)
    added = [
        ContractItem.from_parent(parent, name=spec.name, contract_id=spec.id, contracts=contracts)
        for spec in contracts.contracts
    ]
    # Reported like any collection, so that "collected N items" counts them.
    session.ihook.pytest_collectreport(
        report=pytest.CollectReport(parent.nodeid, "passed", None, list(added))
    )
    items.extend(added)


def _config_path(config: pytest.Config) -> Path:
    from aura.architecture.linting import CONFIG_FILENAMES, find_config

    configured = str(config.getini("aura_importlinter_config"))
    if configured:
        path = config.rootpath / configured
        if not path.is_file():
            raise pytest.UsageError(
                f"aura_importlinter_config is {configured!r}, but {path} does not exist. "
                "Give a path relative to the rootdir."
            )
        return path
    found = find_config(config.rootpath)
    if found is None:
        raise pytest.UsageError(
            f"--aura-architecture needs an import-linter configuration, but none of "
            f"{', '.join(CONFIG_FILENAMES)} in {config.rootpath} has one. Add an [importlinter] "
            "section, or set aura_importlinter_config."
        )
    return found


class ContractsFile(pytest.File):
    """The import-linter configuration file, parent of the contract items."""

    def collect(self) -> list[pytest.Item]:
        """Nothing to collect on its own: the plugin adds the items after collection."""
        return []


class ImportContractBroken(AssertionError):
    """A contract is broken; the message is import-linter's report."""


class ContractItem(pytest.Item):
    """One import-linter contract, checked as a test."""

    def __init__(self, *, contract_id: str, contracts: ImportContracts, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.contract_id = contract_id
        self.contracts = contracts
        self.add_marker("architecture")

    def runtest(self) -> None:
        """Check the contract on the session's graph; fail with import-linter's report."""
        result = self.contracts.check(self.contract_id)
        if not result.kept:
            raise ImportContractBroken(
                f"Broken import contract {result.contract.name!r} ({result.contract.id}):\n\n"
                f"{result.report}"
            )

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        """Show the report itself, not a traceback through the plugin."""
        if isinstance(excinfo.value, ImportContractBroken | ConfigurationError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Name the item after its contract in reports."""
        return self.path, None, f"import-linter contract: {self.name}"
