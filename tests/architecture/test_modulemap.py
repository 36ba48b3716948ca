"""The static module map: ``[tool.aura.boundaries]`` and ``Module(...)`` read without importing.

Both forms give the same map; where they disagree, or the table is malformed, the error names
the place, what it holds and what is expected (error text is API: asserted exactly).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aura.architecture.modulemap import (
    Coupling,
    Layer,
    ModuleMap,
    ModuleSpec,
    load_module_map,
)
from aura.config import load_config
from aura.exceptions import ConfigurationError

BILLING = "pyproject.toml [tool.aura.boundaries.modules.billing]"
NO_MODULES_ADVICE = (
    ". Declare each module's package and dependencies:\n\n"
    "    [tool.aura.boundaries.modules.billing]\n"
    '    package = "shop.billing"\n'
    '    depends_on = ["users"]\n\n'
    "or declare `module = Module(...)` in each module's __init__.py and set `modules` in "
    "[tool.aura]."
)

USERS_SOURCE = """\
from aura.module import Module

module = Module("users")
module.publishes("user.registered", "user.deactivated")
"""
BILLING_SOURCE = """\
from aura import Module

billing = Module("billing", depends_on=["users"], description="Charges users.")
billing.publishes("invoice.paid")
"""
SOURCE_FORM = {
    "pyproject.toml": '[tool.aura]\nmodules = "modules"\n',
    "modules/__init__.py": "",
    "modules/users/__init__.py": USERS_SOURCE,
    "modules/users/domain.py": "",
    "modules/billing/__init__.py": BILLING_SOURCE,
}
TOML_FORM = """\
[tool.aura.boundaries.modules.users]
package = "modules.users"
publishes = ["user.registered", "user.deactivated"]

[tool.aura.boundaries.modules.billing]
package = "modules.billing"
depends_on = ["users"]
publishes = ["invoice.paid"]
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


def load(root: Path, *, declarations: str | None = None) -> ModuleMap:
    return load_module_map(load_config(root, search_parents=False), declarations=declarations)


def project(root: Path, pyproject: str, *packages: str) -> Path:
    """A project with ``pyproject`` and an empty ``__init__.py`` in each of ``packages``."""
    files = {"pyproject.toml": pyproject}
    files.update({f"{package.replace('.', '/')}/__init__.py": "" for package in packages})
    return write(root, files)


def error_of(root: Path, *, declarations: str | None = None) -> str:
    with pytest.raises(ConfigurationError) as raised:
        load(root, declarations=declarations)
    return str(raised.value)


def without_origins(module_map: ModuleMap) -> dict[str, Any]:
    data = module_map.to_dict()
    del data["root"]
    for module in data["modules"]:
        del module["declared_in"]
    return data


# --- the two forms -----------------------------------------------------------------------------


def test_the_toml_form_and_the_module_declarations_give_the_same_map(tmp_path: Path) -> None:
    from_source = load(write(tmp_path / "source", SOURCE_FORM))
    files = {**SOURCE_FORM, "pyproject.toml": TOML_FORM}
    files["modules/users/__init__.py"] = files["modules/billing/__init__.py"] = ""
    from_toml = load(write(tmp_path / "toml", files))

    assert without_origins(from_source) == without_origins(from_toml)
    assert without_origins(from_toml)["modules"] == [
        {
            "name": "billing",
            "package": "modules.billing",
            "depends_on": ["users"],
            "interface": ["modules.billing"],
            "layers": [],
            "publishes": ["invoice.paid"],
            "labels": [],
            "services": [],
            "files": 1,
        },
        {
            "name": "users",
            "package": "modules.users",
            "depends_on": [],
            "interface": ["modules.users"],
            "layers": [],
            "publishes": ["user.registered", "user.deactivated"],
            "labels": [],
            "services": [],
            "files": 2,
        },
    ]
    assert from_source["billing"].origins == ("modules/billing/__init__.py:3",)
    assert from_toml["billing"].origins == (BILLING,)


def test_a_module_declared_in_both_forms_that_agree_is_one_module_with_both_places(
    tmp_path: Path,
) -> None:
    files = {**SOURCE_FORM, "pyproject.toml": SOURCE_FORM["pyproject.toml"] + TOML_FORM}

    module_map = load(write(tmp_path, files))

    assert module_map.names == ["billing", "users"]
    assert module_map["billing"].origins == (BILLING, "modules/billing/__init__.py:3")
    assert module_map["billing"].depends_on == ("users",)


def test_the_declarations_package_can_be_given_instead_of_read_from_tool_aura(
    tmp_path: Path,
) -> None:
    files = {**SOURCE_FORM, "pyproject.toml": "[tool.aura.boundaries]\n"}

    module_map = load(write(tmp_path, files), declarations="modules")

    assert module_map.names == ["billing", "users"]


def test_services_are_read_from_add_service_and_the_service_decorator(tmp_path: Path) -> None:
    source = USERS_SOURCE + (
        'module.add_service("UserService", object)\n'
        'module.add_service("Directory", object, key="people", aliases=["staff"])\n'
        "\n\n@module.service()\n"
        "class TokenService: ...\n"
        '\n\n@module.service(name="Clock")\n'
        "def make_clock() -> object: ...\n"
    )
    write(tmp_path, {**SOURCE_FORM, "modules/users/__init__.py": source})

    assert load(tmp_path)["users"].services == (
        ("UserService", ("user_service",)),
        ("Directory", ("people", "staff")),
        ("TokenService", ("token_service",)),
        ("Clock", ("clock",)),
    )


def test_a_source_declaration_without_publishes_declares_it_publishes_nothing(
    tmp_path: Path,
) -> None:
    source = 'from aura import Module\nmodule = Module("billing", depends_on=["users"])\n'
    write(tmp_path, {**SOURCE_FORM, "modules/billing/__init__.py": source})

    module_map = load(tmp_path)

    assert module_map["billing"].publishes == ()
    assert module_map["users"].publishes == ("user.registered", "user.deactivated")


def test_a_toml_module_without_publishes_says_nothing_about_its_events(tmp_path: Path) -> None:
    project(
        tmp_path,
        '[tool.aura.boundaries.modules.billing]\npackage = "shop.billing"\n',
        "shop.billing",
    )

    assert load(tmp_path)["billing"].publishes is None


# --- conflicts between the forms ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "field", "given", "found"),
    [
        (
            'package = "shop.billing"\ndepends_on = ["users"]',
            "package",
            "'shop.billing'",
            "'modules.billing'",
        ),
        ('package = "modules.billing"\ndepends_on = []', "depends_on", "[]", "['users']"),
    ],
)
def test_declarations_that_disagree_name_both_places(
    tmp_path: Path, table: str, field: str, given: str, found: str
) -> None:
    pyproject = SOURCE_FORM["pyproject.toml"] + f"[tool.aura.boundaries.modules.billing]\n{table}\n"
    write(tmp_path, {**SOURCE_FORM, "pyproject.toml": pyproject})

    assert error_of(tmp_path) == (
        f"Module 'billing' is declared twice and the declarations disagree on {field}: "
        f"{given} in {BILLING}, {found} in modules/billing/__init__.py:3. Make them the same, "
        "or declare the module in one place only."
    )


def test_published_events_that_disagree_name_both_places(tmp_path: Path) -> None:
    pyproject = SOURCE_FORM["pyproject.toml"] + (
        "[tool.aura.boundaries.modules.billing]\n"
        'package = "modules.billing"\n'
        'depends_on = ["users"]\n'
        'publishes = ["invoice.refunded", "invoice.paid"]\n'
    )
    write(tmp_path, {**SOURCE_FORM, "pyproject.toml": pyproject})

    assert error_of(tmp_path) == (
        "Module 'billing' is declared twice and the declarations disagree on publishes: "
        f"['invoice.paid', 'invoice.refunded'] in {BILLING}, ['invoice.paid'] in "
        "modules/billing/__init__.py:3. Make them the same, or declare the events in one place "
        "only."
    )


def test_events_declared_in_one_form_only_are_the_modules(tmp_path: Path) -> None:
    pyproject = SOURCE_FORM["pyproject.toml"] + (
        '[tool.aura.boundaries.modules.billing]\npackage = "modules.billing"\n'
        'depends_on = ["users"]\n'
    )
    write(tmp_path, {**SOURCE_FORM, "pyproject.toml": pyproject})

    assert load(tmp_path)["billing"].publishes == ("invoice.paid",)


def test_two_source_declarations_of_one_name_are_refused(tmp_path: Path) -> None:
    source = 'from aura import Module\nmodule = Module("users")\n'
    write(tmp_path, {**SOURCE_FORM, "modules/billing/__init__.py": source})

    assert error_of(tmp_path) == (
        "Module 'users' is declared twice: in modules/billing/__init__.py:2 and in "
        "modules/users/__init__.py:3. Give each module its own name."
    )


# --- Module(...) that cannot be read without running it ------------------------------------------


def test_a_module_declaration_with_computed_dependencies_says_how_to_write_them(
    tmp_path: Path,
) -> None:
    source = (
        'from aura import Module\n\nDEPENDENCIES = ["users"]\n'
        'module = Module("billing", depends_on=DEPENDENCIES)\n'
    )
    write(tmp_path, {**SOURCE_FORM, "modules/billing/__init__.py": source})

    assert error_of(tmp_path) == (
        "depends_on of the Module(...) in modules/billing/__init__.py:4 is not a list of string "
        "literals, so Aura cannot read it without running the code. Write it as "
        'depends_on=["users"], or declare the module in [tool.aura.boundaries.modules].'
    )


def test_a_module_declaration_with_a_computed_name_says_how_to_write_it(tmp_path: Path) -> None:
    source = 'from aura import Module\n\nNAME = "billing"\nmodule = Module(NAME)\n'
    write(tmp_path, {**SOURCE_FORM, "modules/billing/__init__.py": source})

    assert error_of(tmp_path) == (
        "The Module(...) in modules/billing/__init__.py:4 has no name Aura can read without "
        'running the code: give it as a string literal, Module("billing", ...).'
    )


def test_a_module_declaration_with_a_name_that_is_not_a_module_name_is_refused(
    tmp_path: Path,
) -> None:
    source = 'from aura import Module\nmodule = Module("Billing")\n'
    write(tmp_path, {**SOURCE_FORM, "modules/billing/__init__.py": source})

    assert error_of(tmp_path) == (
        "The Module(...) in modules/billing/__init__.py:2 names the module 'Billing'; module "
        "names are lower-case identifiers such as 'billing' or 'user_accounts'."
    )


def test_positional_dependencies_are_read_too(tmp_path: Path) -> None:
    source = 'from aura import Module\nmodule = Module("billing", ("users",))\n'
    write(tmp_path, {**SOURCE_FORM, "modules/billing/__init__.py": source})

    assert load(tmp_path)["billing"].depends_on == ("users",)


def test_a_module_declaration_that_cannot_be_parsed_names_the_file_and_line(
    tmp_path: Path,
) -> None:
    source = 'from aura import Module\nmodule = Module("billing"\n'
    write(tmp_path, {**SOURCE_FORM, "modules/billing/__init__.py": source})

    assert error_of(tmp_path) == (
        "Cannot read the module declaration in modules/billing/__init__.py:2: SyntaxError: '(' "
        "was never closed (__init__.py, line 2). Fix the file; Aura parses it without "
        "importing it."
    )


def test_nothing_is_imported_or_run_to_read_the_declarations(tmp_path: Path) -> None:
    source = BILLING_SOURCE + 'raise SystemExit("imported!")\n'
    write(tmp_path, {**SOURCE_FORM, "modules/billing/__init__.py": source})
    write(tmp_path, {"modules/billing/__main__.py": 'raise SystemExit("ran!")\n'})

    assert load(tmp_path).names == ["billing", "users"]  # importing would raise SystemExit


# --- malformed tables --------------------------------------------------------------------------


def malformed(tmp_path: Path, pyproject: str) -> str:
    """The error of a project with ``pyproject``, its packages shop.billing and shop.users."""
    project(tmp_path, pyproject, "shop", "shop.billing", "shop.users")
    return error_of(tmp_path).replace(str(tmp_path), "<root>")


MODULE = '[tool.aura.boundaries.modules.billing]\npackage = "shop.billing"\n'
IN = "in <root>/pyproject.toml"
IN_BILLING = f"[tool.aura.boundaries.modules.billing] {IN}"
LAYERS_ADVICE = (
    "expected sub-package names, with 'a | b' for independent siblings or 'a : b' for "
    'siblings that may import each other, e.g. ["api", "application | infrastructure", '
    '"domain"].'
)


@pytest.mark.parametrize(
    ("pyproject", "message"),
    [
        pytest.param(
            '[tool.aura.boundaries]\nsource_root = ["src"]\n' + MODULE,
            f"Unknown key 'source_root' in [tool.aura.boundaries] {IN}. Known keys: aura_calls, "
            "cache, couplings, exclude, layers, modules, source_roots. Did you mean "
            "'source_roots'?",
            id="unknown key of the table",
        ),
        pytest.param(
            MODULE + 'depend_on = ["users"]\n',
            f"Unknown key 'depend_on' in {IN_BILLING}. Known keys: depends_on, interface, labels, "
            "layers, package, publishes. Did you mean 'depends_on'?",
            id="unknown key of a module",
        ),
        pytest.param(
            MODULE + "owner = 'team-a'\n",
            f"Unknown key 'owner' in {IN_BILLING}. Known keys: depends_on, interface, labels, "
            "layers, package, publishes.",
            id="unknown key, nothing close",
        ),
        pytest.param(
            MODULE + '[[tool.aura.boundaries.couplings]]\ncall = "get_model"\nkeywrd = "to"\n',
            f"Unknown key 'keywrd' in couplings[0] in [tool.aura.boundaries] {IN}. Known keys: "
            "argument, call, keyword, pattern. Did you mean 'keyword'?",
            id="unknown key of a coupling",
        ),
        pytest.param(
            MODULE + 'depends_on = "users"\n',
            f"depends_on in {IN_BILLING} is str 'users'; expected a list.",
            id="depends_on not a list",
        ),
        pytest.param(
            MODULE + "depends_on = [1]\n",
            f'depends_on in {IN_BILLING} holds 1; expected a list of strings, e.g. ["users"].',
            id="depends_on not strings",
        ),
        pytest.param(
            "[tool.aura.boundaries.modules.billing]\npackage = 3\n",
            f"package in {IN_BILLING} is int 3; expected a string.",
            id="package not a string",
        ),
        pytest.param(
            "[tool.aura.boundaries.modules]\nbilling = 'shop.billing'\n",
            f"{IN_BILLING} is str 'shop.billing'; expected a table.",
            id="module not a table",
        ),
        pytest.param(
            '[tool.aura.boundaries]\nmodules = ["billing"]\n',
            f"modules in [tool.aura.boundaries] {IN} is list ['billing']; expected a table.",
            id="modules not a table",
        ),
        pytest.param(
            '[tool.aura.boundaries]\ncache = "no"\n' + MODULE,
            f"cache in [tool.aura.boundaries] {IN} is str 'no'; expected true or false.",
            id="cache not a boolean",
        ),
        pytest.param(
            '[tool.aura.boundaries]\nexclude = "*/tests"\n' + MODULE,
            f"exclude in [tool.aura.boundaries] {IN} is str '*/tests'; expected a list.",
            id="exclude not a list",
        ),
        pytest.param(
            MODULE + 'publishes = "invoice.paid"\n',
            f"publishes in {IN_BILLING} is str 'invoice.paid'; expected a list.",
            id="publishes not a list",
        ),
        pytest.param(
            MODULE + 'publishes = ["invoice.paid", "Invoice Paid"]\n',
            f"Module 'billing' ({IN_BILLING}) declares it publishes 'Invoice Paid', which is no "
            "event type: expected dotted lowercase words such as 'therapy_session.scheduled', or "
            "a pattern such as 'therapy_session.*'. Rename it.",
            id="publishes not event types",
        ),
        pytest.param(
            MODULE + "publishes = [1]\n",
            f"Module 'billing' ({IN_BILLING}) declares it publishes 1, which is no event type: "
            "expected dotted lowercase words such as 'therapy_session.scheduled', or a pattern "
            "such as 'therapy_session.*'. Rename it.",
            id="publishes not strings",
        ),
        pytest.param(
            MODULE + '[tool.aura.boundaries.couplings]\ncall = "get_model"\n',
            f"couplings in [tool.aura.boundaries] {IN} is dict {{'call': 'get_model'}}; "
            "expected a list. Write each entry as its own [[tool.aura.boundaries.couplings]] "
            "table.",
            id="couplings not an array of tables",
        ),
        pytest.param(
            MODULE + "[[tool.aura.boundaries.couplings]]\ncall = 'get_model'\nargument = true\n",
            f"argument in couplings[0] in [tool.aura.boundaries] {IN} is bool True; expected a "
            "number.",
            id="argument a boolean",
        ),
        pytest.param(
            MODULE + "[[tool.aura.boundaries.couplings]]\ncall = 'get_model'\nargument = -1\n",
            f"couplings[0] in [tool.aura.boundaries] {IN} has argument = -1; expected 0 or more.",
            id="argument negative",
        ),
        pytest.param(
            '[tool.aura.boundaries.modules.billing]\ndepends_on = ["users"]\n',
            f"{IN_BILLING} has no `package`: say which package is the module, e.g. "
            'package = "shop.billing".',
            id="missing package",
        ),
        pytest.param(
            '[tool.aura.boundaries.modules.billing]\npackage = "shop/billing"\n',
            f"package in {IN_BILLING} is 'shop/billing', which is not a dotted package name; "
            'expected e.g. "shop.billing".',
            id="package not dotted",
        ),
        pytest.param(
            '[tool.aura.boundaries.modules.Billing]\npackage = "shop.billing"\n',
            f"[tool.aura.boundaries.modules.Billing] {IN} names the module 'Billing'; module "
            "names are lower-case identifiers such as 'billing' or 'user_accounts'.",
            id="module name not lower-case",
        ),
        pytest.param(
            '[tool.aura.boundaries]\nlayers = ["api | domain : infrastructure"]\n' + MODULE,
            f"layers in [tool.aura.boundaries] {IN} has 'api | domain : infrastructure'; "
            + LAYERS_ADVICE,
            id="layer mixing | and :",
        ),
        pytest.param(
            '[tool.aura.boundaries]\nlayers = ["routes | handlers", "service", "models", '
            '"service"]\n' + MODULE,
            f"layers in [tool.aura.boundaries] {IN} names the layer 'service' twice (both "
            "'service' and 'service'); a sub-package is in one layer. Remove one of them.",
            id="layer listed twice",
        ),
        pytest.param(
            MODULE + 'layers = ["api | domain", "domain"]\n',
            f"layers in {IN_BILLING} names the layer 'domain' twice (both 'api | domain' and "
            "'domain'); a sub-package is in one layer. Remove one of them.",
            id="layer in a tier and alone",
        ),
        pytest.param(
            MODULE + 'layers = ["api | api"]\n',
            f"layers in {IN_BILLING} names the layer 'api' twice ('api | api'); a sub-package "
            "is in one layer. Remove one of them.",
            id="layer twice in one tier",
        ),
        pytest.param(
            MODULE + 'layers = ["api-v1", "domain"]\n',
            f"layers in {IN_BILLING} has 'api-v1'; " + LAYERS_ADVICE,
            id="layer not a name",
        ),
        pytest.param(
            MODULE + 'layers = ["api |", "domain"]\n',
            f"layers in {IN_BILLING} has 'api |'; " + LAYERS_ADVICE,
            id="layer with an empty sibling",
        ),
        pytest.param(
            MODULE + 'interface = ["api/v1"]\n',
            f"interface in {IN_BILLING} lists 'api/v1'; expected sub-package names relative to "
            'the module, such as "api" or "api.v1", or "." for the package itself.',
            id="interface not dotted",
        ),
        pytest.param(
            MODULE
            + "[[tool.aura.boundaries.couplings]]\ncall = 'get_model'\npattern = '^(\\w+)'\n",
            f"couplings[0] in [tool.aura.boundaries] {IN} has pattern = '^(\\\\w+)', which has no "
            "group named 'module'; write the part that names the module as (?P<module>...), "
            "e.g. '^(?P<module>\\w+)\\.'.",
            id="pattern without a module group",
        ),
        pytest.param(
            MODULE
            + "[[tool.aura.boundaries.couplings]]\ncall = 'get_model'\npattern = '^(?P<module>'\n",
            f"couplings[0] in [tool.aura.boundaries] {IN} has pattern = '^(?P<module>', which is "
            "not a regular expression (missing ), unterminated subpattern at position 1).",
            id="pattern not a regular expression",
        ),
        pytest.param(
            MODULE + "[[tool.aura.boundaries.couplings]]\ncall = 'apps.get_model()'\n",
            f"couplings[0] in [tool.aura.boundaries] {IN} has call = 'apps.get_model()'; "
            'expected the called name, or a dotted suffix of it, such as "get_model" or '
            '"apps.get_model".',
            id="call not a name",
        ),
        pytest.param(
            MODULE + "[[tool.aura.boundaries.couplings]]\nargument = 1\n",
            f"couplings[0] in [tool.aura.boundaries] {IN} has no `call`; expected the called "
            'name, or a dotted suffix of it, such as "get_model" or "apps.get_model".',
            id="call missing",
        ),
        pytest.param(
            MODULE + 'depends_on = ["user"]\n'
            '[tool.aura.boundaries.modules.users]\npackage = "shop.users"\n',
            f"depends_on of module 'billing' ({BILLING}) names 'user', which is not a module. "
            "Modules: billing, users. Did you mean 'users'?",
            id="depends_on naming an unknown module",
        ),
        pytest.param(
            MODULE + 'depends_on = ["billing"]\n',
            f"Module 'billing' ({BILLING}) lists itself in depends_on. Remove it.",
            id="depends_on naming itself",
        ),
        pytest.param(
            MODULE + '[tool.aura.boundaries.modules.payments]\npackage = "shop.billing"\n',
            "Modules 'billing' and 'payments' are both declared as package 'shop.billing' "
            f"({BILLING}; pyproject.toml [tool.aura.boundaries.modules.payments]). Give each "
            "module its own package.",
            id="two modules with one package",
        ),
        pytest.param(
            MODULE + 'labels = ["users"]\n'
            '[tool.aura.boundaries.modules.users]\npackage = "shop.users"\n',
            f"labels of module 'billing' ({BILLING}) hold 'users', which already names module "
            "'users' (pyproject.toml [tool.aura.boundaries.modules.users]). Give each label to "
            "one module only.",
            id="a label naming another module",
        ),
        pytest.param(
            '[tool.aura.boundaries]\nsource_roots = ["src"]\n' + MODULE,
            f"source_roots in [tool.aura.boundaries] {IN} names 'src', but <root>/src is not a "
            "folder. Name the folders that hold your top-level packages, relative to "
            'pyproject.toml (["."] or ["src"]).',
            id="source root missing",
        ),
        pytest.param(
            '[tool.aura.boundaries]\nsource_roots = "src"\n' + MODULE,
            f"source_roots in [tool.aura.boundaries] {IN} is str 'src'; expected a list.",
            id="source roots not a list",
        ),
        pytest.param(
            '[tool.aura.boundaries.modules.billing]\npackage = "shop.billings"\n',
            f"Module 'billing' ({BILLING}) is the package 'shop.billings', but there is no "
            "Python file at ./shop/billings(.py). Correct `package`, or add the folder that "
            "holds it to source_roots in [tool.aura.boundaries].",
            id="package not found",
        ),
    ],
)
def test_a_malformed_table_is_refused_with_what_is_expected(
    tmp_path: Path, pyproject: str, message: str
) -> None:
    assert malformed(tmp_path, pyproject) == message


def test_labels_of_two_modules_may_not_be_the_same(tmp_path: Path) -> None:
    pyproject = (
        MODULE + 'labels = ["money"]\n'
        '[tool.aura.boundaries.modules.users]\npackage = "shop.users"\nlabels = ["money"]\n'
    )

    assert malformed(tmp_path, pyproject) == (
        "labels of module 'users' (pyproject.toml [tool.aura.boundaries.modules.users]) hold "
        f"'money', which already names module 'billing' ({BILLING}). Give each label to one "
        "module only."
    )


def test_a_package_missing_from_a_src_layout_names_the_folder_looked_in(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    pyproject = '[tool.aura.boundaries]\nsource_roots = ["src"]\n' + MODULE

    assert malformed(tmp_path, pyproject) == (
        f"Module 'billing' ({BILLING}) is the package 'shop.billing', but there is no Python "
        "file at src/shop/billing(.py). Correct `package`, or add the folder that holds it to "
        "source_roots in [tool.aura.boundaries]."
    )


# --- nothing to check --------------------------------------------------------------------------


def test_a_table_without_modules_is_an_error_not_a_clean_check(tmp_path: Path) -> None:
    project(tmp_path, '[tool.aura.boundaries]\nlayers = ["api", "domain"]\n')

    assert error_of(tmp_path) == (
        f"No modules to check: [tool.aura.boundaries] in {tmp_path}/pyproject.toml declares none"
        + NO_MODULES_ADVICE
    )


def test_a_declarations_package_without_module_declarations_is_named(tmp_path: Path) -> None:
    project(tmp_path, '[tool.aura]\nmodules = "modules"\n', "modules", "modules.billing")

    assert error_of(tmp_path) == (
        f"No modules to check: [tool.aura.boundaries] in {tmp_path}/pyproject.toml declares none "
        "and no Module(...) was found in the packages under 'modules'" + NO_MODULES_ADVICE
    )


def test_a_project_without_pyproject_has_no_modules_to_check(tmp_path: Path) -> None:
    assert error_of(tmp_path) == (
        "No modules to check: [tool.aura.boundaries] declares none" + NO_MODULES_ADVICE
    )


# --- what the map holds ------------------------------------------------------------------------


def test_a_module_inside_another_modules_package_is_the_innermost_ones(tmp_path: Path) -> None:
    pyproject = (
        '[tool.aura.boundaries.modules.shop]\npackage = "shop"\n'
        '[tool.aura.boundaries.modules.billing]\npackage = "shop.billing"\n'
        '[tool.aura.boundaries.modules.tax]\npackage = "shop.billing.tax"\n'
    )
    project(tmp_path, pyproject, "shop", "shop.billing", "shop.billing.tax.rates")
    write(tmp_path, {"shop/billing/invoices.py": "", "shop/billing/tax.py": ""})

    module_map = load(tmp_path)

    assert {
        spec.name: sorted(file.dotted for file in spec.files) for spec in module_map.modules
    } == {
        "billing": ["shop.billing", "shop.billing.invoices"],
        "shop": ["shop"],
        "tax": ["shop.billing.tax", "shop.billing.tax.rates"],
    }
    assert module_map.module_of("shop.billing.tax.rates.vat") == module_map["tax"]
    assert module_map.module_of("shop.billing.taxes") == module_map["billing"]
    assert module_map.module_of("shop") == module_map["shop"]
    assert module_map.module_of("shopping") is None
    assert module_map.module_of_path(tmp_path / "shop/billing/tax/rates") == module_map["tax"]
    assert module_map.module_of_path(Path("shop/billing/invoices.py")) == module_map["billing"]
    assert module_map.module_of_path(tmp_path / "elsewhere.py") is None


def test_exclude_globs_leave_out_files_and_whole_folders(tmp_path: Path) -> None:
    pyproject = (
        '[tool.aura.boundaries]\nexclude = ["*/migrations", "*_test.py"]\n'
        '[tool.aura.boundaries.modules.billing]\npackage = "shop.billing"\n'
    )
    project(tmp_path, pyproject, "shop.billing", "shop.billing.migrations")
    write(
        tmp_path,
        {
            "shop/billing/models.py": "",
            "shop/billing/models_test.py": "",
            "shop/billing/migrations/0001_initial.py": "",
        },
    )

    files = [file.dotted for file in load(tmp_path)["billing"].files]

    assert files == ["shop.billing", "shop.billing.models"]


def test_a_module_of_namespace_packages_holds_every_file_below_it(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.aura.boundaries.modules.billing]\npackage = "shop.billing"\n',
            "shop/billing/invoices.py": "",
            "shop/billing/handlers/on_signup.py": "",
            "shop/billing/__pycache__/invoices.cpython-311.pyc": "",
            "shop/billing/.hidden/secret.py": "",
            "shop/billing/README.md": "",
        },
    )

    module_map = load(tmp_path)

    assert sorted((file.dotted, file.package) for file in module_map["billing"].files) == [
        ("shop.billing.handlers.on_signup", False),
        ("shop.billing.invoices", False),
    ]


def test_a_module_may_be_a_single_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.aura.boundaries.modules.billing]\npackage = "billing"\n',
            "billing.py": "",
        },
    )

    files = load(tmp_path)["billing"].files

    assert [(file.path, file.dotted, file.package) for file in files] == [
        ((tmp_path / "billing.py").resolve(), "billing", False)
    ]


def test_interfaces_and_layers_are_read_into_the_spec(tmp_path: Path) -> None:
    pyproject = (
        '[tool.aura.boundaries]\nlayers = ["api", "application | infrastructure", "domain"]\n'
        '[tool.aura.boundaries.modules.billing]\npackage = "shop.billing"\n'
        'interface = [".", "api", ".events"]\n'
        '[tool.aura.boundaries.modules.users]\npackage = "shop.users"\n'
        'layers = ["views : forms", "models"]\n'
    )
    layers = ("api", "events", "application", "infrastructure", "domain")
    project(
        tmp_path,
        pyproject,
        "shop.billing",
        "shop.users",
        *(f"shop.billing.{name}" for name in layers),
        *(f"shop.users.{name}" for name in ("views", "forms", "models")),
    )

    module_map = load(tmp_path)
    billing, users = module_map["billing"], module_map["users"]

    assert billing.interface == ("shop.billing", "shop.billing.api", "shop.billing.events")
    assert billing.layers == (
        Layer(("api",)),
        Layer(("application", "infrastructure"), independent=True),
        Layer(("domain",)),
    )
    assert users.layers == (Layer(("views", "forms"), independent=False), Layer(("models",)))
    assert users.interface == ("shop.users",)
    assert [billing.published(name) for name in ("shop.billing", "shop.billing.api.v1")] == [
        True,
        True,
    ]
    assert [billing.published(name) for name in ("shop.billing.domain", "shop.billingx")] == [
        False,
        False,
    ]
    assert billing.layer_of("shop.billing.infrastructure.db") == 1
    assert billing.layer_of("shop.billing") is None
    assert billing.layer_of("shop.billing.wiring") is None


def test_couplings_are_read_with_their_defaults(tmp_path: Path) -> None:
    pyproject = MODULE + (
        "[[tool.aura.boundaries.couplings]]\ncall = 'apps.get_model'\n"
        "[[tool.aura.boundaries.couplings]]\ncall = 'ForeignKey'\nkeyword = 'to'\n"
        "[[tool.aura.boundaries.couplings]]\ncall = 'ForeignKey'\nargument = 0\nkeyword = 'to'\n"
        "pattern = '^(?P<module>\\w+)\\.'\n"
    )
    project(tmp_path, pyproject, "shop.billing")

    couplings = load(tmp_path).couplings

    assert couplings == (
        Coupling("apps.get_model", 0, None, r"^(?P<module>\w+)"),
        Coupling("ForeignKey", None, "to", r"^(?P<module>\w+)"),
        Coupling("ForeignKey", 0, "to", r"^(?P<module>\w+)\."),
    )
    assert couplings[2].module_label("billing.Invoice") == "billing"
    assert couplings[2].module_label("Invoice") is None


def test_the_map_renders_as_aura_modules_prints_it(tmp_path: Path) -> None:
    write(tmp_path, SOURCE_FORM)

    assert load(tmp_path).render_text() == (
        "2 modules, 3 files:\n"
        "\n"
        "billing (modules.billing, 1 file)\n"
        "  declared in: modules/billing/__init__.py:3\n"
        "  depends on:  users\n"
        "  interface:   modules.billing\n"
        "  publishes:   invoice.paid\n"
        "\n"
        "users (modules.users, 2 files)\n"
        "  declared in: modules/users/__init__.py:3\n"
        "  depends on:  (nothing)\n"
        "  interface:   modules.users\n"
        "  publishes:   user.registered, user.deactivated"
    )


def test_a_spec_without_declarations_is_known_by_its_name() -> None:
    spec = ModuleSpec("billing", "shop.billing")

    assert spec.origin == "billing"
    assert spec.to_dict()["publishes"] is None


def test_a_declarations_package_that_is_not_in_the_project_is_named(tmp_path: Path) -> None:
    write(tmp_path, {**SOURCE_FORM})
    with pytest.raises(ConfigurationError) as caught:
        load(tmp_path, declarations="modules_typo")
    assert str(caught.value) == (
        "The modules package 'modules_typo' (the given modules package) is not in the project: "
        "there is no folder modules_typo. Correct the package name, or add the folder that "
        "holds it to source_roots in [tool.aura.boundaries]."
    )
    write(tmp_path, {"pyproject.toml": '[tool.aura]\nmodules = "shop.modules"\n'})
    with pytest.raises(ConfigurationError) as caught:
        load(tmp_path)
    assert str(caught.value) == (
        f"The modules package 'shop.modules' (modules in [tool.aura] in {tmp_path}/pyproject.toml)"
        " is not in the project: there is no folder shop/modules. Correct the package name, or "
        "add the folder that holds it to source_roots in [tool.aura.boundaries]."
    )


def test_a_src_layout_is_found_without_source_roots(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.aura.boundaries.modules.users]\npackage = "shop.users"\n',
            "src/shop/users/__init__.py": "",
        },
    )
    module_map = load(tmp_path)
    assert module_map.source_roots == (tmp_path, tmp_path / "src")
    assert [file.dotted for file in module_map["users"].files] == ["shop.users"]


def test_a_layer_or_interface_that_names_nothing_in_the_tree_is_an_error(tmp_path: Path) -> None:
    pyproject = (
        '[tool.aura.boundaries]\nlayers = ["api", "servcie", "models"]\n'
        '[tool.aura.boundaries.modules.users]\npackage = "shop.users"\n'
    )
    packages = ("shop.users", "shop.users.api", "shop.users.service", "shop.users.models")
    project(tmp_path, pyproject, *packages)
    assert error_of(tmp_path) == (
        "The layers of users (pyproject.toml [tool.aura.boundaries.modules.users]) name "
        "'servcie', which is no sub-package of that module: their sub-packages are api, models, "
        "service. Correct the layer's name."
    )
    project(
        tmp_path,
        '[tool.aura.boundaries.modules.users]\npackage = "shop.users"\ninterface = ["nope"]\n',
        *packages,
    )
    assert error_of(tmp_path) == (
        "interface of module 'users' (pyproject.toml [tool.aura.boundaries.modules.users]) lists "
        "'nope', but shop.users has no sub-package or file 'nope'. Its sub-packages: api, "
        "models, service. Correct the name."
    )


def test_an_exclude_that_leaves_a_module_no_file_says_so(tmp_path: Path) -> None:
    project(
        tmp_path,
        '[tool.aura.boundaries]\nexclude = ["shop/billing"]\n'
        '[tool.aura.boundaries.modules.billing]\npackage = "shop.billing"\n',
        "shop.billing",
    )
    assert error_of(tmp_path) == (
        "Module 'billing' (pyproject.toml [tool.aura.boundaries.modules.billing]) has no file "
        "left to check: exclude in [tool.aura.boundaries] ('shop/billing') leaves out every file "
        "of 'shop.billing'. Narrow the pattern, or remove the module from the map."
    )
