"""Module declarations and the Platform composition root, on small in-test modules."""

from __future__ import annotations

import asyncio
import sys
import types
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import pytest

import aura
from aura import context
from aura.bus import EventBus
from aura.container import Container
from aura.database import Database
from aura.exceptions import (
    ConfigurationError,
    ContainerError,
    InvalidEventTypeError,
    InvalidNameError,
    ModuleDefinitionError,
    UndeclaredEventError,
    UnknownServiceError,
)
from aura.module import Module, snake_case
from aura.platform import Platform
from aura.publications import DurableJournal
from aura.registry import ServiceRegistry


class GreeterContract(ABC):
    @abstractmethod
    def greet(self, name: str) -> str: ...


class Greeter(GreeterContract):
    def __init__(self, database: Database) -> None:
        self.database = database

    def greet(self, name: str) -> str:
        self.database.execute("INSERT INTO greetings_log (name) VALUES (?)", (name,))
        return f"hello {name}"


def create_tables(database: Database) -> None:
    database.execute("CREATE TABLE IF NOT EXISTS greetings_log (name TEXT)")


class Inbox:
    def __init__(self) -> None:
        self.items: list[tuple[str | None, Any]] = []


def greetings_module() -> Module:
    greetings = Module("greetings", description="says hello")
    greetings.add_service("Greeter", Greeter, contract=GreeterContract)
    greetings.publishes("greeting.sent")
    greetings.on_start(create_tables)
    return greetings


def visitors_module(inbox: Inbox) -> Module:
    visitors = Module("visitors", depends_on=["greetings"])
    visitors.provide(Inbox, lambda: inbox)
    visitors.publishes("visitor.*")

    @visitors.subscribe("greeting.sent")
    def remember(data: dict[str, Any], box: Inbox, registry: ServiceRegistry) -> None:
        greeter = registry.get_service("greetings", "Greeter")
        box.items.append((context.current_module(), greeter.greet(data["name"])))

    return visitors


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def platform(inbox: Inbox) -> Any:
    with Platform([visitors_module(inbox), greetings_module()]) as platform:
        yield platform


# --- assembly ------------------------------------------------------------------------------------


def test_modules_are_applied_in_dependency_order(platform: Platform) -> None:
    assert list(platform.modules) == ["greetings", "visitors"]
    assert repr(platform) == "Platform(modules=['greetings', 'visitors'], database=':memory:')"


def test_the_runtime_is_in_the_container(platform: Platform) -> None:
    container = platform.container
    assert container.resolve(Platform) is platform
    assert container.resolve(EventBus) is platform.bus
    assert container.resolve("service_registry") is platform.registry
    assert container.resolve(Database) is platform.database
    assert container.resolve(Container) is container


def test_services_are_registered_and_resolvable_by_their_seed_name(platform: Platform) -> None:
    assert platform.registry.is_registered("greetings", "Greeter")
    assert isinstance(platform.container.resolve("greeter"), Greeter)
    assert platform.container.resolve("greeter") is platform.container.resolve("greetings.Greeter")


def test_start_runs_hooks_and_a_handler_gets_its_dependencies_injected(
    platform: Platform, inbox: Inbox
) -> None:
    calls: list[Any] = []
    platform.registry.add_observer(calls.append)
    platform.bus.publish("greeting.sent", {"name": "ada"}, "greetings")
    assert inbox.items == [("visitors", "hello ada")]
    assert platform.database.query("SELECT name FROM greetings_log")[0]["name"] == "ada"
    assert [(c.caller_module, c.provider_module, c.method) for c in calls] == [
        ("visitors", "greetings", "greet")
    ]
    assert platform.bus.dead_letters() == []


def test_a_handler_keeps_its_name_for_dead_letters(inbox: Inbox) -> None:
    failing = Module("failing")

    @failing.subscribe("greeting.sent")
    def explode(data: dict[str, Any], box: Inbox) -> None:
        raise RuntimeError("boom")

    failing.provide(Inbox, lambda: inbox)
    with Platform([greetings_module(), failing]) as platform:
        platform.bus.publish("greeting.sent", {"name": "x"}, "greetings")
        [letter] = platform.bus.dead_letters()
    assert letter.handler_name.endswith(
        "test_a_handler_keeps_its_name_for_dead_letters.<locals>.explode"
    )
    assert letter.subscriber_module == "failing"


def test_async_handlers_get_their_dependencies_too(inbox: Inbox) -> None:
    listeners = Module("listeners")
    listeners.provide(Inbox, lambda: inbox)

    @listeners.subscribe("greeting.sent")
    async def remember(data: dict[str, Any], box: Inbox) -> None:
        await asyncio.sleep(0)
        box.items.append((context.current_module(), data["name"]))

    with Platform([greetings_module(), listeners]) as platform:
        asyncio.run(platform.bus.apublish("greeting.sent", {"name": "bo"}, "greetings"))
    assert inbox.items == [("listeners", "bo")]


def test_a_handler_without_extra_parameters_is_subscribed_as_is() -> None:
    def handler(data: dict[str, Any]) -> None:
        pass

    plain = Module("plain")
    plain.subscribe("greeting.sent")(handler)
    with Platform([plain]) as platform:
        [subscription] = platform.bus.subscriptions("greeting.sent")
        assert subscription.handler is handler


def test_a_module_may_publish_only_what_it_declares(platform: Platform) -> None:
    platform.bus.publish("visitor.arrived", {}, "visitors")
    with pytest.raises(UndeclaredEventError) as caught:
        platform.bus.publish("payment.completed", {"payment_id": 1}, "visitors")
    assert str(caught.value) == (
        "Module 'visitors' published 'payment.completed', which it does not declare. It "
        "declares: visitor.*. Add visitors.publishes('payment.completed') to the module's "
        "declaration."
    )


def test_events_may_flow_against_the_dependency_direction(platform: Platform) -> None:
    seen: list[Any] = []
    platform.bus.subscribe("visitor.arrived", seen.append, "greetings")
    platform.bus.publish("visitor.arrived", {"who": "x"}, "visitors")
    assert seen == [{"who": "x"}]


def test_the_platform_can_become_the_process_default(platform: Platform) -> None:
    with platform.as_default():
        assert aura.service_registry.is_registered("greetings", "Greeter")
        assert aura.get_container() is platform.container
    assert not aura.service_registry.is_registered("greetings", "Greeter")


def test_close_closes_the_database_and_is_idempotent(inbox: Inbox) -> None:
    platform = Platform([greetings_module()]).start()
    assert platform.started
    platform.close()
    platform.close()
    assert platform.closed
    assert platform.database.closed
    with pytest.raises(ModuleDefinitionError) as caught:
        platform.start()
    assert str(caught.value) == (
        "This platform is closed; it cannot start again. Build a new Platform."
    )


def test_start_twice_runs_the_hooks_once() -> None:
    runs: list[int] = []
    counted = Module("counted")
    counted.on_start(lambda: runs.append(1))
    with Platform([counted]) as platform:
        platform.start()
    assert runs == [1]


def test_a_file_database_is_used_when_given(tmp_path: Path) -> None:
    path = tmp_path / "platform.db"
    with Platform([greetings_module()], database=path) as platform:
        platform.registry.get_service("greetings", "Greeter").greet("file")
    with Database(path) as database:
        assert database.query("SELECT name FROM greetings_log")[0]["name"] == "file"


# --- the seed's register_services convention and discovery ---------------------------------------


def _package(name: str, **attributes: Any) -> types.ModuleType:
    package = types.ModuleType(name)
    for key, value in attributes.items():
        setattr(package, key, value)
    return package


def test_a_package_with_register_services_joins_as_a_module() -> None:
    def register_services(service_registry: ServiceRegistry) -> None:
        service_registry.register_service(
            module_name="legacy", service_name="Greeter", service_class=Greeter
        )

    with Platform([_package("app.legacy", register_services=register_services)]) as platform:
        assert list(platform.modules) == ["legacy"]
        assert platform.registry.is_registered("legacy", "Greeter")
        platform.bus.publish("anything.goes", {}, "legacy")  # seed modules declare nothing


def test_a_package_with_a_module_attribute_and_register_services_uses_both() -> None:
    declared = Module("both")
    declared.publishes("both.done")

    def register_services(service_registry: ServiceRegistry) -> None:
        service_registry.register_service("both", "Greeter", Greeter)

    package = _package("both", module=declared, register_services=register_services)
    with Platform([package]) as platform:
        assert platform.registry.is_registered("both", "Greeter")


def test_discover_finds_module_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "shop"
    (root / "orders").mkdir(parents=True)
    (root / "legacy").mkdir()
    (root / "helpers").mkdir()
    (root / "__init__.py").write_text("")
    (root / "orders" / "__init__.py").write_text(
        "from aura.module import Module\nmodule = Module('orders')\n"
    )
    (root / "legacy" / "__init__.py").write_text(
        "def register_services(service_registry):\n    pass\n"
    )
    (root / "helpers" / "__init__.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        found = Platform.discover("shop")
        assert [package.__name__ for package in found] == ["shop.legacy", "shop.orders"]
        with Platform(["shop.orders"]) as platform:
            assert list(platform.modules) == ["orders"]
    finally:
        for name in [n for n in sys.modules if n == "shop" or n.startswith("shop.")]:
            del sys.modules[name]


def test_discover_imports_only_what_may_declare_a_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An application's entry point beside the module packages builds an engine and creates its
    # tables when imported: aura check, which discovers the modules, must not run it.
    root = tmp_path / "store"
    (root / "orders").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "orders" / "__init__.py").write_text(
        "from aura.module import Module\nmodule = Module('orders')\n"
    )
    (root / "main.py").write_text("raise SystemExit('store.main was imported')\n")
    (root / "reexport.py").write_text("from store.orders import module\n")
    (root / "guarded.py").write_text(
        "try:\n    from store.orders import module\nexcept ImportError:\n    pass\n"
    )
    (root / "broken.py").write_text("def (:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(SyntaxError):  # what cannot be read is imported: its error shows
            Platform.discover("store")
        (root / "broken.py").unlink()
        found = Platform.discover("store")
        # the same declaration, re-exported, joins once, from the package that holds it
        assert [package.__name__ for package in found] == ["store.orders"]
        assert "store.main" not in sys.modules
        with Platform(found) as platform:
            assert list(platform.modules) == ["orders"]
    finally:
        for name in [n for n in sys.modules if n == "store" or n.startswith("store.")]:
            del sys.modules[name]


# --- refusals ------------------------------------------------------------------------------------


def refusal(modules: list[Any]) -> str:
    with pytest.raises(ModuleDefinitionError) as caught:
        Platform(modules)
    return str(caught.value)


def test_a_missing_dependency_is_named(inbox: Inbox) -> None:
    assert refusal([visitors_module(inbox)]) == (
        "Module 'visitors' depends on 'greetings', which is not part of this platform "
        "(modules: visitors). Add 'greetings' to the platform, or bootstrap the module with "
        "stand-ins for its dependencies."
    )


def test_a_dependency_cycle_is_refused_with_its_path() -> None:
    a = Module("a", depends_on=["b"])
    b = Module("b", depends_on=["c"])
    c = Module("c", depends_on=["a"])
    assert refusal([a, b, c]) == (
        "Modules depend on each other in a cycle: a -> b -> c -> a. Break it: let one of them "
        "react to the other's events instead of calling it."
    )


def test_a_module_given_twice_is_refused() -> None:
    assert refusal([Module("a"), Module("a")]) == (
        "Module 'a' is given twice. Each module joins a platform once."
    )


def test_a_handler_needing_something_nobody_provides_is_refused() -> None:
    needy = Module("needy")

    @needy.subscribe("greeting.sent")
    def handler(data: dict[str, Any], mailer: Inbox) -> None:
        pass

    assert refusal([needy]) == (
        "test_a_handler_needing_something_nobody_provides_is_refused.<locals>.handler of module "
        "'needy' needs 'mailer' (Inbox), which nothing provides. Provide it with "
        "needy.provide(...), or give the parameter a default."
    )


class SessionDatabase:
    """Stands for an adapter's database class (SqlAlchemyDatabase) the platform was not given."""


def test_a_parameter_named_database_but_typed_another_kind_of_database_refuses_to_run() -> None:
    # Injected by name, it would be Aura's SQLite database, and fail at its first .session().
    # The platform still builds (aura check and the harness build such platforms to verify
    # them); the handler refuses to run, naming the mismatch, and becomes a dead letter.
    ledger = Module("ledger")
    ran: list[object] = []

    @ledger.subscribe("order.placed")
    def record(data: dict[str, Any], database: SessionDatabase) -> None:
        ran.append(database)

    with Platform([ledger]) as platform:
        platform.bus.publish("order.placed", {"n": 1}, "orders")
        [letter] = platform.bus.dead_letters()
    assert ran == []
    assert letter.error_type == "ModuleDefinitionError"
    assert letter.error_message == (
        "test_a_parameter_named_database_but_typed_another_kind_of_database_refuses_to_run."
        "<locals>.record of module 'ledger' takes database: SessionDatabase, but this "
        "platform's database is a Database. Build the platform with a SessionDatabase as its "
        "database (Platform(..., database=...), as the application does), or annotate the "
        "parameter with what the platform gives."
    )


def test_a_provider_taking_database_typed_another_kind_refuses_when_first_resolved() -> None:
    class Repository:
        def __init__(self, database: SessionDatabase) -> None:
            self.database = database

    ledger = Module("ledger")
    ledger.provide(Repository, Repository)

    with (
        Platform([ledger]) as platform,  # it builds: aura check and the harness verify it
        pytest.raises(ContainerError) as refused,
    ):
        platform.container.resolve(Repository)
    assert str(refused.value) == (
        "test_a_provider_taking_database_typed_another_kind_refuses_when_first_resolved."
        "<locals>.Repository, the provider of "
        "test_a_provider_taking_database_typed_another_kind_refuses_when_first_resolved."
        "<locals>.Repository, takes database: SessionDatabase, but this platform's database is "
        "a Database. Build the platform with a SessionDatabase as its database (Platform(..., "
        "database=...), as the application does), or annotate the parameter with what the "
        "platform gives."
    )


def test_a_handler_parameter_with_a_default_is_left_alone() -> None:
    seen: list[Any] = []
    relaxed = Module("relaxed")

    @relaxed.subscribe("greeting.sent")
    def handler(data: dict[str, Any], suffix: str = "!") -> None:
        seen.append(data["name"] + suffix)

    with Platform([relaxed]) as platform:
        platform.bus.publish("greeting.sent", {"name": "x"}, "greetings")
    assert seen == ["x!"]


def test_an_invalid_container_graph_is_refused_and_the_database_closed() -> None:
    class NeedsMissing:
        def __init__(self, missing: Inbox) -> None:
            self.missing = missing

    broken = Module("broken")
    broken.add_service("NeedsMissing", NeedsMissing)
    with pytest.raises(UnknownServiceError, match="Inbox"):
        Platform([broken])


def test_two_modules_claiming_one_container_name_are_refused() -> None:
    one = Module("one")
    one.add_service("Greeter", Greeter)
    two = Module("two")
    two.add_service("Greeter", Greeter)
    assert refusal([one, two]) == (
        "Module 'two' offers a service under the container name 'greeter', which is already "
        "taken. Pass key='...' to module.service() to choose another."
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "no.such.package",
            "Cannot import the module package 'no.such.package': No module named 'no'. Pass an "
            "importable package name, a package, or a Module.",
        ),
        (
            42,
            "A platform module must be a Module, a package or a package name, got int (42).",
        ),
    ],
)
def test_unloadable_module_sources_are_refused(source: Any, message: str) -> None:
    assert refusal([source]) == message


def test_a_package_that_declares_no_module_is_refused() -> None:
    assert refusal([_package("plain.helpers")]) == (
        "plain.helpers declares no module: give it a 'module = Module(...)' attribute or a "
        "register_services(service_registry) function."
    )


def test_an_invalid_database_argument_is_refused() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Platform([], database="")
    assert str(caught.value) == (
        "A database path must be a file path or ':memory:', got ''. Pass database='aura.db' or "
        "database=':memory:'."
    )


# --- the Module declaration itself ---------------------------------------------------------------


def test_the_service_decorator_declares_a_class_under_its_name() -> None:
    declared = Module("greetings")

    @declared.service(contract=GreeterContract, timeout=2.0)
    class FancyGreeter(Greeter):
        pass

    [service] = declared.services
    assert (service.name, service.key, service.contract) == (
        "FancyGreeter",
        "fancy_greeter",
        GreeterContract,
    )
    policy = service.policy()
    assert policy is not None
    assert policy.timeout == 2.0
    assert policy.breaker is None
    assert repr(declared) == "Module('greetings', depends_on=[])"


def test_the_route_decorator_records_routes() -> None:
    declared = Module("greetings")

    @declared.route("post", "/hello", status_code=201)
    def hello() -> dict[str, str]:
        return {}

    [route] = declared.routes
    assert (route.method, route.path, route.options) == ("POST", "/hello", {"status_code": 201})


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (
            lambda: Module("Greetings"),
            InvalidNameError,
            "Invalid module name 'Greetings': expected a lowercase identifier such as "
            "'notifications' or 'mental_health'. Use the module's package name.",
        ),
        (
            lambda: Module("a", depends_on="users"),
            ModuleDefinitionError,
            "depends_on of module 'a' must be a list of module names, got the string 'users'. "
            "Write depends_on=['users'].",
        ),
        (
            lambda: Module("a", depends_on=["a"]),
            ModuleDefinitionError,
            "Module 'a' cannot depend on itself. Remove it from depends_on.",
        ),
        (
            lambda: Module("a").route("TRACE", "/x"),
            ModuleDefinitionError,
            "Route method 'TRACE' of module 'a' is not supported. Use GET, POST, PUT, PATCH or "
            "DELETE.",
        ),
        (
            lambda: Module("a").route("GET", "x"),
            ModuleDefinitionError,
            "Route path 'x' of module 'a' must start with '/'. Write '/x'.",
        ),
        (
            lambda: Module("a").route("GET", "/x", unlimited=["operator"]),
            ModuleDefinitionError,
            "unlimited of route GET /x in module 'a' names the roles a limit does not count, "
            "with limit=..., got ['operator'] and no limit. Write e.g. limit='20/hour', "
            "unlimited=['operator'].",
        ),
        (
            lambda: Module("a").route("GET", "/x", limit="5/minute", unlimited=[""]),
            ModuleDefinitionError,
            "unlimited of route GET /x in module 'a' names the roles a limit does not count, "
            "with limit=..., got ['']. Write e.g. limit='20/hour', unlimited=['operator'].",
        ),
        (
            lambda: Module("a").publishes("Not An Event"),
            InvalidEventTypeError,
            "Module 'a' declares it publishes 'Not An Event', which is no event type: expected "
            "dotted lowercase words such as 'therapy_session.scheduled', or a pattern such as "
            "'therapy_session.*'. Rename it.",
        ),
    ],
)
def test_bad_declarations_are_refused(build: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        build()
    assert str(caught.value) == message


def test_a_service_name_declared_twice_is_refused() -> None:
    declared = Module("a")
    declared.add_service("Greeter", Greeter)
    with pytest.raises(ModuleDefinitionError) as caught:
        declared.add_service("Greeter", Greeter)
    assert str(caught.value) == (
        "Module 'a' already declares a service 'Greeter'. Give the second one another name."
    )


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("UserService", "user_service"),
        ("EmailService", "email_service"),
        ("HTTPGateway", "http_gateway"),
        ("billing", "billing"),
    ],
)
def test_service_names_map_to_the_seed_container_names(name: str, key: str) -> None:
    assert snake_case(name) == key


def test_a_handler_may_ask_for_a_service_by_its_class() -> None:
    seen: list[str] = []
    listeners = Module("listeners")

    @listeners.subscribe("greeting.sent")
    def handler(data: dict[str, Any], greeter: Greeter) -> None:
        seen.append(greeter.greet(data["name"]))

    with Platform([greetings_module(), listeners]) as platform:
        platform.bus.publish("greeting.sent", {"name": "cy"}, "greetings")
    assert seen == ["hello cy"]


def test_a_breaker_factory_gives_each_platform_a_fresh_breaker() -> None:
    from aura.breaker import BreakerState, CircuitBreaker

    guarded = Module("guarded")
    guarded.add_service(
        "Greeter",
        Greeter,
        contract=GreeterContract,
        breaker=lambda: CircuitBreaker(failure_threshold=1, name="guarded.Greeter"),
    )
    breakers = []
    for _ in range(2):
        with Platform([guarded]) as platform:
            [info] = platform.registry.services("guarded")
            assert info.policy is not None
            breakers.append(info.policy.breaker)
            with pytest.raises(Exception, match="no such table"):
                platform.registry.get_service("guarded", "Greeter").greet("x")
            assert breakers[-1].state is BreakerState.OPEN  # type: ignore[union-attr]
    assert breakers[0] is not breakers[1]


def test_a_breaker_instance_is_copied_for_each_platform() -> None:
    from aura.breaker import CircuitBreaker

    declared = CircuitBreaker(name="shared")
    guarded = Module("guarded")
    guarded.add_service("Greeter", Greeter, breaker=declared)
    with Platform([guarded]) as platform:
        [info] = platform.registry.services("guarded")
        assert info.policy is not None
        assert info.policy.breaker is not declared
        assert info.policy.breaker.name == "shared"  # type: ignore[union-attr]


def test_a_service_resolves_by_its_key_and_each_alias_as_one_instance() -> None:
    greetings = Module("greetings")
    greetings.add_service("Greeter", Greeter, aliases=["welcome_service", "hello_service"])
    (declared,) = greetings.services
    assert declared.container_names == ("greeter", "welcome_service", "hello_service")
    with Platform([greetings]) as platform:
        resolved = {id(platform.container.resolve(name)) for name in declared.container_names}
        assert resolved == {id(platform.container.resolve("greetings.Greeter"))}


def test_an_alias_another_module_already_offers_is_refused_naming_the_fix() -> None:
    one = Module("one")
    one.add_service("Greeter", Greeter)
    two = Module("two")
    two.add_service("Welcomer", Greeter, aliases=["greeter"])
    assert refusal([one, two]) == (
        "Module 'two' offers a service under the container name 'greeter', which is already "
        "taken. Remove it from the aliases of service 'Welcomer'."
    )


@pytest.mark.parametrize(
    ("aliases", "message"),
    [
        (
            "greeter_service",
            "aliases of service 'Greeter' in module 'greetings' must be a list of container "
            "names, got the string 'greeter_service'. Write aliases=['greeter_service'].",
        ),
        (
            ["not a name"],
            "Alias 'not a name' of service 'Greeter' in module 'greetings' is not a container "
            "name. Use a Python identifier such as 'notification_service'.",
        ),
        (
            ["greeter"],
            "Service 'Greeter' of module 'greetings' lists the container name 'greeter' twice "
            "(its names: 'greeter', 'greeter'). Give each name once.",
        ),
    ],
)
def test_bad_aliases_are_refused_at_declaration(aliases: Any, message: str) -> None:
    greetings = Module("greetings")
    with pytest.raises(ModuleDefinitionError) as caught:
        greetings.add_service("Greeter", Greeter, aliases=aliases)
    assert str(caught.value) == message
    assert greetings.services == []


def test_subscribe_refuses_what_is_not_a_handler_where_it_is_written() -> None:
    from aura.exceptions import HandlerSignatureError

    billing = Module("billing")
    with pytest.raises(HandlerSignatureError) as refused:
        billing.subscribe("order.placed", name="charge")(42)  # type: ignore[type-var]
    assert str(refused.value) == (
        "Module 'billing': @subscribe('order.placed') decorates a function that takes the "
        "event, got int 42. Put @module.subscribe(...) above a def or async def."
    )
    with pytest.raises(ModuleDefinitionError) as refused_flag:
        billing.subscribe("order.placed", idempotent="yes")  # type: ignore[arg-type]
    assert str(refused_flag.value) == (
        "Module 'billing': subscribe('order.placed', idempotent=...) takes True or False, got "
        "'yes'."
    )
    assert billing.handlers == []  # nothing declared


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"modules": None},
            "Platform() takes a list of modules (Module objects, or packages that declare one), "
            "got NoneType None. Pass e.g. Platform([users.module]) or "
            "Platform(Platform.discover('modules')); nothing was opened.",
        ),
        (
            {"modules": "modules"},
            "Platform() takes a list of modules (Module objects, or packages that declare one), "
            "got str 'modules'. Pass e.g. Platform([users.module]) or "
            "Platform(Platform.discover('modules')); nothing was opened.",
        ),
        (
            {"durable": "yes"},
            "Platform(durable=...) takes True or False, got 'yes'; nothing was opened.",
        ),
        (
            {"log_traffic": "no"},
            "Platform(log_traffic=...) takes True or False, got 'no'; nothing was opened.",
        ),
        (
            {"completed_publications": "x"},
            "Platform(completed_publications=...) is 'keep', 'delete' or 'archive', got 'x'; "
            "nothing was opened.",
        ),
        *(
            (
                {"lease": lease, "durable": True},
                "Platform(lease=...) is the seconds a delivery is owned before another process "
                f"may take it over, above 0 and at most a week (604800), got {lease!r}. Pass "
                "e.g. lease=30: a crashed process's deliveries are taken over that long after.",
            )
            for lease in (-1, float("nan"), True, 604_801)
        ),
        (
            {"workers": -1, "durable": True},
            "workers must be a whole number of at least 0, got -1. Pass e.g. workers=4: that "
            "many deliveries run at once in this process (0: it only publishes, other processes "
            "deliver).",
        ),
        (
            {"workers": 2},
            "workers=2 needs durable=True: delivery workers claim the publications a durable "
            "platform records. Pass Platform(..., durable=True, workers=...), or leave workers "
            "out to deliver in the publishing call.",
        ),
        (
            {"max_event_size": -5, "durable": True},
            "max_event_size must be a positive number of characters or None, got -5.",
        ),
        (
            {"handler_timeout": float("nan")},
            "handler_timeout must be a positive number of seconds or None, got nan.",
        ),
        (
            {"max_chain_depth": 0},
            "max_chain_depth must be an int of at least 1, got 0. Use the default of 64 unless "
            "handlers legitimately chain deeper.",
        ),
        (
            {"catalog": 5},
            "catalog must be an EventCatalog or None, got int 5. Pass EventCatalog() or leave "
            "it out for aura.events.default_catalog.",
        ),
        (
            {"boundaries": 5},
            "Platform(boundaries=...) takes the project's module map (aura.architecture."
            "modulemap.ModuleMap, read from [tool.aura.boundaries]), got int 5; nothing was "
            "opened.",
        ),
        (
            {"database": 5},
            "Platform(database=...) got int 5, which has no execute, query, transaction, "
            "executescript, close: it is not a database. Pass one of Aura's (see "
            "aura.database.SqlDatabase) or an object with those methods, or leave it out; "
            "nothing was opened.",
        ),
        (
            {"event_store": 5},
            "Platform(event_store=...) got int 5, which has no append, read: it is not an event "
            "store. Pass one of Aura's (see aura.store.EventStore) or an object with those "
            "methods, or leave it out; nothing was opened.",
        ),
        (
            {"journal": object},
            "Platform(journal=...) got type <class 'object'>, which has no accepted, "
            "delivering, due: it is not a delivery journal. Pass one of Aura's (see "
            "aura.delivery.DeliveryJournal) or an object with those methods, or leave it out; "
            "nothing was opened.",
        ),
        (
            {"dead_letters": []},
            "Platform(dead_letters=...) got list [], which has no add, replace, list: it is not a "
            "dead-letter store. Pass one of Aura's (see aura.dead_letters.DeadLetterStore) or an "
            "object with those methods, or leave it out; nothing was opened.",
        ),
    ],
)
def test_a_wrong_platform_argument_is_refused_naming_it(
    arguments: dict[str, Any], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    modules = arguments.pop("modules", [])
    arguments.setdefault("database", tmp_path / "platform.db")  # a file: it must not be made
    with pytest.raises(ConfigurationError) as refused:
        Platform(modules, **arguments)
    assert str(refused.value) == message
    assert list(tmp_path.iterdir()) == []


def test_a_lease_of_more_than_a_day_is_accepted_as_the_journal_accepts_it(tmp_path: Path) -> None:
    with Platform([], database=tmp_path / "platform.db", durable=True, lease=172_800) as platform:
        assert isinstance(platform.journal, DurableJournal)
        assert platform.journal.lease == 172_800.0


def test_a_refused_publishes_declares_none_of_its_event_types() -> None:
    module = Module("a")
    with pytest.raises(InvalidEventTypeError):
        module.publishes("a.placed", "A Shipped")
    assert module.published == []
