"""The architecture in pytest: import-linter contracts as tests, and test selection by module.

``--aura-architecture`` (or ``aura_architecture = true`` in the ini file) adds one test per
import-linter contract, marked ``architecture``. The contracts come from the first import-linter
configuration in the rootdir (``setup.cfg``, ``.importlinter``, ``pyproject.toml``), or from
``aura_importlinter_config``. Each item is named by its contract and fails with import-linter's
own report of the broken contract; the import graph is built once per session. Select them with
``pytest -m architecture`` or ``-k``.

``--aura-changed[=REF]`` runs only the test files that the changes since REF can affect, module
by module (:mod:`aura.architecture.selection`): the test files left out are not even imported.
The report at the start says what changed and why each test file runs; with ``-q``, one line.
The module map comes from the nearest ``pyproject.toml`` in the rootdir or a folder above it, up
to the top of the git repository (as ``aura check`` finds it, but never outside the repository
whose changes are compared), so that an ini file in a subfolder (``tests/pytest.ini``) still
finds the project's map.

Registered through the ``pytest11`` entry point; it changes nothing until it is turned on, and
imports import-linter only then.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aura.exceptions import ConfigurationError

if TYPE_CHECKING:
    from aura.architecture.linting import ImportContracts
    from aura.architecture.modulemap import ModuleMap
    from aura.architecture.selection import Changes, Selection

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
    group.addoption(
        "--aura-changed",
        action="store",
        nargs="?",
        const="",
        default=None,
        metavar="REF",
        help="run only the test files that the changes since REF can affect, by module "
        "(default REF: the main branch; compared from its merge base with HEAD, uncommitted "
        "and untracked files included)",
    )
    parser.addini("aura_architecture", "check each import-linter contract as a test", type="bool")
    parser.addini(
        "aura_importlinter_config",
        "import-linter configuration file, relative to the rootdir (default: the first of "
        "setup.cfg, .importlinter and pyproject.toml that has one)",
        default="",
    )
    parser.addini(
        "aura_changed",
        "run only the test files that the changes since this REF can affect, by module (empty: "
        "every test file; --aura-changed alone compares with the main branch)",
        default="",
    )
    parser.addini(
        "aura_changed_ignore",
        "globs of the changed files that select no test when tests are selected by change "
        "(relative to the project root, the folder of the pyproject.toml holding the module "
        "map, as the report shows the files; one a line: docs/*, *.md)",
        type="linelist",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``architecture`` marker."""
    config.addinivalue_line(
        "markers", "architecture: an import-linter contract checked as a test (--aura-architecture)"
    )


@pytest.hookimpl(tryfirst=True)  # before the terminal writes the header, which reports it
def pytest_sessionstart(session: pytest.Session) -> None:
    """With ``--aura-changed``, decide which test files run: before collection, so that the
    others are never imported."""
    config = session.config
    ref = config.getoption("aura_changed")
    if ref is not None:
        config.stash[_CHANGED] = _select(config, ref or None, "")
    elif config.getini("aura_changed"):
        given = str(config.getini("aura_changed"))
        config.stash[_CHANGED] = _select(
            config, given, " (The REF comes from aura_changed in the ini file.)"
        )


@dataclasses.dataclass(frozen=True)
class _Changed:
    changes: Changes
    selection: Selection


_CHANGED = pytest.StashKey[_Changed]()


def _select(config: pytest.Config, ref: str | None, origin: str) -> _Changed:
    from aura.architecture.selection import find_changes, select_tests

    try:
        changes = find_changes(config.rootpath, ref)
    except ConfigurationError as error:
        raise pytest.UsageError(f"{error}{origin}") from None
    module_map = _module_map(config.rootpath, changes.top)
    base = str(_ini(config, "bdd_features_base_dir") or "")
    selection = select_tests(
        module_map,
        changes.files,
        _test_paths(config),
        python_files=list(config.getini("python_files")),
        ignore=list(config.getini("aura_changed_ignore")),
        features_base=config.rootpath / base if base else None,
        untracked=changes.untracked,
    )
    return _Changed(changes, selection)


def _module_map(rootdir: Path, top: Path) -> ModuleMap:
    """The module map of the nearest ``pyproject.toml`` from ``rootdir`` up to ``top``, the
    top of the git working tree (a file above the repository is not the project's)."""
    from aura.architecture.modulemap import load_module_map
    from aura.config import load_config

    found = _nearest_pyproject(rootdir, top)
    if found is None:
        start, end = rootdir.resolve(), top.resolve()
        above = f" or a folder above it up to {end}, the top of the git repository"
        raise pytest.UsageError(
            "--aura-changed selects test files by module, from the module map in "
            f"[tool.aura.boundaries] of the project's pyproject.toml, but there is no "
            f"pyproject.toml in the rootdir {start}{above if end != start else ''}. Declare "
            "each module's package and dependencies in the project's pyproject.toml:\n\n"
            "    [tool.aura.boundaries.modules.billing]\n"
            '    package = "shop.billing"\n'
            '    depends_on = ["users"]'
        )
    try:
        return load_module_map(load_config(found.parent, search_parents=False))
    except ConfigurationError as error:
        raise pytest.UsageError(
            f"--aura-changed selects test files by module, from the module map: {error}"
        ) from None


def _nearest_pyproject(rootdir: Path, top: Path) -> Path | None:
    start, end = rootdir.resolve(), top.resolve()
    folders = [start]
    if end in start.parents:
        folders.extend(start.parents[: start.parents.index(end) + 1])
    for folder in folders:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _ini(config: pytest.Config, name: str) -> Any:
    try:
        return config.getini(name)
    except ValueError:  # not declared: the plugin that reads it is not installed
        return None


def _test_paths(config: pytest.Config) -> list[Path]:
    start = config.invocation_params.dir
    return [start / arg.split("::", 1)[0] for arg in config.args]


def pytest_report_header(config: pytest.Config) -> list[str]:
    """With ``--aura-changed``: what changed, which modules, and why each test file runs."""
    state = config.stash.get(_CHANGED, None)
    if state is None:
        return []
    verbose = config.get_verbosity() > 0
    return state.selection.render(header=state.changes.header, verbose=verbose)


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    """With ``--aura-changed`` and ``-q`` (no header): the selection in one line."""
    state = config.stash.get(_CHANGED, None)
    if state is None or config.get_verbosity() >= 0:
        return []
    return [state.selection.summary()]


@pytest.hookimpl(tryfirst=True)  # the answer is final: no other plugin may collect the file
def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave out, unimported, the test files ``--aura-changed`` did not select."""
    state = config.stash.get(_CHANGED, None)
    if state is None or collection_path.suffix != ".py":
        return None
    return True if state.selection.skips(collection_path) else None


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """A change that selects no test file is not a failure: exit 0, not 5 (no tests ran)."""
    state = session.config.stash.get(_CHANGED, None)
    if (
        state is not None
        and state.selection.everything is None
        and not state.selection.selected
        and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED
    ):
        session.exitstatus = pytest.ExitCode.OK


@pytest.hookimpl(tryfirst=True)  # before -m and -k deselect, so that they select these items
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Add one item per import-linter contract when turned on; with ``--aura-changed``,
    deselect the items of test files named on the command line but not selected."""
    state = config.stash.get(_CHANGED, None)
    if state is not None:
        skipped = [item for item in items if state.selection.skips(item.path)]
        if skipped:
            config.hook.pytest_deselected(items=skipped)
            items[:] = [item for item in items if not state.selection.skips(item.path)]
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
