"""The boundary checks on planted projects: each violation found exactly, each fix checks clean.

Every project is one file of ``tests/architecture/corpus/`` (see its ``__init__``), written into
a temporary folder and checked the way ``aura check`` does: the map loaded from its
``pyproject.toml``, the source scanned, never imported. A finding reads as one line:
``path:line: [rule] message; fix``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aura.architecture.boundaries import (
    SOURCE,
    BoundaryReport,
    Usage,
    check_boundaries,
    module_usages,
)
from aura.architecture.modulemap import ModuleMap, load_module_map
from aura.architecture.sources import CACHE_DIR
from aura.config import load_config
from aura.findings import Finding

from .corpus import build, cases

PYTHON = f"Python {sys.version_info.major}.{sys.version_info.minor}"
BILLING = "pyproject.toml [tool.aura.boundaries.modules.billing]"
USERS = "pyproject.toml [tool.aura.boundaries.modules.users]"
ORDERS = "pyproject.toml [tool.aura.boundaries.modules.orders]"


def module_map(root: Path) -> ModuleMap:
    return load_module_map(load_config(root, search_parents=False))


def check(case: str, root: Path, *, fixed: bool = False) -> BoundaryReport:
    return check_boundaries(module_map(build(case, root, fixed=fixed)), cache=False)


def lines(report: BoundaryReport) -> list[str]:
    """Each finding as ``path:line: [rule] message; fix``."""
    return [
        f"{finding.location}: [{finding.rule}] {finding.message}; {finding.fix}"
        for finding in report.findings
    ]


def internal(target: str, relative: str, published: str = "shop.users, shop.users.api") -> str:
    return (
        f"[internal-import] billing uses {target}; {target} is internal to users, which "
        f"publishes {published}: import from there, or add {relative!r} to interface of users "
        f"({USERS})"
    )


def undeclared_import(target: str, module: str = "billing", *, of: str = "users") -> str:
    origin = f"pyproject.toml [tool.aura.boundaries.modules.{module}]"
    return (
        f"[undeclared-dependency] {module} uses {target}; {module} does not declare {of!r} in "
        f"depends_on: add it ({origin}), or stop importing {of}"
    )


def syntax_error(path: str, error: str) -> str:
    return (
        f"[syntax-error] billing has a file {PYTHON} cannot parse ({error}); fix the file, or "
        "run the check with the Python version the project targets; an unparsed file is never "
        "skipped"
    )


# --- every planted project, fixed, checks clean --------------------------------------------------


@pytest.mark.parametrize("case", cases())
def test_the_fixed_variant_of_every_planted_project_has_no_finding(
    case: str, tmp_path: Path
) -> None:
    report = check(case, tmp_path, fixed=True)

    assert lines(report) == []
    assert report.modules >= 1
    assert report.files >= 1


@pytest.mark.parametrize("case", cases())
def test_every_planted_project_has_findings(case: str, tmp_path: Path) -> None:
    if case == "new_syntax" and sys.version_info >= (3, 12):
        pytest.skip("a `type` statement parses from Python 3.12")
    report = check(case, tmp_path)

    assert report.findings
    assert {finding.source for finding in report.findings} == {SOURCE}


def test_the_corpus_plants_a_violation_of_every_rule(tmp_path: Path) -> None:
    rules = {finding.rule for case in cases() for finding in check(case, tmp_path / case).findings}

    assert rules == {
        "undeclared-dependency",
        "internal-import",
        "layer",
        "dependency-cycle",
        "unknown-module",
        "event-without-publisher",
        "undeclared-event",
        "syntax-error",
        "unused-dependency",
    }


# --- imports -------------------------------------------------------------------------------------


def test_an_import_of_an_undeclared_module_is_found_with_the_declaration_to_add(
    tmp_path: Path,
) -> None:
    report = check("undeclared_import", tmp_path)

    assert lines(report) == [f"shop/billing/__init__.py:3: {undeclared_import('shop.users')}"]
    assert report.findings[0] == Finding(
        source=SOURCE,
        module="billing",
        rule="undeclared-dependency",
        subject="users shop.users",
        message="billing uses shop.users",
        fix=(
            f"billing does not declare 'users' in depends_on: add it ({BILLING}), or stop "
            "importing users"
        ),
        location="shop/billing/__init__.py:3",
    )
    assert report.usages == (
        Usage("billing", "users", "shop.users", "shop/billing/__init__.py", 3, "import"),
    )


def test_imports_of_internal_sub_packages_are_found_in_every_form(tmp_path: Path) -> None:
    report = check("internal_import", tmp_path)

    assert lines(report) == [
        "shop/billing/__init__.py:1: "
        + internal("shop.users.internal.passwords", "internal.passwords"),
        "shop/billing/__init__.py:2: " + internal("shop.users.internal", "internal"),
        "shop/billing/__init__.py:3: " + internal("shop.users.internal.models", "internal.models"),
        "shop/billing/__init__.py:4: " + internal("shop.users.internal.models", "internal.models"),
        "shop/billing/invoices.py:1: "
        + internal("shop.users.internal.passwords", "internal.passwords"),
        "shop/billing/invoices.py:2: " + internal("shop.users.internal", "internal"),
    ]


def test_imports_inside_functions_classes_and_type_checking_blocks_count(
    tmp_path: Path,
) -> None:
    report = check("nested_imports", tmp_path)

    assert lines(report) == [
        f"shop/billing/__init__.py:{line}: {undeclared_import(target)}"
        for line, target in [
            (6, "shop.users.api.models"),  # if TYPE_CHECKING:
            (10, "shop.users"),  # in a function
            (15, "shop.users.api.cache"),  # in a method
            (18, "shop.users.api.tasks"),  # try
            (20, "shop.users.api.locks"),  # except
            (27, "shop.users.api.events"),  # with
            (30, "shop.users.api.loops"),  # for, while
            (34, "shop.users.api.models"),  # match case
        ]
    ]


def test_a_src_layout_is_checked_from_its_source_roots(tmp_path: Path) -> None:
    report = check("src_layout", tmp_path)

    assert lines(report) == [f"src/shop/billing/__init__.py:1: {undeclared_import('shop.users')}"]
    assert report.files == 2  # src/shop/__init__.py belongs to no module


def test_files_of_namespace_packages_are_code_of_their_module(tmp_path: Path) -> None:
    report = check("namespace_package", tmp_path)

    place = "shop/billing/handlers/on_signup.py"
    assert lines(report) == [
        f"{place}:1: "
        + internal("shop.users.internal.tokens", "internal.tokens", "shop.users.accounts"),
        f"{place}:2: " + internal("shop.users.internal", "internal", "shop.users.accounts"),
    ]
    assert report.files == 3


# --- layers --------------------------------------------------------------------------------------


def test_a_layer_importing_one_above_it_or_an_independent_sibling_is_found(
    tmp_path: Path,
) -> None:
    report = check("layers", tmp_path)

    billing = "api > application | infrastructure > domain"
    advice = "move the code, or depend on an abstraction in a lower layer"
    assert lines(report) == [
        "shop/billing/application/__init__.py:2: [layer] billing.application uses "
        f"shop.billing.infrastructure; application and infrastructure are independent layers "
        f"in billing ({billing}): {advice}",
        "shop/billing/domain/rules.py:1: [layer] billing.domain uses shop.billing.api; the "
        f"domain layer is below api in billing ({billing}): {advice}",
        "shop/catalog/models.py:1: [layer] catalog.models uses shop.catalog.views; the models "
        f"layer is below views in catalog (views : forms > models): {advice}",
    ]


# --- cycles --------------------------------------------------------------------------------------


def test_a_cycle_between_modules_is_found_with_its_path_and_the_place_of_each_step(
    tmp_path: Path,
) -> None:
    report = check("cycle", tmp_path)

    assert lines(report) == [
        f"shop/users/__init__.py:2: {undeclared_import('shop.orders', 'users', of='orders')}",
        ": [dependency-cycle] modules billing, orders, users depend on each other: "
        "billing -> users -> orders -> billing; break the cycle ("
        "billing -> users: shop/billing/__init__.py:3; "
        "users -> orders: shop/users/__init__.py:2; "
        "orders -> billing: shop/orders/__init__.py:1): let one module react to another's "
        "events, or move the shared code into a module both depend on",
    ]
    assert report.findings[-1].module == "billing"
    assert report.findings[-1].key == "dependency-cycle billing billing orders users"


def test_a_cycle_of_declarations_alone_is_placed_at_the_declarations(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.aura.boundaries.modules.orders]\n"
        'package = "orders"\n'
        'depends_on = ["billing"]\n'
        "[tool.aura.boundaries.modules.billing]\n"
        'package = "billing"\n'
        'depends_on = ["orders"]\n',
        encoding="utf-8",
    )
    (tmp_path / "orders.py").write_text("", encoding="utf-8")
    (tmp_path / "billing.py").write_text("", encoding="utf-8")

    report = check_boundaries(module_map(tmp_path), cache=False)

    def unused(line: int, module: str, other: str, origin: str) -> str:
        return (
            f"pyproject.toml:{line}: [unused-dependency] {module} declares depends_on {other!r}, "
            f"but its code never uses {other} (no import, service lookup or coupling); remove "
            f"{other!r} from depends_on of {module} ({origin}); a module needs no dependency to "
            "subscribe to another module's events"
        )

    # The declarations alone make the cycle, and neither is used: both are reported, each at
    # its depends_on line.
    assert lines(report) == [
        unused(3, "orders", "billing", ORDERS),
        unused(6, "billing", "orders", BILLING),
        ": [dependency-cycle] modules billing, orders depend on each other: "
        "billing -> orders -> billing; break the cycle ("
        f"billing -> orders: declared in {BILLING}; orders -> billing: declared in {ORDERS}): "
        "let one module react to another's events, or move the shared code into a module "
        "both depend on",
    ]


# --- lookups -------------------------------------------------------------------------------------


def test_a_lookup_of_an_undeclared_module_is_found_in_every_spelling(tmp_path: Path) -> None:
    report = check("lookup_undeclared", tmp_path)

    finding = (
        "[undeclared-dependency] billing uses users.UserService (service_registry.get_service); "
        f"billing does not declare 'users' in depends_on: add it ({BILLING}), or react to the "
        "events of users instead of calling it"
    )
    assert lines(report) == [f"shop/billing/__init__.py:{line}: {finding}" for line in (7, 8, 9)]
    assert [usage.kind for usage in report.usages] == ["lookup"] * 3


def test_resolving_another_modules_service_by_its_container_name_is_found(
    tmp_path: Path,
) -> None:
    report = check("resolve_service", tmp_path)

    finding = (
        "[undeclared-dependency] billing uses users.UserService (resolve); billing does not "
        "declare 'users' in depends_on: add it (modules/billing/__init__.py:3), or react to the "
        "events of users instead of calling it"
    )
    assert lines(report) == [f"modules/billing/charges.py:{line}: {finding}" for line in (5, 6)]


def test_a_lookup_of_no_module_names_the_modules_there_are(tmp_path: Path) -> None:
    report = check("unknown_module", tmp_path)

    assert lines(report) == [
        "shop/billing/__init__.py:5: [unknown-module] billing uses user.UserService; no module "
        "is named 'user'; look up one of billing, users. Did you mean 'users'?"
    ]


def test_a_dependency_the_code_never_uses_is_unused_and_placed_at_its_declaration(
    tmp_path: Path,
) -> None:
    report = check("unused_dependency", tmp_path)

    assert lines(report) == [
        "pyproject.toml:9: [unused-dependency] billing declares depends_on 'users', but its "
        "code never uses "
        "users (no import, service lookup or coupling); remove 'users' from depends_on of "
        f"billing ({BILLING}); a module needs no dependency to subscribe to another module's "
        "events"
    ]
    assert report.findings[0].key == "unused-dependency billing users"


@pytest.mark.parametrize(
    "use",
    [
        # the module's name from a constant of its own file elsewhere: not readable here
        "from shop.billing.names import USERS\n\n\n"
        "def find(registry):\n    return registry.get_service(USERS, 'UserService')\n",
        # FastAPI's idiom: a type alias of ModuleServices
        "from typing import Annotated\n\nfrom fastapi import Depends\n\n"
        "from aura.integrations.fastapi import ModuleServices, module_services\n\n"
        "Services = Annotated[ModuleServices, Depends(module_services('billing'))]\n\n\n"
        "def route(services: Services):\n    return services.get('users', 'UserService')\n",
    ],
    ids=["module name not a constant", "ModuleServices through an alias"],
)
def test_a_dependency_used_in_ways_the_scan_reads_late_is_not_unused(
    tmp_path: Path, use: str
) -> None:
    build("unused_dependency", tmp_path, fixed=True)
    (tmp_path / "pyproject.toml").write_text(
        (tmp_path / "pyproject.toml")
        .read_text()
        .replace('depends_on = ["orders"]', 'depends_on = ["orders", "users"]')
    )
    (tmp_path / "shop" / "billing" / "names.py").write_text('USERS = "users"\n')
    (tmp_path / "shop" / "billing" / "lookups.py").write_text(use)

    assert check_boundaries(module_map(tmp_path), cache=False).findings == ()


def test_a_module_whose_uses_are_not_all_known_has_no_unused_dependency(tmp_path: Path) -> None:
    build("unused_dependency", tmp_path)
    billing = tmp_path / "shop" / "billing"
    (billing / "broken.py").write_text("def (:\n", encoding="utf-8")

    assert [f.rule for f in check_boundaries(module_map(tmp_path), cache=False).findings] == [
        "syntax-error"
    ]

    (billing / "broken.py").write_text(
        'from aura import service_registry\nservice_registry.get_service("user", "UserService")\n',
        encoding="utf-8",
    )

    assert [f.rule for f in check_boundaries(module_map(tmp_path), cache=False).findings] == [
        "unknown-module"
    ]


# --- events --------------------------------------------------------------------------------------


def test_a_subscription_to_an_event_no_module_publishes_is_found(tmp_path: Path) -> None:
    report = check("event_without_publisher", tmp_path)

    assert lines(report) == [
        "shop/billing/__init__.py:8: [event-without-publisher] billing subscribes to "
        "user.registred; no module declares it publishes 'user.registred': correct the event "
        "type, or declare it in the publishing module's publishes. Did you mean "
        "'user.registered'?"
    ]


def test_a_publish_of_an_event_the_module_does_not_declare_is_found(tmp_path: Path) -> None:
    report = check("undeclared_event", tmp_path)

    assert lines(report) == [
        "shop/billing/__init__.py:9: [undeclared-event] billing publishes invoice.refunded; "
        f"declare it: add 'invoice.refunded' to publishes of billing ({BILLING})"
    ]


def test_events_are_not_judged_when_no_module_declares_what_it_publishes(
    tmp_path: Path,
) -> None:
    build("event_without_publisher", tmp_path)
    pyproject = tmp_path / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("publishes")),
        encoding="utf-8",
    )

    assert lines(check_boundaries(module_map(tmp_path), cache=False)) == []


# --- string couplings ----------------------------------------------------------------------------


def test_django_model_references_by_string_are_couplings(tmp_path: Path) -> None:
    report = check("django_couplings", tmp_path)

    def coupling(module: str, value: str, call: str) -> str:
        return (
            f"[undeclared-dependency] orders uses {value} ({call}); orders does not declare "
            f"{module!r} in depends_on: add it ({ORDERS}), or stop using {module}"
        )

    place = "shop/orders/models.py"
    assert lines(report) == [
        f"{place}:6: " + coupling("billing", "billing.Invoice", "models.ForeignKey"),
        f"{place}:7: " + coupling("users", "accounts.User", "models.ForeignKey"),
        f"{place}:13: " + coupling("billing", "billing.Invoice", "apps.get_model"),
        f"{place}:17: " + coupling("users", "accounts", "apps.get_model"),
    ]
    assert {usage.kind for usage in report.usages} == {"coupling"}


def test_a_container_keyed_by_module_name_is_a_coupling(tmp_path: Path) -> None:
    report = check("container_by_name", tmp_path)

    assert lines(report) == [
        "shop/orders/__init__.py:6: [undeclared-dependency] orders uses billing_service "
        "(self.container.get); orders does not declare 'billing' in depends_on: add it "
        f"({ORDERS}), or stop using billing"
    ]


# --- files that cannot be parsed -----------------------------------------------------------------


def test_a_file_that_cannot_be_parsed_is_reported_with_its_line_and_the_rest_is_checked(
    tmp_path: Path,
) -> None:
    report = check("syntax_error", tmp_path)

    assert lines(report) == [
        "shop/billing/__init__.py:1: " + internal("shop.users.internal", "internal", "shop.users"),
        "shop/billing/amounts.py:3: "
        + syntax_error("shop/billing/amounts.py", "SyntaxError: invalid syntax"),
        "shop/billing/commands.py:3: "
        + syntax_error(
            "shop/billing/commands.py",
            "SyntaxError: positional patterns follow keyword patterns",
        ),
    ]
    assert report.findings[1].subject == "shop/billing/amounts.py"


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="a `type` statement parses from 3.12")
def test_syntax_newer_than_the_interpreter_is_reported_not_skipped(tmp_path: Path) -> None:
    report = check("new_syntax", tmp_path)

    assert lines(report) == [
        "shop/billing/__init__.py:3: "
        + syntax_error("shop/billing/__init__.py", "SyntaxError: invalid syntax")
    ]


# --- what the run covers -------------------------------------------------------------------------


def test_a_module_nested_in_another_owns_its_files_and_is_a_dependency_of_its_own(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.aura.boundaries.modules.billing]\n"
        'package = "shop.billing"\n'
        "[tool.aura.boundaries.modules.tax]\n"
        'package = "shop.billing.tax"\n'
        "[tool.aura.boundaries.modules.invoices]\n"
        'package = "shop.billing.invoices"\n',
        encoding="utf-8",
    )
    (tmp_path / "shop/billing/tax").mkdir(parents=True)
    (tmp_path / "shop/billing/__init__.py").write_text(
        "from shop.billing.tax import rate\nfrom . import invoices\n", encoding="utf-8"
    )
    (tmp_path / "shop/billing/tax/__init__.py").write_text("rate = 0.2\n", encoding="utf-8")
    (tmp_path / "shop/billing/invoices.py").write_text(
        "from shop.billing import tax\n", encoding="utf-8"
    )

    modules = module_map(tmp_path)
    report = check_boundaries(modules, cache=False)

    assert {spec.name: [file.dotted for file in spec.files] for spec in modules.modules} == {
        "billing": ["shop.billing"],
        "invoices": ["shop.billing.invoices"],
        "tax": ["shop.billing.tax"],
    }
    assert lines(report) == [
        "shop/billing/__init__.py:1: " + undeclared_import("shop.billing.tax", of="tax"),
        "shop/billing/__init__.py:2: " + undeclared_import("shop.billing.invoices", of="invoices"),
        "shop/billing/invoices.py:1: "
        + undeclared_import("shop.billing.tax", "invoices", of="tax"),
    ]


def test_module_usages_join_declarations_and_what_the_code_uses(tmp_path: Path) -> None:
    build("cycle", tmp_path)

    assert module_usages(module_map(tmp_path), cache=False) == {
        "billing": {"users"},
        "orders": {"billing"},
        "users": {"orders"},
    }


def test_the_check_writes_its_cache_only_when_asked(tmp_path: Path) -> None:
    build("undeclared_import", tmp_path)
    modules = module_map(tmp_path)

    first = check_boundaries(modules, cache=False)
    assert not (tmp_path / CACHE_DIR).exists()
    second = check_boundaries(modules)  # the map's setting: cache by default

    assert (tmp_path / CACHE_DIR / "boundaries.json").is_file()
    assert second.findings == first.findings
    assert check_boundaries(modules).findings == first.findings


def test_the_cache_can_be_turned_off_in_the_table(tmp_path: Path) -> None:
    build("undeclared_import", tmp_path)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[tool.aura.boundaries]\ncache = false\n" + pyproject.read_text(encoding="utf-8"),
        encoding="utf-8",
    )

    report = check_boundaries(module_map(tmp_path))

    assert len(report.findings) == 1
    assert not (tmp_path / CACHE_DIR).exists()


def test_a_publish_matching_a_declared_pattern_is_declared(tmp_path: Path) -> None:
    build("undeclared_event", tmp_path)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace('"invoice.paid"', '"invoice.*"'),
        encoding="utf-8",
    )
    (tmp_path / "shop/billing/orders.py").write_text(
        'from aura import event_bus\nevent_bus.publish("order.paid", {}, "billing")\n',
        encoding="utf-8",
    )

    assert lines(check_boundaries(module_map(tmp_path), cache=False)) == [
        "shop/billing/orders.py:2: [undeclared-event] billing publishes order.paid; declare it: "
        f"add 'order.paid' to publishes of billing ({BILLING})"
    ]


def test_a_package_that_does_not_publish_itself_says_to_publish_it_as_dot(
    tmp_path: Path,
) -> None:
    build("internal_import", tmp_path, fixed=True)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace('[".", "api"]', '["api"]'),
        encoding="utf-8",
    )

    report = check_boundaries(module_map(tmp_path), cache=False)

    assert lines(report) == [
        "shop/billing/__init__.py:1: " + internal("shop.users", ".", "shop.users.api"),
        "shop/billing/invoices.py:2: " + internal("shop.users", ".", "shop.users.api"),
    ]


# --- review fixes: constants, seed-style packages, other libraries' calls -----------------------


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


AURA_PROJECT = {
    "pyproject.toml": '[tool.aura]\nmodules = "app.modules"\n',
    "app/__init__.py": "",
    "app/modules/__init__.py": "",
    "app/modules/users/__init__.py": (
        "from aura import Module, event_bus\n"
        'USER_CREATED = "user.created"\n'
        'module = Module("users")\n'
        "module.publishes(USER_CREATED)\n"
        "def create():\n"
        "    event_bus.publish(USER_CREATED, {}, 'users')\n"
    ),
    "app/modules/billing/__init__.py": (
        "from aura import Module\n"
        'module = Module("billing")\n'
        '@module.subscribe("user.created")\n'
        "def on_created(data): ...\n"
    ),
}


def test_events_named_by_module_level_constants_are_declared(tmp_path: Path) -> None:
    root = write(tmp_path, AURA_PROJECT)
    found = module_map(root)

    assert found["users"].publishes == ("user.created",)
    assert lines(check_boundaries(found, cache=False)) == []


def test_events_named_by_what_cannot_be_read_leave_the_publishes_unknown(tmp_path: Path) -> None:
    root = write(tmp_path, AURA_PROJECT)
    users = root / "app/modules/users/__init__.py"
    users.write_text(
        users.read_text().replace("module.publishes(USER_CREATED)", "module.publishes(*EVENTS)")
    )
    found = module_map(root)

    assert found["users"].publishes is None
    assert lines(check_boundaries(found, cache=False)) == []  # unknown, so not judged


SEED = (
    "from aura import service_registry\n"
    "def register_services(service_registry):\n"
    '    service_registry.get_service("users", "X")\n'
)


def test_a_seed_style_package_is_a_module_held_to_what_it_declares(tmp_path: Path) -> None:
    root = write(tmp_path, {**AURA_PROJECT, "app/modules/legacy/__init__.py": SEED})
    found = module_map(root)
    origin = (
        "[tool.aura.boundaries.modules.legacy] in pyproject.toml; "
        "app/modules/legacy/__init__.py:2 is seed-style (register_services) and declares nothing"
    )

    assert found["legacy"].origins == (origin,)
    assert lines(check_boundaries(found, cache=False)) == [
        "app/modules/legacy/__init__.py:3: [undeclared-dependency] legacy uses users.X "
        "(service_registry.get_service); legacy does not declare 'users' in depends_on: add it "
        f"({origin}), or react to the events of users instead of calling it"
    ]
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        + '\n[tool.aura.boundaries.modules.legacy]\npackage = "app.modules.legacy"\n'
        'depends_on = ["users"]\n'
    )
    assert lines(check_boundaries(module_map(root), cache=False)) == []


OTHER_LIBRARIES = (
    "import dns.resolver\n"
    'dns.resolver.resolve("users.example.com", "A")\n'
    'redis.pubsub().subscribe("billing-channel")\n'
    'session.get_service("s3")\n'
    'broker.publish("Invoice Paid", {})\n'
)


def test_other_libraries_calls_of_the_same_names_are_not_judged(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {**AURA_PROJECT, "app/modules/billing/clients.py": OTHER_LIBRARIES},
    )
    assert lines(check_boundaries(module_map(root), cache=False)) == []


def test_aura_calls_can_be_turned_off_leaving_the_configured_couplings(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": (
            "[tool.aura.boundaries]\naura_calls = false\n"
            '[tool.aura.boundaries.modules.users]\npackage = "shop.users"\n'
            '[tool.aura.boundaries.modules.billing]\npackage = "shop.billing"\n'
            '[[tool.aura.boundaries.couplings]]\ncall = "get_model"\n'
        ),
        "shop/users/__init__.py": "",
        "shop/billing/__init__.py": (
            'registry.get_service("users", "Users")\napps.get_model("users.User")\n'
        ),
    }
    found = module_map(write(tmp_path, files))

    assert found.call_names == frozenset({"get_model"})
    assert lines(check_boundaries(found, cache=False)) == [
        "shop/billing/__init__.py:2: [undeclared-dependency] billing uses users.User "
        "(apps.get_model); billing does not declare 'users' in depends_on: add it "
        f"({BILLING}), or stop using users"
    ]


DJANGO_COUPLINGS = """
[[tool.aura.boundaries.couplings]]
call = "apps.get_model"
pattern = '^(?P<module>\\w+)\\.'

[[tool.aura.boundaries.couplings]]
call = "apps.get_model"
pattern = '^(?P<module>\\w+)$'

[[tool.aura.boundaries.couplings]]
call = "ForeignKey"
pattern = '^(?P<module>\\w+)\\.'

[[tool.aura.boundaries.couplings]]
call = "ForeignKey"
keyword = "to"
pattern = '^(?P<module>\\w+)\\.'
"""


def test_the_documented_django_couplings_find_every_form(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": (
            '[tool.aura.boundaries.modules.billing]\npackage = "billing"\n'
            '[tool.aura.boundaries.modules.orders]\npackage = "orders"\n' + DJANGO_COUPLINGS
        ),
        "billing/__init__.py": "",
        "orders/__init__.py": "",
        "orders/models.py": (
            "from django.apps import apps\n"
            "from django.db import models\n"
            'apps.get_model("billing.Invoice")\n'
            'apps.get_model("billing", "Invoice")\n'
            'invoice = models.ForeignKey("billing.Invoice", on_delete=models.CASCADE)\n'
            'paid = models.ForeignKey(to="billing.Invoice", on_delete=models.CASCADE)\n'
            'user = models.ForeignKey("auth.User", on_delete=models.CASCADE)\n'
        ),
    }
    report = check_boundaries(module_map(write(tmp_path, files)), cache=False)

    assert [(finding.location, finding.message) for finding in report.findings] == [
        ("orders/models.py:3", "orders uses billing.Invoice (apps.get_model)"),
        ("orders/models.py:4", "orders uses billing (apps.get_model)"),
        ("orders/models.py:5", "orders uses billing.Invoice (models.ForeignKey)"),
        ("orders/models.py:6", "orders uses billing.Invoice (models.ForeignKey)"),
    ]


def test_a_lookup_through_module_services_is_found_in_every_spelling(tmp_path: Path) -> None:
    report = check("module_services", tmp_path)

    finding = (
        "[undeclared-dependency] billing uses users.UserService (ModuleServices.get); billing "
        f"does not declare 'users' in depends_on: add it ({BILLING}), or react to the events of "
        "users instead of calling it"
    )
    # not 14 (a dict's get), nor 35 (a parameter holding a dict; a get whose service is None)
    assert lines(report) == [
        f"shop/billing/__init__.py:{line}: {finding}" for line in (12, 13, 19, 23, 27, 31, 43)
    ]
    assert check("module_services", tmp_path / "fixed", fixed=True).findings == ()
