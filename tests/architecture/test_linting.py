"""Running import-linter in-process: configuration errors say what is wrong and how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from aura.architecture.linting import ImportContracts, find_config
from aura.exceptions import ConfigurationError

SESSION = "[importlinter]\nroot_package = aura\n\n"


def config(tmp_path: Path, contracts: str, name: str = ".importlinter") -> Path:
    path = tmp_path / name
    path.write_text(SESSION + contracts)
    return path


def test_the_configuration_is_found_where_import_linter_looks(tmp_path: Path) -> None:
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = other\n")
    expected = config(tmp_path, "[importlinter:contract:one]\nname = one\ntype = layers\n")
    assert find_config(tmp_path) == expected
    assert find_config(tmp_path / "nowhere") is None


def test_a_file_without_an_importlinter_section_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "setup.cfg"
    path.write_text("[metadata]\nname = other\n")
    with pytest.raises(ConfigurationError) as caught:
        ImportContracts(path)
    assert str(caught.value) == (
        f"No import-linter configuration in {path}: expected an [importlinter] section (or "
        "[tool.importlinter] in pyproject.toml). Add one, or point to the file that has it."
    )


def test_an_unknown_contract_type_lists_the_known_ones(tmp_path: Path) -> None:
    path = config(tmp_path, "[importlinter:contract:one]\nname = one\ntype = layerz\n")
    with pytest.raises(ConfigurationError) as caught:
        ImportContracts(path).check("one")
    assert str(caught.value) == (
        f"Contract 'one' in {path} has the unknown type 'layerz'. Known types: "
        "acyclic_siblings, forbidden, independence, layers, private_modules, protected; "
        "register others with contract_types in the [importlinter] section."
    )


def test_a_misconfigured_contract_names_each_field(tmp_path: Path) -> None:
    path = config(tmp_path, "[importlinter:contract:one]\nname = one\ntype = layers\n")
    with pytest.raises(ConfigurationError) as caught:
        ImportContracts(path).check("one")
    assert str(caught.value) == (
        f"Contract 'one' in {path} is not configured correctly: layers: This is a required field."
    )


def test_an_unknown_contract_id_lists_the_configured_ones(tmp_path: Path) -> None:
    path = config(tmp_path, "[importlinter:contract:one]\nname = one\ntype = layers\n")
    with pytest.raises(ConfigurationError) as caught:
        ImportContracts(path).check("two")
    assert str(caught.value) == f"No contract 'two' in {path}. Its contracts: one."


def test_a_registered_contract_type_that_cannot_be_imported_is_named(tmp_path: Path) -> None:
    path = tmp_path / ".importlinter"
    path.write_text(
        "[importlinter]\nroot_package = aura\ncontract_types = mine: aura.nowhere.MyContract\n\n"
        "[importlinter:contract:one]\nname = one\ntype = mine\n"
    )
    with pytest.raises(ConfigurationError) as caught:
        ImportContracts(path)
    assert str(caught.value) == (
        f"contract_types in {path} registers 'mine' as 'aura.nowhere.MyContract', which cannot "
        "be imported (ModuleNotFoundError: No module named 'aura.nowhere'). Write "
        "`name: package.module.Class`."
    )


def test_a_registered_contract_type_must_be_a_contract(tmp_path: Path) -> None:
    path = tmp_path / ".importlinter"
    path.write_text(
        "[importlinter]\nroot_package = aura\ncontract_types = mine: aura.module.Module\n\n"
        "[importlinter:contract:one]\nname = one\ntype = mine\n"
    )
    with pytest.raises(ConfigurationError) as caught:
        ImportContracts(path)
    assert str(caught.value) == (
        f"contract_types in {path} registers 'mine' as 'aura.module.Module', which is not a "
        "subclass of importlinter.Contract."
    )
