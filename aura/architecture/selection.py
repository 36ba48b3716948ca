"""Which test files a change can affect, decided from the module map without running anything.

:func:`find_changes` asks git which files changed since a base commit (by default the merge base
of ``HEAD`` with the main branch), uncommitted and untracked files included.
:func:`select_tests` maps those files to modules, adds every module that depends on a changed
one (through imports, service lookups and string couplings, declared ``depends_on``, or a
subscription to an event type a changed module publishes), transitively, and selects the test
files that exercise one of them. Each decision carries its reason, so that a run can say why a
test file runs; ``pytest --aura-changed`` (:mod:`aura.architecture.pytest_plugin`) prints them.

A test file exercises a module when it

- lies in the module's package;
- imports it, or imports project code that does (a fixture helper, a package ``__init__``),
  followed through every file of the project that is in no module; the same for the
  ``conftest.py`` files above it;
- is marked with the module's name (``@pytest.mark.users``) or with
  ``aura_platform("users", ...)``, or takes one of the harness's platform fixtures
  (``aura_platform``, ``published_events``...) without that marker: its platform then has
  every module;
- loads a Gherkin ``.feature`` file (``scenarios("...")``) tagged with the module's name
  (``@users``).

A module depends on another when it imports it directly, or imports project code in no module
that does (``shop/common.py``, which imports ``shop.catalog``), followed transitively through
every such file, as test files are.

A change outside every module (``pyproject.toml``, a ``conftest.py``, a helper, Aura itself)
selects every test file. A changed test file (one pytest collects: a name of ``python_files``
or a file given on the command line) selects itself, even inside a module's package, unless
the module's code imports it; a changed ``.feature`` file selects the test files that load it.
A changed file outside the project (not under its root, a source root or a test path: the
``frontend/`` of a monorepo whose Python project is ``backend/``) cannot be imported by the
project's code and selects nothing, as an ignored file does; the report says so. Test files
that exercise no module run only when everything does. A test file inside a module's package
is not the module's code: what it imports selects it, and makes the module depend on nothing.

Markers, fixtures and feature files are found by reading the test file's text, not its syntax
tree: a name mentioned in a string counts too, which can only select more.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import os
import re
import subprocess
from collections import deque
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from fnmatch import fnmatch, translate
from pathlib import Path

from aura.architecture.modulemap import ModuleMap, ModuleSpec
from aura.architecture.sources import Call, FileScan, Import, SourceFile, scan_files
from aura.exceptions import ConfigurationError
from aura.naming import patterns_overlap

__all__ = [
    "DEFAULT_TEST_FILES",
    "MAIN_BRANCHES",
    "PLATFORM_FIXTURES",
    "ChangedFile",
    "Changes",
    "Dependent",
    "SelectedFile",
    "Selection",
    "find_changes",
    "select_tests",
]

DEFAULT_TEST_FILES = ("test_*.py", "*_test.py")
"""pytest's default ``python_files``: which files are test files."""

MAIN_BRANCHES = ("main", "master", "origin/HEAD", "origin/main", "origin/master")
"""Where the main branch is looked for, in this order, when no REF is given."""

PLATFORM_FIXTURES = (
    "aura_platform",
    "published_events",
    "service_calls",
    "override",
    "aura_gateway",
    "aura_scenario",
)
"""The harness's fixtures that build a platform: of every module, unless ``aura_platform`` says.
(Its ``event_bus``, ``service_registry`` and ``container`` are left out: projects name their
own parameters so, as in ``register_services(service_registry)``.)"""

_FLAG = "--aura-changed"
_LISTED = 20
"""How many changed files the report lists, unless verbose."""
_SKIPPED_FOLDERS = frozenset(
    {"__pycache__", "node_modules", "site-packages", "build", "dist", "venv", "CVS", "_darcs"}
)
"""Folders never searched for Python files (with pytest's default ``norecursedirs``)."""

# --- git ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Changes:
    """The files changed since a base commit, as git reports them."""

    top: Path
    """The root of the git working tree."""
    base: str
    """The commit compared with (its full hash)."""
    described: str
    """Where the base comes from: ``the merge base of HEAD and main``."""
    files: tuple[Path, ...]
    """Every changed file, absolute: committed since the base, staged, unstaged, untracked,
    deleted."""
    untracked: frozenset[Path] = frozenset()

    @property
    def header(self) -> str:
        """One line saying what was compared with what."""
        return (
            f"aura-changed: files changed since {self.base[:7]} ({self.described}), "
            "uncommitted and untracked files included"
        )


def find_changes(root: Path, ref: str | None = None) -> Changes:
    """The files changed in the git working tree holding ``root`` since the merge base of
    ``HEAD`` and ``ref`` (default: the main branch, the first of :data:`MAIN_BRANCHES` that
    exists), uncommitted and untracked files included.

    Raises :class:`~aura.exceptions.ConfigurationError` when ``root`` is in no git repository,
    git is not installed, ``ref`` names no commit, or there is no merge base.
    """
    shown = f"{_FLAG}={ref}" if ref else _FLAG
    found = _git(root, "rev-parse", "--show-toplevel")
    if found.returncode != 0:
        raise ConfigurationError(
            f"{shown} compares the working tree with a git commit, but {root} is not in a git "
            f"repository. Run pytest in a git checkout, or leave out {_FLAG} to run every test."
        )
    top = Path(found.stdout.strip())
    if _git(top, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").returncode != 0:
        raise ConfigurationError(
            f"{shown} compares the working tree with a git commit, but the repository at {top} "
            f"has no commit yet. Commit once, or leave out {_FLAG} to run every test."
        )
    if ref:
        target = ref
        verified = _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        if ref.startswith("-") or verified.returncode != 0:
            raise ConfigurationError(_unknown_ref(ref, top, root))
    else:
        target = _main_branch(top)
    merged = _git(top, "merge-base", "HEAD", target)
    if merged.returncode != 0:
        raise ConfigurationError(
            f"{shown}: HEAD and {target} have no commit in common in the repository at {top}, "
            "so there is nothing to compare with. Fetch their history (a shallow clone has "
            "none: git fetch --unshallow), or give a REF that HEAD descends from."
        )
    base = merged.stdout.strip()
    changed = _git_files(top, "diff", "--name-only", "--no-renames", "-z", base, "--")
    untracked = _git_files(top, "ls-files", "--others", "--exclude-standard", "-z")
    return Changes(
        top=top,
        base=base,
        described=f"the merge base of HEAD and {target}",
        files=tuple(sorted({*changed, *untracked})),
        untracked=frozenset(untracked),
    )


def _unknown_ref(ref: str, top: Path, root: Path) -> str:
    message = (
        f"{_FLAG}={ref}: {ref!r} names no commit in the git repository at {top}. Give a "
        "branch, tag or commit that exists there (git branch -a lists the branches; a CI "
        f"checkout may need git fetch origin {ref} first), or {_FLAG} alone to compare with "
        "the main branch."
    )
    if not ref.startswith("-") and (root / ref).exists():
        message += (
            f" {ref!r} is also a path: {_FLAG} takes the word after it as its REF, so write "
            f"pytest {ref} {_FLAG} to test that path."
        )
    return message


def _main_branch(top: Path) -> str:
    refs = {
        "main": "refs/heads/main",
        "master": "refs/heads/master",
        "origin/HEAD": "refs/remotes/origin/HEAD",
        "origin/main": "refs/remotes/origin/main",
        "origin/master": "refs/remotes/origin/master",
    }
    listed = _git(top, "for-each-ref", "--format=%(refname) %(symref)", *refs.values())
    present: dict[str, str] = {}
    for line in listed.stdout.splitlines():
        name, _, symref = line.partition(" ")
        present[name] = symref
    for branch in MAIN_BRANCHES:
        full = refs[branch]
        if full in present:
            target = present[full]  # origin/HEAD points at the remote's default branch
            return target.removeprefix("refs/remotes/") if target else branch
    raise ConfigurationError(
        f"{_FLAG} compares with the main branch, but the git repository at {top} has none of "
        f"{', '.join(MAIN_BRANCHES)}. Name the branch to compare with: {_FLAG}=REF (for "
        f"example {_FLAG}=origin/develop)."
    )


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            encoding="utf-8",
            errors="surrogateescape",
            check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )
    except FileNotFoundError:
        raise ConfigurationError(
            f"{_FLAG} asks git what changed, but there is no git command on PATH. Install "
            f"git, or leave out {_FLAG} to run every test."
        ) from None


def _git_files(top: Path, *args: str) -> list[Path]:
    result = _git(top, *args)
    if result.returncode != 0:
        raise ConfigurationError(
            f"{_FLAG} could not list the changed files: git {' '.join(args)} failed in {top}: "
            f"{result.stderr.strip()}"
        )
    return [top / name for name in result.stdout.split("\0") if name]


# --- the selection --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ChangedFile:
    """One changed file and what it does to the selection."""

    path: Path
    shown: str
    """Its path relative to the project root."""
    module: str | None
    """The module it is in, or None."""
    kind: str
    """``"module"``, ``"test"`` (a test file, in a module's package or not), ``"feature"`` (a
    Gherkin file), ``"ignored"`` (by a glob, or outside the project) or ``"outside"`` (of every
    module)."""
    detail: str = ""
    """For an ignored file, why: the glob that ignores it, or ``outside the project root``."""
    untracked: bool = False

    @property
    def effect(self) -> str:
        """What it is, as the report says: ``users``, ``outside every module``..."""
        text = {
            "module": self.module or "",
            "test": f"a test file in module {self.module}" if self.module else "a test file",
            "feature": "a feature file",
            "ignored": f"ignored: {self.detail}",
            "outside": "outside every module",
        }[self.kind]
        return f"{text}, untracked" if self.untracked else text


@dataclasses.dataclass(frozen=True)
class Dependent:
    """A module added because it depends on a changed (or added) one."""

    module: str
    reason: str
    """``depends on users (declared)``, ``imports modules.users (modules/billing/api.py:3)``,
    ``subscribes to user.deactivated, published by users (...)``."""


@dataclasses.dataclass(frozen=True)
class SelectedFile:
    """A selected test file and why."""

    path: Path
    shown: str
    reason: str
    """``changed``, ``imports modules.users``, ``loads features/a.feature, tagged @users``..."""


@dataclasses.dataclass(frozen=True)
class Selection:
    """The test files a change affects, with the reason for each decision; built by
    :func:`select_tests`, rendered by :meth:`render`."""

    root: Path
    changed: tuple[ChangedFile, ...]
    changed_modules: tuple[str, ...]
    dependents: tuple[Dependent, ...]
    everything: str | None
    """Why every test file runs (a change outside every module), or None."""
    selected: tuple[SelectedFile, ...]
    skipped: tuple[Path, ...]
    """The test files not selected."""

    _skipped: frozenset[Path] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_skipped", frozenset(self.skipped))

    @property
    def modules(self) -> tuple[str, ...]:
        """The changed modules and their dependents."""
        return (*self.changed_modules, *(dependent.module for dependent in self.dependents))

    def skips(self, path: Path) -> bool:
        """Whether ``path`` is a test file that is not selected (anything else is not ours)."""
        if not self._skipped:
            return False
        return path in self._skipped or Path(os.path.realpath(path)) in self._skipped

    def render(self, *, header: str | None = None, verbose: bool = False) -> list[str]:
        """The report, one line each: changed files, modules and why, selected test files and
        why (``verbose``: the skipped ones too). ``header`` goes first (what was compared)."""
        lines = [header] if header else []
        count = len(self.changed)
        lines.append(f"changed files ({count}):" if count else "changed files: none")
        shown = self.changed if verbose else self.changed[:_LISTED]
        lines.extend(f"  {changed.shown} ({changed.effect})" for changed in shown)
        if len(shown) < count:
            lines.append(f"  ... and {count - len(shown)} more (-v lists them)")
        if self.everything is not None:
            lines.append(f"running every test: {self.everything}")
            return lines
        lines.append(f"changed modules: {', '.join(self.changed_modules) or 'none'}")
        if self.dependents:
            lines.append("dependent modules:")
            lines.extend(f"  {item.module}: {item.reason}" for item in self.dependents)
        total = len(self.selected) + len(self.skipped)
        lines.append(f"selected test files ({len(self.selected)} of {total}):")
        lines.extend(f"  {item.shown}: {item.reason}" for item in self.selected)
        if verbose and self.skipped:
            lines.append(f"not selected ({len(self.skipped)}):")
            lines.extend(f"  {_shown(path, self.root)}" for path in self.skipped)
        return lines

    def summary(self) -> str:
        """The report in one line, for ``-q``."""
        if self.everything is not None:
            return f"aura-changed: running every test: {self.everything}"
        total = len(self.selected) + len(self.skipped)
        modules = ", ".join(self.changed_modules) or "none"
        added = (
            f" (+{len(self.dependents)} dependent: "
            f"{', '.join(item.module for item in self.dependents)})"
            if self.dependents
            else ""
        )
        return (
            f"aura-changed: {len(self.selected)} of {total} test files selected; changed "
            f"modules: {modules}{added}"
        )


def select_tests(
    module_map: ModuleMap,
    changed_files: Iterable[Path],
    test_paths: Iterable[Path],
    *,
    python_files: Sequence[str] = DEFAULT_TEST_FILES,
    ignore: Sequence[str] = (),
    features_base: Path | None = None,
    untracked: Collection[Path] = (),
) -> Selection:
    """Select the test files under ``test_paths`` (files or folders) that ``changed_files``
    can affect.

    Paths are absolute or relative to the map's root. ``python_files`` are the globs of test
    file names; ``ignore`` globs (relative to the root, ``docs/*``) name changed files that
    affect no test; ``features_base`` is where ``scenarios("...")`` paths start (pytest-bdd's
    ``bdd_features_base_dir``; default: the test file's folder); ``untracked`` files are
    marked so in the report.
    """
    root = module_map.root
    # Real paths, as git and the map give theirs: a checkout reached through a symlink is
    # still one tree. pytest's own paths are compared by Selection.skips.
    tests = _TestTree.find([_real(path, root) for path in test_paths], python_files)
    changed = [_real(path, root) for path in changed_files]
    project = _Project(module_map, tests)
    classified = [project.classify(path, tests, ignore, path in untracked) for path in changed]
    outside = [item.shown for item in classified if item.kind == "outside"]
    if not outside:
        outside = project.unloaded_features(classified, features_base)
    if outside:
        return Selection(
            root=root,
            changed=tuple(classified),
            changed_modules=(),
            dependents=(),
            everything=_everything(outside),
            selected=tuple(
                SelectedFile(path, _shown(path, root), "everything runs") for path in tests.files
            ),
            skipped=(),
        )
    changed_modules = sorted(
        {item.module for item in classified if item.kind == "module" and item.module}
    )
    dependents = project.dependents(changed_modules)
    affected = {*changed_modules, *(item.module for item in dependents)}
    changed_tests = {item.path for item in classified if item.kind == "test"}
    changed_features = {item.path for item in classified if item.kind == "feature"}
    selected: list[SelectedFile] = []
    skipped: list[Path] = []
    reach = project.reach(affected)
    for path in tests.files:
        reason = (
            "changed"
            if path in changed_tests
            else project.why(path, affected, reach, changed_features, features_base)
        )
        if reason is None:
            skipped.append(path)
        else:
            selected.append(SelectedFile(path, _shown(path, root), reason))
    return Selection(
        root=root,
        changed=tuple(classified),
        changed_modules=tuple(changed_modules),
        dependents=tuple(dependents),
        everything=None,
        selected=tuple(selected),
        skipped=tuple(skipped),
    )


def _everything(outside: Sequence[str]) -> str:
    more = f" (and {len(outside) - 1} more)" if len(outside) > 1 else ""
    return f"{outside[0]}{more} is outside every module"


def _real(path: Path, root: Path) -> Path:
    return Path(os.path.realpath(path if path.is_absolute() else root / path))


def _shown(path: Path, root: Path) -> str:
    text, top = str(path), str(root)
    if text.startswith(top) and text[len(top) : len(top) + 1] == os.sep:
        return Path(text[len(top) + 1 :]).as_posix()
    return Path(os.path.relpath(path, root)).as_posix()


# --- the test files -------------------------------------------------------------------------------


@dataclasses.dataclass
class _TestTree:
    """The test files under the test paths, and every other Python file there."""

    files: list[Path]
    python: list[Path]
    patterns: Sequence[str]
    paths: tuple[Path, ...] = ()
    """The test paths themselves (files and folders)."""
    given: frozenset[Path] = frozenset()
    """The ``.py`` files given as test paths: pytest collects them whatever their name."""

    @classmethod
    def find(cls, paths: Sequence[Path], patterns: Sequence[str]) -> _TestTree:
        files: set[Path] = set()
        python: set[Path] = set()
        given: set[Path] = set()
        for path in paths:
            if path.is_file():
                if path.suffix == ".py":
                    python.add(path)
                    if path.name != "conftest.py":
                        files.add(path)
                        given.add(path)
                continue
            for current, folders, names in os.walk(path):
                folders[:] = [name for name in folders if not _skipped_folder(current, name)]
                for name in names:
                    if name.endswith(".py"):
                        file = Path(current, name)
                        python.add(file)
                        if _is_test_file(file, patterns):
                            files.add(file)
        return cls(sorted(files), sorted(python), patterns, tuple(paths), frozenset(given))

    def is_test_file(self, path: Path) -> bool:
        """Whether pytest collects ``path`` as a test file, where it is under a test path."""
        return path.suffix == ".py" and (path in self.given or _is_test_file(path, self.patterns))


def _is_test_file(path: Path, patterns: Sequence[str]) -> bool:
    """Whether ``path`` matches one of pytest's ``python_files`` globs: a glob without a
    slash matches the file's name, one with a slash the end of its path (as pytest's own
    ``fnmatch_ex``)."""
    name = path.name
    if name == "conftest.py":
        return False
    names, paths = _test_globs(tuple(patterns))
    return bool(names.match(name) or (paths is not None and paths.match(str(path))))


@functools.lru_cache(maxsize=8)
def _test_globs(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str] | None]:
    """``python_files`` as two regular expressions: of the names, and of the paths."""
    names: list[str] = []
    paths: list[str] = []
    for pattern in patterns:
        if "/" not in pattern and os.sep not in pattern:
            names.append(translate(pattern))
            continue
        glob = pattern.replace("/", os.sep)
        paths.append(translate(glob if os.path.isabs(glob) else f"*{os.sep}{glob}"))
    return (
        re.compile("|".join(names) or "(?!)"),
        re.compile("|".join(paths)) if paths else None,
    )


def _skipped_folder(parent: str, name: str) -> bool:
    if name.startswith(".") or name in _SKIPPED_FOLDERS or name.endswith((".egg-info", ".egg")):
        return True
    return os.path.exists(os.path.join(parent, name, "pyvenv.cfg"))  # a virtualenv


# --- the project: its modules' graph and its other files --------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Edge:
    """Why a module depends on another: the kind of use, what it uses, and where (rendered only
    for the edges a report shows)."""

    rank: int
    """The order in which reasons are preferred: declared first, then direct imports, imports
    through files in no module, lookups, string couplings, subscriptions last."""
    what: str
    path: Path | None = None
    line: int = 0

    def text(self, root: Path) -> str:
        where = f" ({_shown(self.path, root)}:{self.line})" if self.path is not None else ""
        return f"{self.what}{where}"


_MARK = re.compile(r"\bmark\.(\w+)")
_AURA_MODULES = re.compile(r"\baura_platform\(([^)]*)\)")
_STRING = re.compile(r"""(?:"([^"\\\n]*)"|'([^'\\\n]*)')""")
_SCENARIOS = re.compile(r"\bscenarios?\(([^)]*)\)")
_FEATURE_PATH = re.compile(r"""["']([^"'\n]+\.feature)["']""")
_TAG = re.compile(r"(?<![\w@])@([A-Za-z_][\w.-]*)")


@dataclasses.dataclass(frozen=True)
class _Graph:
    """The imports between the files in no module, and from them to the modules."""

    importers: dict[Path, list[Path]]
    """For each file in no module, the files in no module (and the test files in a module's
    package) that import it or, for a package's ``__init__``, a file of the package."""
    hits: dict[str, list[tuple[Path, int, str]]]
    """For each module, the files in no module (and test files in a module's package) that
    import it: the file, the position of the first such import in it, the name imported."""


class _Project:
    """Every scanned file of the project: the modules' files, the test tree, the rest."""

    def __init__(self, module_map: ModuleMap, tests: _TestTree) -> None:
        self.map = module_map
        self.root = module_map.root
        self.names = set(module_map.names)
        self._owner_cache: dict[str, str | None] = {}
        self._module_files = {file.path: spec for spec in module_map.modules for file in spec.files}
        self._tests = tests
        self._scans: dict[Path, FileScan] | None = None
        self._others: dict[Path, SourceFile] = {}
        self._by_name: dict[str, Path] = {}
        self._texts: dict[Path, str] = {}
        self._known = {file.dotted for file in module_map.files}
        self._bases: dict[Path, Path] = {}
        self._sources = {file.path: file for file in module_map.files}
        self._inside = tuple(str(path) for path in (self.root, *module_map.source_roots))
        self._inside += tuple(str(path) for path in tests.paths)
        self._users_found: dict[str, dict[str, _Edge]] | None = None
        self._through: dict[Path, list[tuple[str, str, Path, int]]] = {}
        """For each file in no module: the module files importing it (their module, the name
        imported, where)."""
        self._tests_in_modules: set[Path] | None = None
        self._graph: _Graph | None = None

    # -- classification of a changed file --

    def classify(
        self, path: Path, tests: _TestTree, ignore: Sequence[str], untracked: bool
    ) -> ChangedFile:
        found = self._classify(path, tests, ignore)
        if untracked:
            return dataclasses.replace(found, untracked=True)
        return found

    def _classify(self, path: Path, tests: _TestTree, ignore: Sequence[str]) -> ChangedFile:
        shown = _shown(path, self.root)
        if path.suffix in (".pyc", ".pyo") or "__pycache__" in path.parts:
            return ChangedFile(path, shown, None, "ignored", "bytecode")
        for pattern in ignore:
            if fnmatch(shown, pattern):
                return ChangedFile(path, shown, None, "ignored", pattern)
        if not self._in_project(path):
            # Not under the project root, a source root or a test path (the frontend/ of a
            # monorepo whose Python project is backend/): no import of the project reaches it.
            return ChangedFile(path, shown, None, "ignored", "outside the project root")
        spec = self._module_of_path(path)
        if spec is not None:
            if tests.is_test_file(path) and not self._imported_by_module_code(path):
                return ChangedFile(path, shown, spec.name, "test")
            return ChangedFile(path, shown, spec.name, "module")
        if tests.is_test_file(path):
            return ChangedFile(path, shown, None, "test")
        if path.suffix == ".feature":
            return ChangedFile(path, shown, None, "feature")
        return ChangedFile(path, shown, None, "outside")

    def _module_of_path(self, path: Path) -> ModuleSpec | None:
        spec = self._module_files.get(path)
        return spec if spec is not None else self.map.module_of_path(path)

    def _in_project(self, path: Path) -> bool:
        text = str(path)
        return any(
            text == top or (text.startswith(top) and text[len(top) : len(top) + 1] == os.sep)
            for top in self._inside
        )

    def _imported_by_module_code(self, path: Path) -> bool:
        """Whether a module file that is not a test file imports the module file ``path``."""
        return path in self._module_files and path not in self.tests_in_modules()

    def tests_in_modules(self) -> set[Path]:
        """The module files that are test files (a name of ``python_files``, or given as a
        test path) and that no other module file imports: tests, not the module's code."""
        if self._tests_in_modules is None:
            candidates = {path for path in self._module_files if self._tests.is_test_file(path)}
            imported: set[str] = set()
            if candidates:
                scans = self.scans()
                for path in self._module_files:
                    scan = scans.get(path)
                    if path in candidates or scan is None:
                        continue
                    for item in scan.imports:
                        for target in self._targets(item):
                            while target and target not in imported:
                                imported.add(target)  # import a.b.c runs a and a.b too
                                target = target.rpartition(".")[0]
            self._tests_in_modules = {
                path for path in candidates if self._sources[path].dotted not in imported
            }
        return self._tests_in_modules

    def unloaded_features(self, classified: Sequence[ChangedFile], base: Path | None) -> list[str]:
        """Changed feature files that no test file is seen to load: they may hold anything."""
        changed = [item for item in classified if item.kind == "feature"]
        if not changed:
            return []
        loaded = {feature for path in self._tests.files for feature in self._features(path, base)}
        return [item.shown for item in changed if item.path not in loaded]

    # -- the modules' dependencies --

    def dependents(self, changed: Sequence[str]) -> list[Dependent]:
        """Every module depending on one of ``changed``, transitively, with the first reason."""
        found: dict[str, str] = {}
        queue = deque(sorted(changed))
        seen = set(changed)
        while queue:
            used = queue.popleft()
            users = self._users_of(used)
            for user in sorted(users):
                if user in seen:
                    continue
                seen.add(user)
                found[user] = users[user].text(self.root)
                queue.append(user)
        return [Dependent(name, reason) for name, reason in found.items()]

    def _users_of(self, used: str) -> dict[str, _Edge]:
        """The modules using ``used``, each with its best reason: the direct uses, and the
        imports of files in no module that import it, directly or through others such."""
        users = dict(self._users().get(used, {}))
        reach = self.reach({used})
        if not reach:
            return users
        best: dict[str, tuple[int, _Edge]] = {}
        for path in reach:
            for user, target, where, line in self._through.get(path, ()):
                if user == used:
                    continue
                names = self._chain_names(target, path, reach)
                known = best.get(user)
                if known is None or len(names) < known[0]:
                    what = "imports " + ", which imports ".join(names)
                    best[user] = (len(names), _Edge(2, what, where, line))
        for user, (_, edge) in best.items():
            known_edge = users.get(user)
            if known_edge is None or edge.rank < known_edge.rank:
                users[user] = edge
        return users

    def _chain_names(
        self, target: str, path: Path, reach: Mapping[Path, tuple[str, Path | None]]
    ) -> list[str]:
        """``target`` (imported by a module file), the files in no module on the way, and the
        name of the module imported at the end: ``shop.common``, ``shop.catalog``."""
        names = [target]
        following: Path | None = path
        end = target
        while following is not None:
            name = self._others[following].dotted
            if name != names[-1]:
                names.append(name)  # importing shop.common runs shop/__init__.py too
            end, following = reach[following]
        names.append(end)
        return names

    def _users(self) -> dict[str, dict[str, _Edge]]:
        """For each module, the modules using it directly, each with its best reason; and, in
        ``_through``, the module files importing each file in no module."""
        if self._users_found is not None:
            return self._users_found
        users: dict[str, dict[str, _Edge]] = {}
        self._users_found = users

        def add(user: str, used: str, edge: _Edge) -> None:
            if user == used:
                return
            known = users.setdefault(used, {}).get(user)
            if known is None or edge.rank < known.rank:
                users[used][user] = edge

        for spec in self.map.modules:
            for dependency in spec.depends_on:
                add(spec.name, dependency, _Edge(0, f"depends on {dependency} (declared)"))
        scans = self.scans()
        services = self._service_owners()
        subscriptions: list[tuple[str, str, Path, int]] = []
        published: dict[str, set[str]] = {
            spec.name: set(spec.publishes) for spec in self.map.modules if spec.publishes
        }
        declared = {spec.name for spec in self.map.modules if spec.publishes is not None}
        tests = self.tests_in_modules()
        for spec in self.map.modules:
            for file in spec.files:
                scan = scans.get(file.path)
                if scan is None or file.path in tests:
                    continue  # a test file in the package is not the module's code
                path = file.path
                for item in scan.imports:
                    for target in self._targets(item):
                        owner = self._owner(target)
                        if owner is not None:
                            if owner != spec.name:
                                edge = _Edge(1, f"imports {target}", path, item.line)
                                add(spec.name, owner, edge)
                            continue
                        for imported in self._files_of(target):
                            entry = (spec.name, target, path, item.line)
                            self._through.setdefault(imported, []).append(entry)
                for call in scan.calls:
                    # Aura's own calls count unless the map turns them off (aura_calls = false).
                    last = call.name.rpartition(".")[2] if self.map.aura_calls else ""
                    looked = self._looked_up(call.argument(0, "module_name"), last, services, call)
                    if looked is not None:
                        edge = _Edge(3, f"looks up {looked[1]}", path, call.line)
                        add(spec.name, looked[0], edge)
                    elif last == "subscribe":
                        event = call.argument(0, "event_type")
                        if event is not None:
                            subscriptions.append((spec.name, event, path, call.line))
                    elif last == "publish" and spec.name not in declared:
                        event = call.argument(0, "event_type")
                        if event is not None:
                            published.setdefault(spec.name, set()).add(event)
                    for coupled, value in self._couplings(call):
                        edge = _Edge(4, f"uses {value} ({call.name})", path, call.line)
                        add(spec.name, coupled, edge)
        for subscriber, event, path, line in subscriptions:
            for publisher, events in sorted(published.items()):
                if publisher != subscriber and any(patterns_overlap(event, e) for e in events):
                    what = f"subscribes to {event}, published by {publisher}"
                    add(subscriber, publisher, _Edge(5, what, path, line))
        return users

    def _targets(self, item: Import) -> Iterator[str]:
        """The names an import reaches: ``from a import b`` reaches ``a.b`` when that is a file
        of the project, else ``a`` (``b`` is an attribute of it)."""
        if not item.names:
            yield item.module
            return
        plain = False
        for name in item.names:
            candidate = f"{item.module}.{name}"
            if candidate in self._known:
                yield candidate
            else:
                plain = True
        if plain:
            yield item.module

    def _service_owners(self) -> dict[str, tuple[str, str]]:
        owners: dict[str, tuple[str, str]] = {}
        for spec in self.map.modules:
            for service, keys in spec.services:
                for key in (*keys, f"{spec.name}.{service}"):
                    owners[key] = (spec.name, f"{spec.name}.{service}")
        return owners

    def _looked_up(
        self,
        first: str | None,
        last: str,
        services: Mapping[str, tuple[str, str]],
        call: Call,
    ) -> tuple[str, str] | None:
        """The module a ``get_service``/``resolve`` call looks up, and what, or None."""
        if first is None:
            return None
        if last == "get_service" and first in self.names:
            service = call.argument(1, "service_name") or "?"
            return first, f"{first}.{service}"
        if last == "resolve":
            if first in services:
                return services[first]
            module, dot, _ = first.partition(".")
            if dot and module in self.names:
                return module, first
        return None

    def _couplings(self, call: Call) -> Iterator[tuple[str, str]]:
        name = call.name
        for coupling in self.map.couplings:
            if name != coupling.call and not name.endswith(f".{coupling.call}"):
                continue
            value = call.argument(coupling.argument, coupling.keyword)
            label = coupling.module_label(value) if value is not None else None
            if value is None or label is None:
                continue
            for spec in self.map.modules:
                if label == spec.name or label in spec.labels:
                    yield spec.name, value
                    break

    def _owner(self, dotted: str) -> str | None:
        try:
            return self._owner_cache[dotted]
        except KeyError:
            spec = self.map.module_of(dotted)
            owner = self._owner_cache[dotted] = spec.name if spec is not None else None
            return owner

    # -- the scan of every file --

    def scans(self) -> dict[Path, FileScan]:
        """Every module file and every other Python file of the project, scanned once
        (cached with the boundary checks' scan: same coupling names, same cache)."""
        if self._scans is None:
            self._index()
            files = [*self.map.files, *self._others.values()]
            cache = self.root if self.map.cache else None
            self._scans = scan_files(files, self.map.call_names, cache_root=cache)
        return self._scans

    def _index(self) -> None:
        """The project's Python files outside every module, each under the names it can be
        imported as (from the project root, a source root, or its own first folder without
        ``__init__.py``, as pytest's default import mode puts it on ``sys.path``)."""
        roots = sorted({self.root, *self.map.source_roots}, key=lambda p: -len(p.parts))
        found = set(self._tests.python)
        module_folders = {
            os.path.join(source_root, *spec.package.split("."))
            for spec in self.map.modules
            for source_root in self.map.source_roots
        }
        for top in roots:
            for current, folders, names in os.walk(top):
                folders[:] = [
                    name
                    for name in folders
                    if not _skipped_folder(current, name)
                    and os.path.join(current, name) not in module_folders
                ]
                found.update(Path(current, name) for name in names if name.endswith(".py"))
        for path in sorted(found):
            if path in self._module_files:
                continue
            names = [name for top in roots if (name := _dotted(path, top)) is not None]
            if not names:
                continue  # a test path outside the project: named by its own folder only
            dotted = names[0]
            self._others[path] = SourceFile(path, dotted, path.name == "__init__.py")
            names.append(_dotted(path, self._base(path.parent)) or dotted)
            for name in names:
                self._by_name.setdefault(name, path)
                self._known.add(name)

    def _base(self, folder: Path) -> Path:
        """The first folder up from ``folder`` without ``__init__.py``: what pytest's default
        ("prepend") import mode puts on ``sys.path`` for a test file there."""
        if folder not in self._bases:
            is_package = (folder / "__init__.py").is_file() and folder != folder.parent
            self._bases[folder] = self._base(folder.parent) if is_package else folder
        return self._bases[folder]

    # -- which non-module files reach an affected module --

    def reach(self, affected: set[str]) -> dict[Path, tuple[str, Path | None]]:
        """For each file in no module (or test file in a module's package) that imports an
        affected module, directly or through files in no module: the module name it imports,
        and the next file on the way (None when it imports the module itself). In the order
        found: nearest first."""
        graph = self._import_graph()
        first: dict[Path, tuple[int, str]] = {}
        for module in affected:
            for path, position, target in graph.hits.get(module, ()):
                known = first.get(path)
                if known is None or position < known[0]:
                    first[path] = (position, target)
        marked: dict[Path, tuple[str, Path | None]] = {
            path: (first[path][1], None) for path in sorted(first)
        }
        queue: deque[Path] = deque(marked)
        while queue:
            path = queue.popleft()
            for importer in graph.importers.get(path, ()):
                if importer not in marked:
                    marked[importer] = (marked[path][0], path)
                    queue.append(importer)
        return marked

    def _import_graph(self) -> _Graph:
        """Who imports each file in no module, and which modules each such file (and each test
        file in a module's package) imports directly; built once."""
        if self._graph is not None:
            return self._graph
        scans = self.scans()
        importers: dict[Path, set[Path]] = {}
        hits: dict[str, list[tuple[Path, int, str]]] = {}
        module_tests = [self._sources[path] for path in sorted(self.tests_in_modules())]
        for file in [*self._others.values(), *module_tests]:
            path = file.path
            scan = scans.get(path)
            if scan is None:
                continue
            owners: set[str] = set()
            position = 0
            for item in scan.imports:
                for target in self._targets(item):
                    position += 1
                    owner = self._owner(target)
                    if owner is not None:
                        if owner not in owners:
                            owners.add(owner)
                            hits.setdefault(owner, []).append((path, position, target))
                        continue
                    for imported in self._files_of(target):
                        if imported != path:
                            importers.setdefault(imported, set()).add(path)
            for parent in self._parents(file):
                importers.setdefault(parent, set()).add(path)
        self._graph = _Graph(
            importers={path: sorted(found) for path, found in importers.items()}, hits=hits
        )
        return self._graph

    def _files_of(self, target: str) -> Iterator[Path]:
        """The project files an import of ``target`` runs: it, and its packages' ``__init__``."""
        parts = target.split(".")
        for end in range(1, len(parts) + 1):
            found = self._by_name.get(".".join(parts[:end]))
            if found is not None:
                yield found

    def _parents(self, file: SourceFile) -> Iterator[Path]:
        parts = file.dotted.split(".")[:-1]  # a package's __init__ is named for the package
        for end in range(1, len(parts) + 1):
            found = self._by_name.get(".".join(parts[:end]))
            if found is not None and found != file.path:
                yield found

    # -- why a test file is selected --

    def why(
        self,
        path: Path,
        affected: set[str],
        reach: Mapping[Path, tuple[str, Path | None]],
        changed_features: set[Path],
        features_base: Path | None,
    ) -> str | None:
        spec = self._module_of_path(path)
        if spec is not None and spec.name in affected:
            return f"is in module {spec.name}"
        if path in reach:
            return self._chain(path, reach)
        text = self._text(path)
        for name in _MARK.findall(text):
            if name in affected:
                return f"is marked {name}"
        named = [
            value
            for group in _AURA_MODULES.findall(text)
            for value in _strings(group)
            if value in self.names
        ]
        for name in named:
            if name in affected:
                return f"is marked aura_platform({name})"
        fixture = _unmarked_platform_fixture(text)
        if fixture is not None and affected:
            return f"takes {fixture} without an aura_platform marker: its platform has every module"
        for feature in self._features(path, features_base):
            if feature in changed_features:
                return f"loads {_shown(feature, self.root)}, which changed"
            for tag in self._tags(feature):
                if tag in affected:
                    return f"loads {_shown(feature, self.root)}, tagged @{tag}"
        for conftest in self._conftests(path):
            if conftest in reach:
                chain = self._chain(conftest, reach)
                return f"its {_shown(conftest, self.root)} {chain}"
        return None

    def _chain(self, path: Path, reach: Mapping[Path, tuple[str, Path | None]]) -> str:
        target, following = reach[path]
        through = []
        while following is not None:
            through.append(_shown(following, self.root))
            following = reach[following][1]
        return f"imports {target}" + (f" through {', '.join(through)}" if through else "")

    def _conftests(self, path: Path) -> Iterator[Path]:
        folder = path.parent
        while True:
            candidate = folder / "conftest.py"
            if candidate in self._others:
                yield candidate
            if folder == self.root or folder == folder.parent:
                return
            folder = folder.parent

    def _text(self, path: Path) -> str:
        if path not in self._texts:
            try:
                self._texts[path] = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                self._texts[path] = ""
        return self._texts[path]

    def _features(self, path: Path, base: Path | None) -> list[Path]:
        text = self._text(path)
        if "scenario" not in text and ".feature" not in text:
            return []
        start = base if base is not None else path.parent
        given: set[str] = set(_FEATURE_PATH.findall(text))
        for arguments in _SCENARIOS.findall(text):
            given.update(_strings(arguments))
        found: set[Path] = set()
        for name in given:
            target = Path(os.path.normpath(start / name))
            if target.suffix == ".feature":
                found.add(target)
            elif target.is_dir():
                found.update(target.rglob("*.feature"))
        return sorted(found)

    def _tags(self, feature: Path) -> set[str]:
        tags: set[str] = set()
        for line in self._text(feature).splitlines():
            stripped = line.strip()
            if stripped.startswith("@"):
                tags.update(_TAG.findall(stripped))
        return tags


def _dotted(path: Path, folder: Path) -> str | None:
    """The module name of the file ``path`` under ``folder`` (``a/b/__init__.py``: ``a.b``),
    or None when it is not under it."""
    text, top = str(path), str(folder)
    if not text.startswith(top) or text[len(top) : len(top) + 1] != os.sep:
        return None
    parts = text[len(top) + 1 : -3].split(os.sep)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _strings(text: str) -> list[str]:
    return [first or second for first, second in _STRING.findall(text)]


def _unmarked_platform_fixture(text: str) -> str | None:
    """The platform fixture a test of the file takes without an ``aura_platform`` marker
    (directly, or through a fixture of the file), whose platform then has every module; None
    when no test takes one, or every one that does is marked. A file that cannot be parsed
    counts as unmarked throughout (selected: never skipped for what could not be read)."""
    if not any(name in text for name in PLATFORM_FIXTURES):
        return None  # the common case, without parsing
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return PLATFORM_FIXTURES[0]
    if any(
        isinstance(node, ast.Assign | ast.AnnAssign)
        and any(
            isinstance(target, ast.Name) and target.id == "pytestmark"
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        )
        and node.value is not None
        and _marks_platform(node.value)
        for node in tree.body
    ):
        return None  # every test of the file is marked
    functions: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, bool, frozenset[str]]] = []

    def collect(body: list[ast.stmt], marked: bool, used: frozenset[str]) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.append((node, marked, used))
            elif isinstance(node, ast.ClassDef):  # nested classes too, markers inherited
                collect(
                    node.body,
                    marked or any(_marks_platform(d) for d in node.decorator_list),
                    used | _used_fixtures(node.decorator_list),
                )

    collect(tree.body, False, frozenset())
    # The file's fixtures that take a platform fixture, through one another, by the name tests
    # ask for them (a fixture's name=, else its function's).
    takes: dict[str, set[str]] = {}
    for function, _, used in functions:
        parameters = {
            arg.arg
            for arg in (*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs)
        }
        parameters |= used | _used_fixtures(function.decorator_list)
        takes.setdefault(_fixture_name(function), set()).update(parameters)
        takes.setdefault(f"test::{function.name}", set()).update(parameters)
    giving: dict[str, str] = {}
    grew = True
    while grew:
        grew = False
        for name, parameters in takes.items():
            if name in giving:
                continue
            for parameter in sorted(parameters):
                found = parameter if parameter in PLATFORM_FIXTURES else giving.get(parameter)
                if found is not None:
                    giving[name] = found
                    grew = True
                    break
    for function, class_marked, _ in functions:
        key = f"test::{function.name}"
        if not function.name.startswith("test") or key not in giving:
            continue
        if class_marked or any(_marks_platform(d) for d in function.decorator_list):
            continue
        return giving[key]
    return None


def _fixture_name(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The name a fixture is asked for by: ``@pytest.fixture(name="client")``'s, else its own."""
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call):
            for keyword in decorator.keywords:
                if (
                    keyword.arg == "name"
                    and isinstance(keyword.value, ast.Constant)
                    and isinstance(keyword.value.value, str)
                ):
                    return keyword.value.value
    return function.name


def _used_fixtures(decorators: list[ast.expr]) -> frozenset[str]:
    """The fixtures ``@pytest.mark.usefixtures("a", "b")`` among ``decorators`` asks for."""
    return frozenset(
        argument.value
        for decorator in decorators
        if isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr == "usefixtures"
        for argument in decorator.args
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str)
    )


def _marks_platform(node: ast.expr) -> bool:
    """Whether ``node`` (a decorator, or pytestmark's value: one mark or a list) is
    ``mark.aura_platform(...)``; a mark inside ``parametrize``'s params marks one case only."""
    if isinstance(node, ast.List | ast.Tuple):
        return any(_marks_platform(element) for element in node.elts)
    if isinstance(node, ast.Call):
        node = node.func
    return isinstance(node, ast.Attribute) and node.attr == "aura_platform"
