"""``aura modules``: the module map, as text or JSON, read without importing the project."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from aura.cli import main

PYPROJECT = """\
[tool.aura]
modules = "shop"

[tool.aura.boundaries]
layers = ["api", "domain"]

[tool.aura.boundaries.modules.users]
package = "shop.users"
interface = [".", "api"]

[[tool.aura.boundaries.couplings]]
call = "apps.get_model"
"""

SHOP = {
    "pyproject.toml": PYPROJECT,
    "shop/__init__.py": "",
    # Declared with Aura's Module: read from the source.
    "shop/billing/__init__.py": (
        "from aura import Module\n\n"
        'module = Module("billing", depends_on=["users"])\n'
        'module.publishes("invoice.paid")\n'
    ),
    "shop/billing/domain.py": "",
    # Declared in pyproject.toml only; importing it fails, so it must not be imported.
    "shop/users/__init__.py": 'raise RuntimeError("aura modules imported the project")\n',
    "shop/users/api.py": "",
}


def aura(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], *args: str
) -> tuple[int, str]:
    code, out, err = aura_streams(tmp_path, monkeypatch, files, *args)
    assert err == ""
    return code, out


def aura_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], *args: str
) -> tuple[int, str, str]:
    """Run ``aura modules ARGS`` on ``files``; return the status, stdout and stderr."""
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    return main(["modules", *args], out=out, err=err), out.getvalue(), err.getvalue()


def test_the_map_is_printed_from_both_declarations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert aura(tmp_path, monkeypatch, SHOP) == (
        0,
        "2 modules, 4 files:\n"
        "\n"
        "billing (shop.billing, 2 files)\n"
        "  declared in: shop/billing/__init__.py:3\n"
        "  depends on:  users\n"
        "  interface:   shop.billing\n"
        "  layers:      api > domain\n"
        "  publishes:   invoice.paid\n"
        "\n"
        "users (shop.users, 2 files)\n"
        "  declared in: pyproject.toml [tool.aura.boundaries.modules.users]\n"
        "  depends on:  (nothing)\n"
        "  interface:   shop.users, shop.users.api\n"
        "  layers:      api > domain\n"
        "\n"
        "coupling: apps.get_model(...), argument 0, pattern ^(?P<module>\\w+)\n",
    )
    assert "shop" not in sys.modules


def test_the_map_as_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, text = aura(tmp_path, monkeypatch, SHOP, "--format", "json")
    data = json.loads(text)
    assert code == 0
    assert (data["root"], data["source_roots"]) == (str(tmp_path.resolve()), ["."])
    assert data["modules"][1] == {
        "name": "users",
        "package": "shop.users",
        "depends_on": [],
        "interface": ["shop.users", "shop.users.api"],
        "layers": ["api", "domain"],
        "publishes": None,
        "labels": [],
        "services": [],
        "declared_in": ["pyproject.toml [tool.aura.boundaries.modules.users]"],
        "files": 2,
    }
    assert [module["name"] for module in data["modules"]] == ["billing", "users"]
    assert data["couplings"] == [
        {"call": "apps.get_model", "argument": 0, "keyword": None, "pattern": "^(?P<module>\\w+)"}
    ]


def test_the_modules_flag_names_where_declarations_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {
        **SHOP,
        # Without billing (declared in the source only), no module has a domain layer to name.
        "pyproject.toml": PYPROJECT.replace('modules = "shop"\n', "").replace(
            'layers = ["api", "domain"]\n', ""
        ),
        "other/__init__.py": "",
    }
    code, text = aura(tmp_path, monkeypatch, files)
    assert (code, "users (shop.users" in text, "billing" in text) == (0, True, False)
    code, text = aura(tmp_path, monkeypatch, files, "--modules", "shop")
    assert (code, text.splitlines()[0]) == (0, "2 modules, 4 files:")


def test_declarations_that_disagree_are_an_error_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disagreeing = PYPROJECT + '\n[tool.aura.boundaries.modules.billing]\npackage = "shop.billing"\n'
    assert aura(tmp_path, monkeypatch, {**SHOP, "pyproject.toml": disagreeing}) == (
        2,
        "aura modules: error: Module 'billing' is declared twice and the declarations disagree "
        "on depends_on: [] in pyproject.toml [tool.aura.boundaries.modules.billing], ['users'] "
        "in shop/billing/__init__.py:3. Make them the same, or declare the module in one place "
        "only.\n",
    )


def test_a_project_without_modules_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {"pyproject.toml": '[project]\nname = "shop"\n'}
    assert aura(tmp_path, monkeypatch, files) == (
        2,
        "aura modules: error: No modules to check: [tool.aura.boundaries] in "
        f"{tmp_path / 'pyproject.toml'} declares none. Declare each module's package and "
        "dependencies:\n\n"
        "    [tool.aura.boundaries.modules.billing]\n"
        '    package = "shop.billing"\n'
        '    depends_on = ["users"]\n\n'
        "or declare `module = Module(...)` in each module's __init__.py and set `modules` in "
        "[tool.aura].\n",
    )


def test_a_modules_flag_that_is_not_a_package_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert aura(tmp_path, monkeypatch, SHOP, "--modules", "../shop") == (
        2,
        "aura modules: error: --modules is '../shop', which is not a package name; expected a "
        "dotted import path such as 'shop_app.modules' (absolute, no leading dot).\n",
    )


def test_with_json_an_error_goes_to_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert aura_streams(
        tmp_path, monkeypatch, SHOP, "--format", "json", "--modules", "../shop"
    ) == (
        2,
        "",
        "aura modules: error: --modules is '../shop', which is not a package name; expected a "
        "dotted import path such as 'shop_app.modules' (absolute, no leading dot).\n",
    )
