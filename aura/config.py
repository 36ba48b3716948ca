"""The project's configuration: ``[tool.aura]`` in its ``pyproject.toml``, read once per command.

One table configures the ``aura`` command, the pytest plugin and Aura's import-linter contract
type::

    [tool.aura]
    modules = "shop_app.modules"   # the package whose subpackages are the modules
    database = "var/aura.db"       # the SQLite file of `aura serve` and `aura dead-letters`,
                                   # or a postgresql:// URL
    demo = "shop_app.demo:run"     # what `aura demo` runs (a function taking a text stream)

    [tool.aura.web]
    token_keys = "var/token-keys.json"  # the gateway's JWT keys (aura token rotate makes them)
    errors = { "shop_app.errors:NotFound" = 404 }  # domain errors and the 4xx they answer

    [tool.aura.testing]
    database = "memory"            # each test platform's database: "memory" or "file"
    trace_dir = "var/traces"       # write each test's trace there (JSON and Mermaid)
    bdd = true                     # load Aura's pytest-bdd step library

    [tool.aura.boundaries]         # the static module map: see aura.architecture.modulemap
    layers = ["api", "application | infrastructure", "domain"]

    [tool.aura.boundaries.modules.billing]
    package = "shop_app.billing"
    depends_on = ["users"]

Flags and ini options override it and are spelled the same everywhere (``--modules`` on the
command line, ``--aura-modules`` / ``aura_modules`` in pytest, ``modules`` in the contract).
There is no silent default for the modules: a command that needs them and finds none configured
fails with a :class:`~aura.exceptions.ConfigurationError` saying what it looked for.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from aura.exceptions import ConfigurationError
from aura.sql import database_url, is_postgres_url

_override: ContextVar[ModulesSetting | None] = ContextVar("aura_modules_given", default=None)

__all__ = [
    "CLI_MODULES",
    "ModulesSetting",
    "ProjectConfig",
    "TestingConfig",
    "WebConfig",
    "add_modules_argument",
    "database_location",
    "database_path",
    "find_pyproject",
    "import_errors",
    "is_postgres_url",
    "load_config",
    "load_modules",
    "modules_given",
    "token_keys_path",
]

_TOP_KEYS: dict[str, type] = {
    "modules": str,
    "database": str,
    "demo": str,
    "platform": str,
    "testing": dict,
    "web": dict,
    "boundaries": dict,
}
_WEB_KEYS: dict[str, type] = {"token_keys": str, "errors": dict}
_TESTING_KEYS: dict[str, type] = {"database": str, "trace_dir": str, "bdd": bool}
_TEST_DATABASES = ("memory", "file")
_TYPE_NAMES: dict[type, str] = {str: "a string", bool: "true or false", dict: "a table"}
_EXAMPLE = '    [tool.aura]\n    modules = "your_package.modules"'


@dataclass(frozen=True)
class TestingConfig:
    """``[tool.aura.testing]``: the defaults of the pytest plugin."""

    __test__ = False  # not a test class, whatever pytest collects

    database: str = "memory"
    trace_dir: Path | None = None
    bdd: bool = False


@dataclass(frozen=True)
class WebConfig:
    """``[tool.aura.web]``: the gateway's settings for ``aura serve`` and ``aura token``."""

    token_keys: Path | None = None
    errors: dict[str, int] = field(default_factory=dict)
    """Each domain error, as ``"package.module:Class"``, and the 4xx status it answers."""


@dataclass(frozen=True)
class ModulesSetting:
    """Which package holds the modules, and where that was said (for error messages)."""

    package: str
    origin: str


@dataclass(frozen=True)
class ProjectConfig:
    """``[tool.aura]`` of one project; ``root`` is the folder of its ``pyproject.toml``.

    ``path`` is the file read, or ``None`` when no ``pyproject.toml`` was found (then ``root`` is
    the folder the search started from and every setting is unset).
    """

    root: Path
    path: Path | None = None
    modules: str | None = None
    database: Path | str | None = None
    """``database`` of the table: an SQLite file (a :class:`~pathlib.Path` under ``root``), or
    a PostgreSQL URL kept as written (a ``str``: see :func:`is_postgres_url`)."""
    demo: str | None = None
    platform: str | None = None
    """``platform = "package.module:function"``: the function that builds the application's
    platform, as it runs (its database adapter, its settings), for ``aura dead-letters``."""
    testing: TestingConfig = field(default_factory=TestingConfig)
    web: WebConfig = field(default_factory=WebConfig)
    searched_parents: bool = True
    boundaries: dict[str, Any] = field(default_factory=dict)
    """``[tool.aura.boundaries]`` as read: the static module map (see
    :mod:`aura.architecture.modulemap`, which checks it)."""

    @property
    def where(self) -> str:
        """The table, as a user finds it: ``[tool.aura] in /project/pyproject.toml``."""
        return f"[tool.aura] in {self.path}" if self.path is not None else "[tool.aura]"

    def modules_setting(self, given: str | None, *, flag: str, override: str) -> ModulesSetting:
        """The modules package: ``given`` (a flag or ini value) else ``modules`` of the table.

        ``flag`` names where ``given`` comes from (``--modules``) and ``override`` says how to
        give it (``pass --modules PACKAGE``), for the messages. Raises
        :class:`ConfigurationError` when neither names a package.
        """
        told = _override.get()
        if given is None and told is not None:
            return told  # what the running `aura` command was told (--modules)
        if given is not None:
            return ModulesSetting(_package_name(given, flag), flag)
        if self.modules is not None:
            where = f"modules in {self.where}"
            return ModulesSetting(_package_name(self.modules, where), where)
        if self.path is None:
            parents = " or its parents" if self.searched_parents else ""
            looked = f"found no pyproject.toml in {self.root}{parents}"
        else:
            looked = f"found no `modules` in {self.where}"
        raise ConfigurationError(
            f"No modules configured: Aura {looked}, and {flag} was not given. Say which package "
            f"holds the modules, in pyproject.toml:\n\n{_EXAMPLE}\n\nor {override}."
        )

    def put_on_path(self) -> None:
        """Make the project's packages importable, as ``lint-imports`` does with its folder:
        the project root, and its ``src/`` folder too in a src layout."""
        for folder in (self.root / "src", self.root):
            entry = str(folder)
            if folder.is_dir() and entry not in sys.path:
                sys.path.insert(0, entry)


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` in ``start`` or its parents, or ``None``."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(start: Path | None = None, *, search_parents: bool = True) -> ProjectConfig:
    """Read ``[tool.aura]`` from the nearest ``pyproject.toml`` above ``start`` (default: cwd).

    With ``search_parents=False`` only ``start/pyproject.toml`` is read (the pytest plugin reads
    the rootdir's alone: a table in a folder above the project is not the project's).

    A missing file or table gives an empty configuration; a malformed one raises
    :class:`ConfigurationError` naming the key, what it holds and what is expected.
    """
    origin = (start if start is not None else Path.cwd()).resolve()
    if search_parents:
        path = find_pyproject(origin)
    else:
        path = origin / "pyproject.toml" if (origin / "pyproject.toml").is_file() else None
    if path is None:
        return ProjectConfig(root=origin, searched_parents=search_parents)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(
            f"Cannot read {path}: {error}. Fix the file so that it is valid TOML."
        ) from None
    table = document.get("tool", {}).get("aura", {})
    if not isinstance(table, dict):
        raise ConfigurationError(
            f"tool.aura in {path} is {type(table).__name__} {table!r}; expected a table: "
            f"write it as\n\n{_EXAMPLE}"
        )
    _check_keys(table, _TOP_KEYS, "[tool.aura]", path)
    testing_table = table.get("testing", {})
    _check_keys(testing_table, _TESTING_KEYS, "[tool.aura.testing]", path)
    root = path.parent
    database = table.get("database")
    if database is not None and not database.strip():
        raise ConfigurationError(
            f"database in [tool.aura] of {path} is empty. Set it to the platform's SQLite file "
            '(database = "var/aura.db") or a postgresql:// URL, or remove the line for the '
            "default (var/aura.db)."
        )
    test_database = testing_table.get("database", "memory")
    if test_database not in _TEST_DATABASES:
        raise ConfigurationError(
            f"database = {test_database!r} in [tool.aura.testing] of {path} is not known; "
            "expected 'memory' (each test's platform in memory) or 'file' (a temporary SQLite "
            "file per test)."
        )
    trace_dir = testing_table.get("trace_dir")
    web_table = table.get("web", {})
    _check_keys(web_table, _WEB_KEYS, "[tool.aura.web]", path)
    errors = web_table.get("errors", {})
    for name, status in errors.items():
        if isinstance(status, bool) or not isinstance(status, int):
            raise ConfigurationError(
                f"errors.{name!r} in [tool.aura.web] of {path} is {status!r}; expected the 4xx "
                'status it answers, e.g. "shop_app.errors:NotFound" = 404.'
            )
    token_keys = web_table.get("token_keys")
    return ProjectConfig(
        root=root,
        path=path,
        modules=table.get("modules"),
        database=(
            _written_database(database, root, origin=f"database in {path}")
            if database is not None
            else None
        ),
        demo=table.get("demo"),
        platform=table.get("platform"),
        testing=TestingConfig(
            database=test_database,
            trace_dir=root / trace_dir if trace_dir is not None else None,
            bdd=testing_table.get("bdd", False),
        ),
        web=WebConfig(
            token_keys=root / token_keys if token_keys is not None else None,
            errors=dict(errors),
        ),
        boundaries=table.get("boundaries", {}),
    )


def load_modules(config: ProjectConfig, setting: ModulesSetting) -> list[ModuleType]:
    """Import the module packages under ``setting.package`` (see ``Platform.discover``).

    Raises :class:`ConfigurationError` when the package cannot be imported or declares no
    module, naming the package, where it was configured and the fix: an empty platform is never
    mistaken for a checked one.
    """
    from aura.platform import Platform  # the runtime is loaded only when modules are

    config.put_on_path()
    package, origin = setting.package, setting.origin
    try:
        importlib.import_module(package)
    except ImportError as error:
        if not _is_missing(error, package):
            raise
        raise ConfigurationError(
            f"The modules package {package!r} (from {origin}) cannot be imported: {error}. "
            f"Run from the project ({config.root} and its src/ folder are put on sys.path) or "
            "install it (pip install -e .), or correct the package name."
        ) from None
    found = Platform.discover(package)
    if not found:
        raise ConfigurationError(
            f"The modules package {package!r} (from {origin}) holds no module: none of its "
            "subpackages declares `module = Module(...)` or a `register_services("
            "service_registry)` function. Declare one in each module's __init__.py, or point "
            "`modules` at the package that holds them."
        )
    return found


CLI_MODULES = {"flag": "--modules", "override": "pass --modules PACKAGE"}
"""How the ``aura`` commands name their override, for :meth:`ProjectConfig.modules_setting`."""


def add_modules_argument(parser: argparse.ArgumentParser, purpose: str = "") -> None:
    """Declare ``--modules PACKAGE``, the override of ``modules`` in ``[tool.aura]``."""
    parser.add_argument(
        "--modules",
        metavar="PACKAGE",
        help=f"{purpose}the package whose subpackages are the modules (default: modules in "
        "[tool.aura] of pyproject.toml)",
    )


def database_location(given: str | None, config: ProjectConfig) -> Path | str:
    """Where the platform's data is: the flag, else $AURA_DATABASE, else ``[tool.aura]
    database``, else ``var/aura.db`` under the project root.

    A PostgreSQL URL (see :func:`is_postgres_url`) is returned as the string given, password
    included (the caller masks it before showing it); anything else is an SQLite file's path.
    """
    return _database_given(given, config)[0]


def database_path(given: str | None, config: ProjectConfig, *, command: str = "") -> Path:
    """The platform's SQLite file, found as :func:`database_location` finds it.

    For a command that works on SQLite alone (``command`` names it for the message): a
    PostgreSQL URL raises :class:`ConfigurationError` saying where it came from.
    """
    location, origin = _database_given(given, config)
    if isinstance(location, str):
        raise ConfigurationError(
            f"{command or 'This command'} works on an SQLite file only, and the database "
            f"({origin}) is a PostgreSQL URL. Pass --database with the platform's SQLite file; "
            "on PostgreSQL, use the bus of a platform built as your application builds it "
            "(the same modules and database: PostgresDatabase(url), or "
            "SqlAlchemyDatabase(engine)), with durable=True: bus.dead_letters(), "
            "bus.retry_dead_letters() and bus.purge_dead_letters(...)."
        )
    return location


def _database_given(given: str | None, config: ProjectConfig) -> tuple[Path | str, str]:
    """The database location and where it was said (for messages). An empty one (a shell
    variable that was not set, ``--database "$DB"``) is refused: read as "not given", it would
    send a purge to the default database."""
    if given is not None:
        _refuse_empty(given, "--database", "--database")
        return _written_database(given, origin="--database"), "--database"
    if "AURA_DATABASE" in os.environ:
        value = os.environ["AURA_DATABASE"]
        _refuse_empty(value, "$AURA_DATABASE", "AURA_DATABASE")
        return _written_database(value, origin="$AURA_DATABASE"), "$AURA_DATABASE"
    if config.database is not None:
        return config.database, f"database in {config.where}"
    return config.root / "var" / "aura.db", "the default"


def _refuse_empty(value: str, origin: str, name: str) -> None:
    if value.strip():
        return
    unset = "leave --database out" if name == "--database" else "unset AURA_DATABASE"
    raise ConfigurationError(
        f"{origin} is empty ({value!r}): an unset shell variable? Pass the platform's SQLite "
        f"file (var/aura.db) or a postgresql:// URL, or {unset} for database in [tool.aura] "
        "or the default. Nothing was opened."
    )


def _written_database(value: str, root: Path | None = None, *, origin: str) -> Path | str:
    """A database location as written: a PostgreSQL URL as libpq reads it, else a path (under
    ``root``, when it is relative and a root is given); another URL is refused (see
    :func:`aura.sql.database_url`)."""
    url = database_url(value, origin)
    if url is not None and is_postgres_url(url):
        return url
    if ":memory:" in (url, value):
        raise ConfigurationError(
            f"The database ({origin}) is {value!r}, a database in memory: it would keep nothing "
            "between runs, and a command could not see the platform's. Pass an SQLite file "
            "(var/aura.db, or sqlite:///var/aura.db) or a postgresql:// URL."
        )
    path = Path(url if url is not None else value)
    return root / path if root is not None else path


def token_keys_path(config: ProjectConfig) -> Path:
    """The gateway's key file: $AURA_TOKEN_KEYS, else ``[tool.aura.web] token_keys``, else
    ``var/token-keys.json`` under the project root."""
    if "AURA_TOKEN_KEYS" in os.environ:
        value = os.environ["AURA_TOKEN_KEYS"]
        if not value.strip():
            raise ConfigurationError(
                "$AURA_TOKEN_KEYS is set but empty. Set it to the gateway's key file (e.g. "
                "var/token-keys.json), or unset it for token_keys in [tool.aura.web] or the "
                "default. Nothing was opened."
            )
        return Path(value)
    if config.web.token_keys is not None:
        return config.web.token_keys
    return config.root / "var" / "token-keys.json"


def import_errors(config: ProjectConfig) -> dict[type[BaseException], int]:
    """The classes named in ``[tool.aura.web] errors``, imported, with their statuses."""
    found: dict[type[BaseException], int] = {}
    for name, status in config.web.errors.items():
        module_name, _, attribute = name.partition(":")
        try:
            error = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError, ValueError):
            raise ConfigurationError(
                f"errors.{name!r} in {config.where} names no class to import; write it as "
                '"package.module:ClassName", e.g. "shop_app.errors:NotFound".'
            ) from None
        found[error] = status
    return found


def _package_name(value: str, origin: str) -> str:
    if value and all(part.isidentifier() for part in value.split(".")):
        return value
    raise ConfigurationError(
        f"{origin} is {value!r}, which is not a package name; expected a dotted import path "
        "such as 'shop_app.modules' (absolute, no leading dot)."
    )


@contextmanager
def modules_given(setting: ModulesSetting) -> Iterator[None]:
    """Within the block, code that reads the modules setting without a flag of its own (the
    ``module_dependencies`` contract run by ``aura check``) gets ``setting``."""
    token = _override.set(setting)
    try:
        yield
    finally:
        _override.reset(token)


def _is_missing(error: ImportError, package: str) -> bool:
    # Only the package itself (or a parent) missing is a configuration problem; an import error
    # inside the user's code is theirs to see with its own traceback.
    name = getattr(error, "name", None)
    return (
        isinstance(error, ModuleNotFoundError)
        and name is not None
        and (package == name or package.startswith(f"{name}."))
    )


def _check_keys(table: Any, known: dict[str, type], where: str, path: Path) -> None:
    if not isinstance(table, dict):
        raise ConfigurationError(
            f"{where} in {path} is {type(table).__name__} {table!r}; expected a table."
        )
    for key, value in table.items():
        expected = known.get(key)
        if expected is None:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigurationError(
                f"Unknown key {key!r} in {where} of {path}. Known keys: "
                f"{', '.join(sorted(known))}.{hint}"
            )
        if not isinstance(value, expected):
            raise ConfigurationError(
                f"{key} in {where} of {path} is {type(value).__name__} {value!r}; expected "
                f"{_TYPE_NAMES[expected]}."
            )
