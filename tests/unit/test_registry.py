"""The service registry: registration, contracts, lookup errors, proxies, observers, policies."""

from __future__ import annotations

import asyncio
import threading
import time
import types
from abc import ABC, abstractmethod
from typing import Any, Protocol

import pytest

from aura import context
from aura.breaker import BreakerState, CircuitBreaker
from aura.container import Container
from aura.exceptions import (
    CircuitBreakerOpenError,
    ConfigurationError,
    ContractViolationError,
    DuplicateServiceError,
    InvalidNameError,
    ServiceNotAvailableError,
    ServiceTimeoutError,
)
from aura.registry import CallPolicy, ServiceCall, ServiceProxy, ServiceRegistry


class UserServiceContract(ABC):
    @abstractmethod
    def get_user_by_id(self, user_id: int) -> dict[str, Any] | None: ...

    @abstractmethod
    def is_user_active(self, user_id: int) -> bool: ...


class UserService(UserServiceContract):
    def __init__(self) -> None:
        self.users = {7: {"id": 7, "active": True}}

    def get_user_by_id(self, user_id: int) -> dict[str, Any] | None:
        return self.users.get(user_id)

    def is_user_active(self, user_id: int) -> bool:
        user = self.users.get(user_id)
        if user is None:
            raise LookupError(f"no user {user_id}")
        return bool(user["active"])

    def delete_everything(self) -> None:
        self.users.clear()


class EmailService:
    """No contract: every public method is exposed."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, to: str) -> str:
        self.sent.append(to)
        return f"sent to {to}"

    async def send_later(self, to: str) -> str:
        await asyncio.sleep(0)
        return f"queued for {to}"


@pytest.fixture
def registry() -> ServiceRegistry:
    registry = ServiceRegistry()
    registry.register_service(
        module_name="users",
        service_name="UserService",
        service_class=UserService,
        contract=UserServiceContract,
    )
    registry.register_service("notifications", "EmailService", EmailService)
    registry.register_service("notifications", "SmsService", EmailService)
    return registry


def as_module(name: str) -> Any:
    return context.module_scope(name)


# --- registration and lookup ---------------------------------------------------------------------


def test_the_seed_calls_register_and_get_a_service(registry: ServiceRegistry) -> None:
    user_service = registry.get_service("users", "UserService")
    assert user_service.get_user_by_id(7) == {"id": 7, "active": True}


def test_a_service_is_built_lazily_and_once() -> None:
    built: list[int] = []

    class Counting:
        def __init__(self) -> None:
            built.append(1)

    registry = ServiceRegistry()
    registry.register_service("users", "Counting", Counting)
    assert built == []
    assert registry.services("users")[0].built is False
    first = registry.get_service("users", "Counting")
    assert registry.get_service("users", "Counting") is first
    assert built == [1]
    assert registry.services("users")[0].built is True


class Repository:
    pass


class RepositoryBackedService:
    def __init__(self, repository: Repository, greeting: str = "hi") -> None:
        self.repository = repository
        self.greeting = greeting


def test_constructor_dependencies_are_injected_by_the_container() -> None:
    container = Container()
    repository = Repository()
    container.register_instance(Repository, repository)
    registry = ServiceRegistry(container=container)
    registry.register_service("users", "Service", RepositoryBackedService)
    with as_module("users"):
        service = registry.get_service("users", "Service")
    assert service.repository is repository
    assert service.greeting == "hi"


def test_an_instance_and_a_factory_can_be_registered() -> None:
    ready = UserService()
    registry = ServiceRegistry()
    registry.register_service("users", "Ready", ready, contract=UserServiceContract)
    registry.register_service("users", "Made", lambda: UserService(), contract=UserServiceContract)
    with as_module("users"):
        assert registry.get_service("users", "Ready") is ready
        assert isinstance(registry.get_service("users", "Made"), UserService)


def test_a_factory_that_builds_a_non_conforming_object_is_refused_on_build() -> None:
    registry = ServiceRegistry()
    registry.register_service("users", "Made", lambda: object(), contract=UserServiceContract)
    with pytest.raises(ServiceNotAvailableError) as caught:
        registry.get_service("users", "Made")
    assert str(caught.value) == (
        "Service 'Made' of module 'users' was built by a factory, but what it built does not "
        "implement UserServiceContract. See the cause for each method."
    )
    assert isinstance(caught.value.__cause__, ContractViolationError)


def test_the_seed_register_services_convention_works() -> None:
    def register_services(service_registry: ServiceRegistry) -> None:
        service_registry.register_service(
            module_name="notifications", service_name="EmailService", service_class=EmailService
        )

    package = types.ModuleType("notifications")
    package.register_services = register_services  # type: ignore[attr-defined]
    registry = ServiceRegistry()
    registry.register_from(package)
    assert registry.is_registered("notifications", "EmailService")


def test_a_package_without_register_services_is_refused() -> None:
    with pytest.raises(ConfigurationError) as caught:
        ServiceRegistry().register_from(types.ModuleType("billing"))
    assert str(caught.value) == (
        "billing has no register_services(service_registry) function. Define it in the "
        "package's __init__.py, as the seed shows."
    )


def test_is_registered_services_and_modules_describe_the_registry(
    registry: ServiceRegistry,
) -> None:
    assert registry.is_registered("users", "UserService")
    assert not registry.is_registered("users", "Nope")
    assert registry.modules() == ["notifications", "users"]
    [info] = registry.services("users")
    assert (info.module_name, info.service_name, info.contract) == (
        "users",
        "UserService",
        UserServiceContract,
    )
    assert info.methods == ("get_user_by_id", "is_user_active")
    assert [i.service_name for i in registry.services()] == [
        "UserService",
        "EmailService",
        "SmsService",
    ]
    assert registry.services("notifications")[0].methods == ("send", "send_later")


def test_unregister_withdraws_a_service(registry: ServiceRegistry) -> None:
    registry.get_service("notifications", "SmsService")
    registry.unregister_service("notifications", "SmsService")
    assert not registry.is_registered("notifications", "SmsService")
    with pytest.raises(ServiceNotAvailableError):
        registry.get_service("notifications", "SmsService")
    registry.register_service("notifications", "SmsService", EmailService)
    assert registry.is_registered("notifications", "SmsService")


# --- refusals ------------------------------------------------------------------------------------


def test_an_unknown_module_lists_the_known_ones(registry: ServiceRegistry) -> None:
    with pytest.raises(ServiceNotAvailableError) as caught:
        registry.get_service("notificaitons", "EmailService")
    assert str(caught.value) == (
        "No module 'notificaitons' in the service registry. Known modules: notifications, "
        "users. Did you mean 'notifications'?"
    )
    assert isinstance(caught.value, LookupError)


def test_an_unknown_service_lists_the_modules_services_and_suggests(
    registry: ServiceRegistry,
) -> None:
    with pytest.raises(ServiceNotAvailableError) as caught:
        registry.get_service("notifications", "EmailServce")
    assert str(caught.value) == (
        "No service 'EmailServce' in module 'notifications'. Registered there: EmailService, "
        "SmsService. Did you mean 'EmailService'?"
    )


def test_an_unknown_service_without_a_close_name_suggests_nothing(
    registry: ServiceRegistry,
) -> None:
    with pytest.raises(ServiceNotAvailableError) as caught:
        registry.get_service("users", "Billing")
    assert str(caught.value) == (
        "No service 'Billing' in module 'users'. Registered there: UserService."
    )


def test_an_empty_registry_says_so() -> None:
    with pytest.raises(ServiceNotAvailableError) as caught:
        ServiceRegistry().get_service("users", "UserService")
    assert str(caught.value) == "No module 'users' in the service registry. Known modules: none."


def test_a_failing_construction_is_reported_with_its_cause() -> None:
    class Broken:
        def __init__(self) -> None:
            raise RuntimeError("smtp host missing")

    registry = ServiceRegistry()
    registry.register_service("notifications", "EmailService", Broken)
    with pytest.raises(ServiceNotAvailableError) as caught:
        registry.get_service("notifications", "EmailService")
    assert str(caught.value) == (
        "Service 'EmailService' of module 'notifications' could not be created: RuntimeError: "
        "smtp host missing. Fix its constructor or register what it depends on."
    )
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_registering_the_same_name_twice_names_both_classes(registry: ServiceRegistry) -> None:
    with pytest.raises(DuplicateServiceError) as caught:
        registry.register_service("notifications", "EmailService", UserService)
    assert str(caught.value) == (
        "Service 'EmailService' is already registered in module 'notifications' as "
        "tests.unit.test_registry.EmailService; cannot register "
        "tests.unit.test_registry.UserService under the same name. Unregister the first, or "
        "choose another name."
    )
    with as_module("notifications"):
        assert isinstance(registry.get_service("notifications", "EmailService"), EmailService)


def test_a_class_that_breaks_its_contract_is_refused_and_not_registered() -> None:
    class Partial:
        def get_user_by_id(self, user_id: int) -> None:
            return None

    registry = ServiceRegistry()
    with pytest.raises(ContractViolationError) as caught:
        registry.register_service("users", "UserService", Partial, contract=UserServiceContract)
    assert str(caught.value) == (
        "test_a_class_that_breaks_its_contract_is_refused_and_not_registered.<locals>.Partial "
        "does not implement UserServiceContract:\n"
        "  - missing method is_user_active(self, user_id: 'int') -> 'bool'\n"
        "Implement the missing methods and align the signatures with the contract."
    )
    assert not registry.is_registered("users", "UserService")


def test_a_protocol_contract_is_checked_structurally() -> None:
    class Sender(Protocol):
        def send(self, to: str) -> str: ...

    registry = ServiceRegistry()
    registry.register_service("notifications", "EmailService", EmailService, contract=Sender)
    with pytest.raises(ContractViolationError):
        registry.register_service("notifications", "Other", UserService, contract=Sender)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (
            ("Users", "UserService", UserService),
            InvalidNameError,
            "Invalid module name 'Users': expected a lowercase identifier such as "
            "'notifications' or 'mental_health'. Use the module's package name.",
        ),
        (
            ("users", "User Service", UserService),
            InvalidNameError,
            "Invalid service name 'User Service': expected an identifier such as "
            "'UserService'. Name the service after its class.",
        ),
        (
            ("users", "UserService", None),
            ConfigurationError,
            "Cannot register users.UserService: service_class is None. Pass the class, a "
            "factory function or a ready instance.",
        ),
    ],
)
def test_bad_registrations_are_refused_and_change_nothing(
    arguments: tuple[Any, ...], error: type[Exception], message: str
) -> None:
    registry = ServiceRegistry()
    with pytest.raises(error) as caught:
        registry.register_service(*arguments)
    assert str(caught.value) == message
    assert registry.services() == []
    assert registry.container.keys() == []


def test_get_service_with_names_that_are_not_strings_is_refused_naming_them() -> None:
    registry = ServiceRegistry()
    registry.register_service("users", "UserService", UserService)
    with pytest.raises(InvalidNameError) as caught:
        registry.get_service(5, "UserService")  # type: ignore[arg-type]
    assert str(caught.value) == (
        "get_service() takes the module's and the service's names as strings, got "
        "module_name=5 (int). Write get_service('users', 'UserService')."
    )
    with pytest.raises(InvalidNameError) as caught:
        registry.get_service("users", None)  # type: ignore[arg-type]
    assert "got service_name=None (NoneType)" in str(caught.value)


def test_policy_and_breaker_together_are_refused() -> None:
    with pytest.raises(ConfigurationError) as caught:
        ServiceRegistry().register_service(
            "users", "UserService", UserService, policy=CallPolicy(), timeout=1
        )
    assert str(caught.value) == (
        "Give users.UserService either policy= or breaker=/timeout=, not both."
    )


@pytest.mark.parametrize("timeout", [0, -1, "2", True])
def test_a_timeout_must_be_a_positive_number(timeout: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ServiceRegistry().register_service("users", "UserService", UserService, timeout=timeout)
    assert str(caught.value) == (
        f"A service call timeout must be a positive number of seconds, got {timeout!r}. Pass "
        "timeout=2.0, or None for no timeout."
    )


def test_a_breaker_must_have_a_call_method() -> None:
    with pytest.raises(ConfigurationError) as caught:
        ServiceRegistry().register_service("users", "UserService", UserService, breaker=object())  # type: ignore[arg-type]
    assert str(caught.value) == (
        "A service's breaker must have a call(func, *args) method, got object. Pass an "
        "aura.breaker.CircuitBreaker."
    )


# --- cross-module proxies ------------------------------------------------------------------------


def test_another_module_gets_a_proxy_limited_to_the_contract(registry: ServiceRegistry) -> None:
    with as_module("mentalhealth"):
        users = registry.get_service("users", "UserService")
    assert isinstance(users, ServiceProxy)
    assert users.is_user_active(7) is True
    with pytest.raises(AttributeError) as caught:
        users.delete_everything()
    assert str(caught.value) == (
        "'delete_everything' is not part of UserServiceContract; module 'mentalhealth' can use "
        "only: get_user_by_id, is_user_active. Add it to UserServiceContract, or call it from "
        "module 'users' itself."
    )


def test_the_same_module_gets_the_object_itself(registry: ServiceRegistry) -> None:
    with as_module("users"):
        plain = registry.get_service("users", "UserService")
        assert registry.get_service("users", "UserService") is plain
    assert isinstance(plain, UserService)


def test_code_outside_any_module_gets_an_observed_proxy(registry: ServiceRegistry) -> None:
    calls: list[ServiceCall] = []
    registry.add_observer(calls.append)
    users = registry.get_service("users", "UserService")
    assert isinstance(users, ServiceProxy)
    assert users.is_user_active(7) is True
    [call] = calls
    assert (call.caller_module, call.provider_module, call.method) == (
        None,
        "users",
        "is_user_active",
    )


def test_a_proxy_is_built_once_per_caller(registry: ServiceRegistry) -> None:
    with as_module("mentalhealth"):
        first = registry.get_service("users", "UserService")
        assert registry.get_service("users", "UserService") is first
    with as_module("billing"):
        assert registry.get_service("users", "UserService") is not first


def test_without_a_contract_the_proxy_exposes_public_methods(registry: ServiceRegistry) -> None:
    with as_module("mentalhealth"):
        email = registry.get_service("notifications", "EmailService")
    assert email.send("a@b.c") == "sent to a@b.c"
    with pytest.raises(AttributeError) as caught:
        _ = email.sent
    assert str(caught.value) == (
        "'sent' is not part of the public methods of notifications.EmailService; module "
        "'mentalhealth' can use only: send, send_later."
    )
    assert repr(email).startswith("<ServiceProxy the public methods of notifications.Email")


def test_a_call_runs_as_the_provider_module(registry: ServiceRegistry) -> None:
    seen: list[str | None] = []

    class Probe:
        def where(self) -> None:
            seen.append(context.current_module())

    registry.register_service("users", "Probe", Probe)
    with as_module("mentalhealth"):
        registry.get_service("users", "Probe").where()
        assert context.current_module() == "mentalhealth"
    assert seen == ["users"]


def test_observers_see_each_cross_module_call(registry: ServiceRegistry) -> None:
    calls: list[ServiceCall] = []
    remove = registry.add_observer(calls.append)
    with as_module("mentalhealth"), context.correlation_scope("flow-1"):
        users = registry.get_service("users", "UserService")
        users.is_user_active(7)
        with pytest.raises(LookupError):
            users.is_user_active(99)
    assert [(c.caller_module, c.provider_module, c.service_name, c.method) for c in calls] == [
        ("mentalhealth", "users", "UserService", "is_user_active"),
        ("mentalhealth", "users", "UserService", "is_user_active"),
    ]
    assert [c.outcome for c in calls] == ["ok", "LookupError"]
    assert [c.succeeded for c in calls] == [True, False]
    assert {c.correlation_id for c in calls} == {"flow-1"}
    assert all(c.duration >= 0 for c in calls)
    remove()
    with as_module("mentalhealth"):
        users.is_user_active(7)
    assert len(calls) == 2


def test_async_methods_are_proxied_and_observed(registry: ServiceRegistry) -> None:
    calls: list[ServiceCall] = []
    registry.add_observer(calls.append)

    async def main() -> str:
        with as_module("mentalhealth"):
            email = registry.get_service("notifications", "EmailService")
            return str(await email.send_later("x@y.z"))

    assert asyncio.run(main()) == "queued for x@y.z"
    assert [c.method for c in calls] == ["send_later"]


def test_override_serves_a_fake_and_restores_the_original(registry: ServiceRegistry) -> None:
    class FakeUsers:
        def get_user_by_id(self, user_id: int) -> dict[str, Any] | None:
            return {"id": user_id, "fake": True}

        def is_user_active(self, user_id: int) -> bool:
            return False

    with as_module("users"):
        original = registry.get_service("users", "UserService")
    with registry.override("users", "UserService", FakeUsers()) as fake:
        with as_module("users"):
            assert registry.get_service("users", "UserService") is fake
        with as_module("mentalhealth"):
            assert registry.get_service("users", "UserService").is_user_active(7) is False
    with as_module("users"):
        assert registry.get_service("users", "UserService") is original
    with as_module("mentalhealth"):
        assert registry.get_service("users", "UserService").is_user_active(7) is True


def test_racing_threads_build_one_service_and_one_proxy() -> None:
    built: list[int] = []

    class Slow:
        def __init__(self) -> None:
            time.sleep(0.01)
            built.append(1)

        def ping(self) -> str:
            return "pong"

    registry = ServiceRegistry()
    registry.register_service("users", "Slow", Slow)
    barrier = threading.Barrier(16)
    handles: list[object] = []

    def worker() -> None:
        barrier.wait()
        with as_module("billing"):
            handles.append(registry.get_service("users", "Slow"))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert built == [1]
    assert len({id(handle) for handle in handles}) == 1


# --- call policies: breaker and timeout ----------------------------------------------------------


class Flaky:
    def __init__(self) -> None:
        self.fail = True

    def fetch(self) -> str:
        if self.fail:
            raise ConnectionError("users database unreachable")
        return "ok"

    def slow(self, seconds: float) -> str:
        time.sleep(seconds)
        return "late"

    async def aslow(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "late"


def test_a_breaker_on_the_registry_guards_cross_module_calls() -> None:
    clock = [0.0]
    breaker = CircuitBreaker(
        failure_threshold=2, timeout=30, name="users.Flaky", clock=lambda: clock[0]
    )
    registry = ServiceRegistry()
    flaky = Flaky()
    registry.register_service("users", "Flaky", flaky, breaker=breaker)
    with as_module("billing"):
        proxy = registry.get_service("users", "Flaky")
        for _ in range(2):
            with pytest.raises(ConnectionError):
                proxy.fetch()
        with pytest.raises(CircuitBreakerOpenError):
            proxy.fetch()
        flaky.fail = False
        clock[0] = 31.0
        assert proxy.fetch() == "ok"
    assert breaker.failure_count == 0


def test_the_seed_fallback_pattern_catches_an_open_breaker() -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=60, name="users.Flaky")
    registry = ServiceRegistry()
    registry.register_service("users", "Flaky", Flaky(), breaker=breaker)

    def get_user_name() -> str:
        try:
            return str(registry.get_service("users", "Flaky").fetch())
        except (ServiceNotAvailableError, CircuitBreakerOpenError):
            return "unknown (fallback)"
        except ConnectionError:
            return "unknown (error)"

    with as_module("billing"):
        assert get_user_name() == "unknown (error)"
        assert get_user_name() == "unknown (fallback)"


def test_a_timeout_raises_and_counts_as_a_breaker_failure() -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=60, name="users.Flaky")
    registry = ServiceRegistry()
    # 0.5 s: the quick call's trip through a worker thread fits on a loaded machine too.
    registry.register_service("users", "Flaky", Flaky(), breaker=breaker, timeout=0.5)
    try:
        with as_module("billing"):
            proxy = registry.get_service("users", "Flaky")
            assert proxy.slow(0) == "late"
            with pytest.raises(ServiceTimeoutError) as caught:
                proxy.slow(1.5)
        assert str(caught.value) == (
            "Call to users.Flaky.slow did not return within 0.5 s; it is still running in the "
            "background and what it does may still take effect — make it idempotent or give it "
            "its own timeout."
        )
        assert breaker.state is BreakerState.OPEN
    finally:
        registry.close()


def test_an_async_timeout_raises_service_timeout() -> None:
    registry = ServiceRegistry()
    registry.register_service(
        "users", "Flaky", Flaky(), policy=CallPolicy(breaker=CircuitBreaker(), timeout=0.05)
    )

    async def main() -> None:
        with as_module("billing"):
            proxy = registry.get_service("users", "Flaky")
            assert await proxy.aslow(0) == "late"
            await proxy.aslow(0.3)

    with pytest.raises(ServiceTimeoutError) as caught:
        asyncio.run(main())
    assert str(caught.value).startswith(
        "Call to users.Flaky.aslow did not return within 0.05 s and was cancelled"
    )


def test_a_timeout_without_a_breaker_still_applies() -> None:
    registry = ServiceRegistry()
    registry.register_service("users", "Flaky", Flaky(), timeout=0.05)
    try:
        with as_module("billing"), pytest.raises(ServiceTimeoutError):
            registry.get_service("users", "Flaky").slow(0.3)
    finally:
        registry.close()


def test_a_partial_stand_in_explains_the_missing_method(registry: ServiceRegistry) -> None:
    class OnlyActive:
        def is_user_active(self, user_id: int) -> bool:
            return True

    with registry.override("users", "UserService", OnlyActive()), as_module("billing"):
        users = registry.get_service("users", "UserService")
        assert users.is_user_active(1) is True
        with pytest.raises(AttributeError) as caught:
            users.get_user_by_id(1)
    assert str(caught.value) == (
        "'get_user_by_id' is part of UserServiceContract, but the object serving it "
        "(OnlyActive) does not implement it. Give the stand-in a get_user_by_id() method."
    )


def test_an_unknown_service_is_refused_without_the_internal_key_error() -> None:
    registry = ServiceRegistry()
    registry.register_service(module_name="users", service_name="UserService", service_class=object)
    with pytest.raises(ServiceNotAvailableError) as caught:
        registry.get_service("users", "UserServce")
    assert caught.value.__context__ is None
    assert str(caught.value) == (
        "No service 'UserServce' in module 'users'. Registered there: UserService. Did you mean "
        "'UserService'?"
    )
