"""``[tool.aura]``: one table read by the CLI, the pytest plugin and the import-linter contract."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aura.config import CLI_MODULES, ModulesSetting, find_pyproject, load_config, load_modules
from aura.exceptions import ConfigurationError

EXAMPLE = '    [tool.aura]\n    modules = "your_package.modules"'


def write(folder: Path, text: str) -> Path:
    path = folder / "pyproject.toml"
    path.write_text(text)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "shop" / "modules" / "catalog").mkdir(parents=True)
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "modules" / "__init__.py").write_text("")
    (tmp_path / "shop" / "modules" / "catalog" / "__init__.py").write_text(
        "from aura import Module\nmodule = Module('catalog')\n"
    )
    (tmp_path / "shop" / "empty").mkdir()
    (tmp_path / "shop" / "empty" / "__init__.py").write_text("")
    yield tmp_path
    sys.path[:] = [entry for entry in sys.path if entry != str(tmp_path)]
    for name in [n for n in sys.modules if n == "shop" or n.startswith("shop.")]:
        del sys.modules[name]


def test_every_key_is_read_and_paths_are_relative_to_the_project(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[tool.aura]\nmodules = "shop.modules"\ndatabase = "var/shop.db"\ndemo = "shop.demo:run"\n'
        '[tool.aura.testing]\ndatabase = "file"\ntrace_dir = "traces"\nbdd = true\n',
    )
    (tmp_path / "deep" / "er").mkdir(parents=True)
    config = load_config(tmp_path / "deep" / "er")
    assert (config.root, config.path) == (tmp_path.resolve(), path.resolve())
    assert config.modules == "shop.modules"
    assert config.database == tmp_path.resolve() / "var" / "shop.db"
    assert config.demo == "shop.demo:run"
    assert config.testing.database == "file"
    assert config.testing.trace_dir == tmp_path.resolve() / "traces"
    assert config.testing.bdd is True


def test_the_nearest_pyproject_wins_even_without_a_tool_aura_table(tmp_path: Path) -> None:
    write(tmp_path, '[tool.aura]\nmodules = "outer"\n')
    inner = tmp_path / "inner"
    inner.mkdir()
    write(inner, "[project]\nname = 'inner'\n")
    assert find_pyproject(inner) == (inner / "pyproject.toml").resolve()
    config = load_config(inner)
    assert (config.modules, config.testing.database, config.testing.bdd) == (None, "memory", False)


def test_a_flag_overrides_the_table() -> None:
    config = load_config(Path(__file__).parent)  # this repository's pyproject.toml
    assert config.modules_setting(None, **CLI_MODULES) == ModulesSetting(
        "modules", f"modules in [tool.aura] in {config.path}"
    )
    assert config.modules_setting("shop", **CLI_MODULES) == ModulesSetting("shop", "--modules")


def test_no_pyproject_names_where_it_looked_and_how_to_configure(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config.path is None
    with pytest.raises(ConfigurationError) as caught:
        config.modules_setting(None, **CLI_MODULES)
    assert str(caught.value) == (
        f"No modules configured: Aura found no pyproject.toml in {tmp_path.resolve()} or its "
        "parents, and --modules was not given. Say which package holds the modules, in "
        f"pyproject.toml:\n\n{EXAMPLE}\n\nor pass --modules PACKAGE."
    )


def test_a_pyproject_without_modules_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, '[tool.aura]\ndemo = "x:y"\n').resolve()
    with pytest.raises(ConfigurationError) as caught:
        load_config(tmp_path).modules_setting(None, **CLI_MODULES)
    assert str(caught.value) == (
        f"No modules configured: Aura found no `modules` in [tool.aura] in {path}, and --modules "
        "was not given. Say which package holds the modules, in pyproject.toml:\n\n"
        f"{EXAMPLE}\n\nor pass --modules PACKAGE."
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[tool.aura]\nmodule = "shop"\n',
            "Unknown key 'module' in [tool.aura] of {path}. Known keys: boundaries, database, "
            "demo, modules, platform, testing, web. Did you mean 'modules'?",
        ),
        (
            "[tool.aura]\nmodules = 3\n",
            "modules in [tool.aura] of {path} is int 3; expected a string.",
        ),
        (
            '[tool.aura.testing]\nbdd = "yes"\n',
            "bdd in [tool.aura.testing] of {path} is str 'yes'; expected true or false.",
        ),
        (
            '[tool.aura.testing]\ndatabase = "disk"\n',
            "database = 'disk' in [tool.aura.testing] of {path} is not known; expected 'memory' "
            "(each test's platform in memory) or 'file' (a temporary SQLite file per test).",
        ),
        (
            '[tool]\naura = "modules"\n',
            "tool.aura in {path} is str 'modules'; expected a table: write it as\n\n" + EXAMPLE,
        ),
        (
            "[tool.aura\n",
            "Cannot read {path}: Expected ']' at the end of a table declaration (at line 1, "
            "column 11). Fix the file so that it is valid TOML.",
        ),
    ],
)
def test_a_malformed_table_is_refused_with_the_key_and_the_fix(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text).resolve()
    with pytest.raises(ConfigurationError) as caught:
        load_config(tmp_path)
    assert str(caught.value) == message.format(path=path)


def test_modules_are_imported_from_the_project_root(project: Path) -> None:
    write(project, '[tool.aura]\nmodules = "shop.modules"\n')
    config = load_config(project)
    found = load_modules(config, config.modules_setting(None, **CLI_MODULES))
    assert [module.__name__ for module in found] == ["shop.modules.catalog"]
    assert sys.path[0] == str(project.resolve())


def test_a_package_that_cannot_be_imported_is_named_with_its_origin(project: Path) -> None:
    config = load_config(project)
    with pytest.raises(ConfigurationError) as caught:
        load_modules(config, ModulesSetting("shop.modules_", "--modules"))
    assert str(caught.value) == (
        "The modules package 'shop.modules_' (from --modules) cannot be imported: No module "
        f"named 'shop.modules_'. Run from the project ({project.resolve()} and its src/ folder "
        "are put on sys.path) or install it (pip install -e .), or correct the package name."
    )


def test_a_package_with_no_module_is_never_an_empty_pass(project: Path) -> None:
    config = load_config(project)
    with pytest.raises(ConfigurationError) as caught:
        load_modules(config, ModulesSetting("shop.empty", "--modules"))
    assert str(caught.value) == (
        "The modules package 'shop.empty' (from --modules) holds no module: none of its "
        "subpackages declares `module = Module(...)` or a `register_services(service_registry)` "
        "function. Declare one in each module's __init__.py, or point `modules` at the package "
        "that holds them."
    )


def test_an_import_error_inside_the_project_is_not_hidden(project: Path) -> None:
    (project / "shop" / "broken").mkdir()
    (project / "shop" / "broken" / "__init__.py").write_text("import not_installed_anywhere\n")
    config = load_config(project)
    with pytest.raises(ModuleNotFoundError, match="not_installed_anywhere"):
        load_modules(config, ModulesSetting("shop.broken", "--modules"))


@pytest.mark.parametrize(
    ("value", "shown"), [("", "''"), (".modules", "'.modules'"), ("shop modules", "'shop modules'")]
)
def test_a_modules_value_that_is_no_package_name_is_refused(
    tmp_path: Path, value: str, shown: str
) -> None:
    path = write(tmp_path, f'[tool.aura]\nmodules = "{value}"\n').resolve()
    with pytest.raises(ConfigurationError) as caught:
        load_config(tmp_path).modules_setting(None, **CLI_MODULES)
    assert str(caught.value) == (
        f"modules in [tool.aura] in {path} is {shown}, which is not a package name; expected a "
        "dotted import path such as 'shop_app.modules' (absolute, no leading dot)."
    )


def test_a_src_layout_package_is_found(tmp_path: Path) -> None:
    (tmp_path / "src" / "srcshop" / "modules" / "catalog").mkdir(parents=True)
    for folder in ("srcshop", "srcshop/modules"):
        (tmp_path / "src" / folder / "__init__.py").write_text("")
    (tmp_path / "src" / "srcshop" / "modules" / "catalog" / "__init__.py").write_text(
        "from aura import Module\nmodule = Module('catalog')\n"
    )
    write(tmp_path, '[tool.aura]\nmodules = "srcshop.modules"\n')
    config = load_config(tmp_path)
    try:
        found = load_modules(config, config.modules_setting(None, **CLI_MODULES))
        assert [module.__name__ for module in found] == ["srcshop.modules.catalog"]
    finally:
        sys.path[:] = [e for e in sys.path if not e.startswith(str(tmp_path.resolve()))]
        for name in [n for n in sys.modules if n.split(".")[0] == "srcshop"]:
            del sys.modules[name]
