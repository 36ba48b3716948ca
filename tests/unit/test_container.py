"""Specification of the DI container: lifetimes, autowiring, scopes, overrides, validation."""

from __future__ import annotations

import abc
import functools
import inspect
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from aura.container import Container, Scope, get_container, set_container
from aura.exceptions import (
    CircularDependencyError,
    ContainerError,
    DisposalError,
    LifetimeMismatchError,
    UnknownServiceError,
)

# Services live at module level: annotations are strings here (``from __future__``), and the
# container evaluates them against the module's globals.


class Repository:
    """A dependency with no dependencies of its own."""


class SqlRepository(Repository):
    """A concrete repository, to register under the abstract key."""


class Notifier(abc.ABC):
    """A contract, as the platform declares them: an abstract base class."""

    @abc.abstractmethod
    def notify(self, message: str) -> None: ...


class EmailNotifier(Notifier):
    """The implementation registered under the contract."""

    def notify(self, message: str) -> None:
        self.sent = message


class UserService:
    """Depends on a repository by type."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository


class Greeter:
    """Depends on ``greeting`` by name (no annotation) and has a default."""

    def __init__(self, greeting, punctuation: str = "!") -> None:  # type: ignore[no-untyped-def]
        self.greeting = greeting
        self.punctuation = punctuation


class Log:
    """Records what happens, in order: a fake that records, not a mock."""

    def __init__(self) -> None:
        self.lines: list[str] = []


class Resource:
    """Closeable: the container calls ``close()`` when it disposes it."""

    def __init__(self, log: Log, name: str = "resource") -> None:
        self.log = log
        self.name = name
        log.lines.append(f"open {name}")

    def close(self) -> None:
        self.log.lines.append(f"close {self.name}")


class BrokenResource:
    """Its ``close()`` fails."""

    def __init__(self, log: Log) -> None:
        self.log = log

    def close(self) -> None:
        raise RuntimeError("disk gone")


class Session:
    """A unit-of-work service, registered as scoped."""


class Report:
    """Needs a session: transient in the tests, so it takes the session of its scope."""

    def __init__(self, session: Session) -> None:
        self.session = session


class Cache:
    """Needs a report; as a singleton it would capture a scoped session through it."""

    def __init__(self, report: Report) -> None:
        self.report = report


class Everything:
    """Ignores *args and **kwargs; keyword-only parameters are still wired."""

    def __init__(self, *args: object, repository: Repository, **kwargs: object) -> None:
        self.repository = repository
        self.extra = (args, kwargs)


class PositionalOnly:
    """Cannot be autowired: its parameter has no name a caller could use."""

    def __init__(self, repository: Repository, /) -> None:
        self.repository = repository


class Dangling:
    """Annotated with a name that does not exist at runtime."""

    def __init__(self, ghost: Ghost) -> None:  # type: ignore[name-defined]  # noqa: F821
        self.ghost = ghost


class RepositoryFactory:
    """A callable object as provider: its ``__call__`` annotations are wired."""

    def __call__(self, repository: Repository) -> UserService:
        return UserService(repository)


class Counted:
    """Counts its instances, to show what was built and how often."""

    built = 0

    def __init__(self) -> None:
        type(self).built += 1


def make_user_service(repository: Repository) -> UserService:
    """A factory function wired by its annotations."""
    return UserService(repository)


def open_connection(log: Log) -> Iterator[Resource]:
    """A generator factory: the code after ``yield`` is the cleanup."""
    connection = Resource(log, "connection")
    yield connection
    log.lines.append("cleanup connection")


def yield_nothing() -> Iterator[Resource]:
    """A broken generator factory: it never yields."""
    yield from ()


def yield_twice(log: Log) -> Iterator[Resource]:
    """A broken generator factory: it yields a second time at disposal."""
    yield Resource(log, "first")
    yield Resource(log, "second")


async def make_async() -> Repository:
    """Asynchronous factories are refused."""
    return Repository()


@pytest.fixture
def container() -> Container:
    return Container()


@pytest.fixture
def log(container: Container) -> Log:
    log = Log()
    container.register_instance("log", log)
    return log


# --- registration -------------------------------------------------------------------------------


def test_resolve_by_name_returns_the_registered_service(container: Container) -> None:
    container.register("repository", SqlRepository)

    assert isinstance(container.resolve("repository"), SqlRepository)


def test_resolve_by_type_returns_the_provider_of_that_type(container: Container) -> None:
    container.register(Repository, SqlRepository)

    repository: Repository = container.resolve(Repository)

    assert isinstance(repository, SqlRepository)


def test_resolve_by_an_abstract_contract_returns_its_implementation(
    container: Container,
) -> None:
    container.register(Notifier, EmailNotifier)

    notifier: Notifier = container.resolve(Notifier)  # typed as the contract under mypy

    assert isinstance(notifier, EmailNotifier)


def test_a_type_registered_without_provider_provides_itself(container: Container) -> None:
    container.register(SqlRepository)

    assert type(container.resolve(SqlRepository)) is SqlRepository


def test_register_instance_resolves_to_that_very_object(container: Container) -> None:
    repository = SqlRepository()
    container.register_instance(Repository, repository)

    assert container.resolve(Repository) is repository


def test_registering_a_key_twice_is_refused(container: Container) -> None:
    container.register("users", UserService)

    with pytest.raises(ContainerError) as info:
        container.register("users", SqlRepository)

    assert str(info.value) == (
        "'users' is already registered (as singleton UserService). Pass replace=True to replace it."
    )


def test_registering_an_instance_twice_is_refused(container: Container) -> None:
    container.register_instance("config", {"debug": True})

    with pytest.raises(ContainerError) as info:
        container.register_instance("config", {})

    assert str(info.value) == (
        "'config' is already registered (as a ready instance). Pass replace=True to replace it."
    )


def test_replace_true_replaces_a_registration(container: Container) -> None:
    container.register(Repository)
    container.register(Repository, SqlRepository, replace=True)

    assert isinstance(container.resolve(Repository), SqlRepository)


def test_registrations_are_listed_in_order_and_answer_in(container: Container) -> None:
    container.register("users", UserService)
    container.register(Repository)

    assert container.keys() == ["users", Repository]
    assert "users" in container
    assert container.is_registered(Repository)
    assert "nobody" not in container


@pytest.mark.parametrize("not_a_key", [42, None, ["users"]])
def test_membership_of_a_non_key_is_false(container: Container, not_a_key: object) -> None:
    assert not_a_key not in container


@pytest.mark.parametrize(
    ("key", "shown"),
    [(42, "42 (int)"), ("", "'' (str)"), ("  ", "'  ' (str)"), (None, "None (NoneType)")],
)
def test_an_invalid_key_is_refused_and_nothing_changes(
    container: Container, key: object, shown: str
) -> None:
    with pytest.raises(ContainerError) as info:
        container.register(key, Repository)  # type: ignore[arg-type]

    assert str(info.value) == (
        f"A container key must be a non-empty name or a type, got {shown}."
        " Use a name such as 'user_service', or the class itself."
    )
    assert container.keys() == []


def test_an_unknown_lifetime_is_refused(container: Container) -> None:
    with pytest.raises(ContainerError) as info:
        container.register("users", UserService, lifetime="request")  # type: ignore[arg-type]

    assert str(info.value) == (
        "Unknown lifetime 'request' for 'users'. Expected 'singleton', 'transient' or 'scoped'."
    )
    assert "users" not in container


def test_a_provider_that_is_not_callable_is_refused(container: Container) -> None:
    with pytest.raises(ContainerError) as info:
        container.register("limit", 10)  # type: ignore[arg-type]

    assert str(info.value) == (
        "The provider for 'limit' must be a class or a factory callable, got 10 (int)."
        " To register a ready object, use register_instance('limit', obj)."
    )


def test_a_name_registered_without_provider_is_refused(container: Container) -> None:
    with pytest.raises(ContainerError) as info:
        container.register("users")

    assert str(info.value) == (
        "register('users') needs a provider: only a type can provide itself."
        " Pass the class or factory that builds 'users'."
    )


def test_an_asynchronous_provider_is_refused(container: Container) -> None:
    with pytest.raises(ContainerError) as info:
        container.register(Repository, make_async)

    assert str(info.value) == (
        "The provider make_async for Repository is asynchronous, but the container builds"
        " synchronously. Register a synchronous factory."
    )


def test_a_transient_generator_factory_is_refused(container: Container) -> None:
    with pytest.raises(ContainerError) as info:
        container.register("connection", open_connection, lifetime="transient")

    assert str(info.value) == (
        "Generator factory open_connection for 'connection' cannot be transient:"
        " nothing would run its cleanup. Register it as 'singleton' or 'scoped'."
    )


# --- lifetimes ----------------------------------------------------------------------------------


def test_a_singleton_is_built_lazily_once(container: Container) -> None:
    Counted.built = 0
    container.register(Counted)
    assert Counted.built == 0

    first, second = container.resolve(Counted), container.resolve(Counted)

    assert first is second
    assert Counted.built == 1


def test_a_transient_is_built_on_every_resolve(container: Container) -> None:
    container.register(Repository, lifetime="transient")

    assert container.resolve(Repository) is not container.resolve(Repository)


def test_a_scoped_service_is_one_instance_per_scope(container: Container) -> None:
    container.register(Session, lifetime="scoped")

    with container.scope() as first, container.scope() as second:
        assert first.resolve(Session) is first.resolve(Session)
        assert first.resolve(Session) is not second.resolve(Session)


def test_a_transient_in_a_scope_gets_that_scopes_instance(container: Container) -> None:
    container.register(Session, lifetime="scoped")
    container.register(Report, lifetime="transient")

    with container.scope() as scope:
        assert scope.resolve(Report).session is scope.resolve(Session)


def test_a_scope_resolves_singletons_of_its_container(container: Container) -> None:
    container.register(Repository)

    with container.scope() as scope:
        assert scope.resolve(Repository) is container.resolve(Repository)


def test_a_scoped_service_cannot_be_resolved_outside_a_scope(container: Container) -> None:
    container.register(Session, lifetime="scoped")

    with pytest.raises(ContainerError) as info:
        container.resolve(Session)

    assert str(info.value) == (
        "Cannot resolve scoped Session outside a scope."
        " Resolve it inside `with container.scope() as scope:` with scope.resolve(...)."
    )


def test_a_scoped_dependency_outside_a_scope_names_the_path(container: Container) -> None:
    container.register(Session, lifetime="scoped")
    container.register("report", Report, lifetime="transient")

    with pytest.raises(ContainerError) as info:
        container.resolve("report")

    assert str(info.value) == (
        "Cannot resolve scoped Session outside a scope (report -> Session)."
        " Resolve it inside `with container.scope() as scope:` with scope.resolve(...)."
    )


def test_a_singleton_depending_on_a_scoped_service_is_refused(container: Container) -> None:
    container.register(Session, lifetime="scoped")
    container.register(Report, lifetime="transient")
    container.register(Cache)

    with container.scope() as scope, pytest.raises(LifetimeMismatchError) as info:
        scope.resolve(Cache)

    assert str(info.value) == (
        "Singleton Cache depends on scoped Session (Cache -> Report -> Session). A singleton"
        " outlives every scope: make Cache scoped, or Session a singleton."
    )


def test_a_singleton_may_depend_on_a_transient(container: Container) -> None:
    container.register(Repository, lifetime="transient")
    container.register(UserService)

    assert type(container.resolve(UserService).repository) is Repository


# --- autowiring ---------------------------------------------------------------------------------


def test_a_parameter_is_wired_by_its_annotated_type(container: Container) -> None:
    container.register(Repository, SqlRepository)
    container.register("users", UserService)

    assert container.resolve("users").repository is container.resolve(Repository)


def test_a_parameter_is_wired_by_its_name(container: Container) -> None:
    container.register_instance("greeting", "hello")
    container.register(Greeter)

    assert container.resolve(Greeter).greeting == "hello"


def test_the_annotated_type_wins_over_the_name(container: Container) -> None:
    container.register(Repository, SqlRepository)
    container.register_instance("repository", "not this one")
    container.register(UserService)

    assert isinstance(container.resolve(UserService).repository, SqlRepository)


def test_an_unregistered_parameter_keeps_its_default(container: Container) -> None:
    container.register_instance("greeting", "hello")
    container.register(Greeter)

    assert container.resolve(Greeter).punctuation == "!"


def test_a_registered_parameter_overrides_its_default(container: Container) -> None:
    container.register_instance("greeting", "hello")
    container.register_instance(str, "?")
    container.register(Greeter)

    assert container.resolve(Greeter).punctuation == "?"


def test_star_args_are_ignored_and_keyword_only_parameters_wired(container: Container) -> None:
    container.register(Repository)
    container.register(Everything)

    everything = container.resolve(Everything)

    assert everything.repository is container.resolve(Repository)
    assert everything.extra == ((), {})


def test_a_factory_function_is_wired_by_its_annotations(container: Container) -> None:
    container.register(Repository)
    container.register(UserService, make_user_service)

    assert container.resolve(UserService).repository is container.resolve(Repository)


def test_a_callable_object_is_wired_by_its_call_annotations(container: Container) -> None:
    container.register(Repository)
    container.register(UserService, RepositoryFactory())

    assert container.resolve(UserService).repository is container.resolve(Repository)


def test_a_partial_is_wired_by_parameter_names(container: Container) -> None:
    container.register_instance("greeting", "hi")
    container.register(Greeter, functools.partial(Greeter, punctuation="."))

    greeter = container.resolve(Greeter)

    assert (greeter.greeting, greeter.punctuation) == ("hi", ".")


def test_a_missing_dependency_names_provider_parameter_and_keys(container: Container) -> None:
    container.register("users", UserService)

    with pytest.raises(UnknownServiceError) as info:
        container.resolve("users")

    assert str(info.value) == (
        "Cannot build 'users': parameter 'repository' of UserService needs Repository or"
        " 'repository', and no registration matches. Register one, or give 'repository' a default."
    )


def test_a_dependency_registered_after_a_failed_resolve_is_found(container: Container) -> None:
    container.register(UserService)
    with pytest.raises(UnknownServiceError):
        container.resolve(UserService)

    container.register(Repository)

    assert isinstance(container.resolve(UserService).repository, Repository)


def test_a_providers_signature_is_read_once(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[object] = []
    signature = inspect.signature

    def recording_signature(obj: object, *args: object, **kwargs: object) -> inspect.Signature:
        read.append(obj)
        return signature(obj, *args, **kwargs)  # type: ignore[arg-type]

    class FreshService(UserService):  # a class no other test has planned (plans are cached)
        pass

    monkeypatch.setattr(inspect, "signature", recording_signature)
    container.register(Repository, lifetime="transient")
    container.register(FreshService, lifetime="transient")

    for _ in range(3):
        container.resolve(FreshService)
    container.register("unrelated", Session)  # a wiring change rebinds, but reads nothing again
    container.resolve(FreshService)
    other = Container()  # another container (another platform, another test) reuses it
    other.register(Repository, lifetime="transient")
    other.register(FreshService, lifetime="transient")
    other.resolve(FreshService)
    assert read.count(FreshService) == 1


def test_a_positional_only_parameter_is_refused(container: Container) -> None:
    container.register(PositionalOnly)

    with pytest.raises(ContainerError) as info:
        container.resolve(PositionalOnly)

    assert str(info.value) == (
        "Cannot autowire PositionalOnly, the provider of PositionalOnly: parameter 'repository'"
        " is positional-only. Make it a regular parameter, or register a factory that passes it."
    )


def test_a_provider_without_a_readable_signature_is_refused(container: Container) -> None:
    container.register("settings", dict)

    with pytest.raises(ContainerError) as info:
        container.resolve("settings")

    assert str(info.value) == (
        "Cannot read the signature of dict, the provider of 'settings':"
        " no signature found for builtin type <class 'dict'>."
        " Register a factory function that builds it instead."
    )


def test_an_annotation_that_cannot_be_evaluated_is_reported(container: Container) -> None:
    container.register(Dangling)

    with pytest.raises(ContainerError) as info:
        container.resolve(Dangling)

    assert str(info.value) == (
        "Cannot resolve the type hints of Dangling, the provider of Dangling:"
        " name 'Ghost' is not defined."
        " Import the annotated types at runtime, not only under TYPE_CHECKING."
    )


# --- resolution errors --------------------------------------------------------------------------


def test_an_unknown_key_suggests_the_closest_registered_key(container: Container) -> None:
    container.register("user_service", UserService)
    container.register("email_service", Repository)

    with pytest.raises(UnknownServiceError) as info:
        container.resolve("user_servce")

    assert str(info.value) == (
        "No registration for 'user_servce'. Registered keys: email_service, user_service."
        " Did you mean 'user_service'?"
    )


def test_an_unknown_type_lists_registered_keys_and_how_to_register(container: Container) -> None:
    container.register("user_service", UserService)
    container.register(Repository)

    with pytest.raises(UnknownServiceError) as info:
        container.resolve(Session)

    assert str(info.value) == (
        "No registration for Session. Registered keys: Repository, user_service."
        " Register it with container.register(Session, ...)."
    )


def test_an_unknown_key_in_an_empty_container_says_so(container: Container) -> None:
    with pytest.raises(UnknownServiceError) as info:
        container.resolve("users")

    assert str(info.value) == (
        "No registration for 'users'. Registered keys: (none)."
        " Register it with container.register('users', ...)."
    )


@pytest.mark.parametrize(("key", "shown"), [(42, "42 (int)"), ([], "[] (list)")])
def test_resolving_a_non_key_is_refused(container: Container, key: object, shown: str) -> None:
    with pytest.raises(ContainerError) as info:
        container.resolve(key)  # type: ignore[call-overload]

    assert str(info.value) == (
        f"A container key must be a non-empty name or a type, got {shown}."
        " Use a name such as 'user_service', or the class itself."
    )


def test_a_cycle_at_resolve_is_reported_as_its_path(container: Container) -> None:
    container.register("a", lambda b: b)
    container.register("b", lambda c: c, lifetime="transient")
    container.register("c", lambda a: a)

    with pytest.raises(CircularDependencyError) as info:
        container.resolve("a")

    assert str(info.value) == (
        "Circular dependency: a -> b -> c -> a. Remove one of these dependencies to break it."
    )


def test_a_service_depending_on_itself_is_a_cycle(container: Container) -> None:
    container.register("loop", lambda loop: loop, lifetime="transient")

    with pytest.raises(CircularDependencyError) as info:
        container.resolve("loop")

    assert str(info.value) == (
        "Circular dependency: loop -> loop. Remove one of these dependencies to break it."
    )


def test_a_failed_build_leaves_nothing_behind(container: Container) -> None:
    attempts: list[int] = []

    def flaky() -> Repository:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("database is starting")
        return Repository()

    container.register(Repository, flaky)
    with pytest.raises(ConnectionError):
        container.resolve(Repository)

    assert container.resolve(Repository) is container.resolve(Repository)
    assert len(attempts) == 2


def test_a_factory_replacing_its_own_key_does_not_pin_the_old_instance(
    container: Container,
) -> None:
    def first() -> str:
        container.register("mode", lambda: "second", replace=True)
        return "first"

    container.register("mode", first)

    assert [container.resolve("mode"), container.resolve("mode")] == ["first", "second"]


# --- generators and disposal --------------------------------------------------------------------


def test_a_generator_factory_yields_the_instance_and_cleans_up_at_close(
    container: Container, log: Log
) -> None:
    container.register("connection", open_connection)

    connection = container.resolve("connection")
    assert log.lines == ["open connection"]
    container.close()

    assert isinstance(connection, Resource)
    assert log.lines == ["open connection", "cleanup connection"]


def test_close_disposes_singletons_newest_first(container: Container, log: Log) -> None:
    container.register("inner", lambda log: Resource(log, "inner"))
    container.register("outer", lambda log, inner: Resource(log, "outer"))
    container.register("connection", open_connection)
    container.resolve("outer")
    container.resolve("connection")

    container.close()

    assert log.lines[-3:] == ["cleanup connection", "close outer", "close inner"]


def test_transients_and_ready_instances_are_never_disposed(container: Container, log: Log) -> None:
    container.register_instance("mine", Resource(log, "mine"))
    container.register("fresh", lambda log: Resource(log, "fresh"), lifetime="transient")
    container.resolve("mine")
    container.resolve("fresh")

    container.close()

    assert log.lines == ["open mine", "open fresh"]


def test_disposal_failures_are_reported_together_after_disposing_the_rest(
    container: Container, log: Log
) -> None:
    container.register("first", BrokenResource)
    container.register("middle", lambda log: Resource(log, "middle"))
    container.register("last", yield_twice)
    for key in ("first", "middle", "last"):
        container.resolve(key)

    with pytest.raises(DisposalError) as info:
        container.close()

    assert str(info.value) == (
        "Closing the container failed to dispose 2 services (the others were disposed):\n"
        "  - last: ContainerError: Generator factory yield_twice for 'last' yielded more than"
        " once. It must yield exactly one instance.\n"
        "  - first: RuntimeError: disk gone"
    )
    assert [type(error) for error in info.value.errors] == [ContainerError, RuntimeError]
    assert "close middle" in log.lines


def test_a_generator_factory_that_never_yields_is_refused(container: Container) -> None:
    container.register("connection", yield_nothing)

    with pytest.raises(ContainerError) as info:
        container.resolve("connection")

    assert str(info.value) == (
        "Generator factory yield_nothing for 'connection' returned without yielding."
        " It must yield exactly one instance."
    )


def test_closing_twice_disposes_once(container: Container, log: Log) -> None:
    container.register("connection", open_connection)
    container.resolve("connection")

    container.close()
    container.close()

    assert log.lines.count("cleanup connection") == 1


def test_a_closed_container_refuses_to_resolve(container: Container) -> None:
    container.register(Repository)
    container.resolve(Repository)
    container.close()

    with pytest.raises(ContainerError) as info:
        container.resolve(Repository)

    assert str(info.value) == (
        "The container is closed; cannot resolve Repository."
        " Resolve services before close(), or build a new container."
    )


def test_a_closed_container_refuses_to_open_a_scope(container: Container) -> None:
    container.close()

    with pytest.raises(ContainerError) as info:
        container.scope()

    assert str(info.value) == "The container is closed; cannot open a scope. Build a new one."


def test_the_container_closes_when_its_block_exits(log: Log, container: Container) -> None:
    with container as entered:
        entered.register("connection", open_connection)
        entered.resolve("connection")

    assert log.lines[-1] == "cleanup connection"


# --- scopes -------------------------------------------------------------------------------------


def test_a_scope_disposes_its_services_newest_first_on_exit(container: Container, log: Log) -> None:
    container.register("session", lambda log: Resource(log, "session"), lifetime="scoped")
    container.register("connection", open_connection, lifetime="scoped")
    container.register("shared", lambda log: Resource(log, "shared"))

    with container.scope() as scope:
        for key in ("session", "connection", "shared"):
            scope.resolve(key)

    assert log.lines[-2:] == ["cleanup connection", "close session"]


def test_a_scope_disposes_even_when_its_block_raises(container: Container, log: Log) -> None:
    container.register("session", lambda log: Resource(log, "session"), lifetime="scoped")

    def handle_request() -> None:
        with container.scope() as scope:
            scope.resolve("session")
            raise KeyError("request failed")

    with pytest.raises(KeyError):
        handle_request()

    assert log.lines[-1] == "close session"


def test_a_scope_reports_its_disposal_failure(container: Container, log: Log) -> None:
    container.register("broken", BrokenResource, lifetime="scoped")

    with pytest.raises(DisposalError) as info, container.scope() as scope:
        scope.resolve("broken")

    assert str(info.value) == (
        "Closing the scope failed to dispose 1 service (the others were disposed):\n"
        "  - broken: RuntimeError: disk gone"
    )


def test_a_closed_scope_refuses_to_resolve(container: Container) -> None:
    container.register(Session, lifetime="scoped")
    with container.scope() as scope:
        scope.resolve(Session)

    with pytest.raises(ContainerError) as info:
        scope.resolve(Session)

    assert str(info.value) == (
        "This scope is closed and its services are disposed."
        " Resolve scoped services inside the `with container.scope() as scope:` block."
    )


def test_closing_a_scope_twice_disposes_once(container: Container, log: Log) -> None:
    container.register("session", lambda log: Resource(log, "session"), lifetime="scoped")
    scope = container.scope()
    scope.resolve("session")

    scope.close()
    scope.close()

    assert log.lines.count("close session") == 1


def test_scope_is_returned_by_container_scope(container: Container) -> None:
    assert isinstance(container.scope(), Scope)


# --- overrides ----------------------------------------------------------------------------------


def test_an_override_replaces_a_key_inside_its_block_only(container: Container) -> None:
    container.register(Repository)
    real = container.resolve(Repository)
    fake = SqlRepository()

    with container.override(Repository, fake) as given:
        assert given is fake
        assert container.resolve(Repository) is fake

    assert container.resolve(Repository) is real


def test_an_override_is_undone_when_its_block_raises(container: Container) -> None:
    container.register(Repository)

    with pytest.raises(RuntimeError), container.override(Repository, SqlRepository()):
        raise RuntimeError("test failed")

    assert type(container.resolve(Repository)) is Repository


def test_nested_overrides_unwind_in_order(container: Container) -> None:
    container.register_instance("mode", "real")

    with container.override("mode", "outer"):
        with container.override("mode", "inner"):
            assert container.resolve("mode") == "inner"
        assert container.resolve("mode") == "outer"

    assert container.resolve("mode") == "real"


def test_an_unregistered_key_can_be_overridden_for_the_block(container: Container) -> None:
    with container.override("clock", "fake clock"):
        assert container.keys() == ["clock"]
        assert container.resolve("clock") == "fake clock"

    assert "clock" not in container


def test_a_singleton_built_inside_an_override_is_rebuilt_after_it(container: Container) -> None:
    container.register(Repository)
    container.register(UserService)
    fake = SqlRepository()

    with container.override(Repository, fake):
        assert container.resolve(UserService).repository is fake

    assert container.resolve(UserService).repository is container.resolve(Repository)


def test_a_singleton_rebuilt_in_an_outer_override_is_forgotten_with_it(
    container: Container,
) -> None:
    container.register(Repository)
    container.register(UserService)
    outer, inner = SqlRepository(), SqlRepository()

    with container.override(Repository, outer):
        with container.override(Repository, inner):
            assert container.resolve(UserService).repository is inner
        assert container.resolve(UserService).repository is outer

    assert type(container.resolve(UserService).repository) is Repository


def test_a_singleton_built_before_an_override_is_rebuilt_with_it_and_comes_back_after(
    container: Container,
) -> None:
    container.register(Repository)
    container.register(UserService)
    users = container.resolve(UserService)
    fake = SqlRepository()

    with container.override(Repository, fake):
        during = container.resolve(UserService)
        assert during is not users
        assert during.repository is fake
    assert container.resolve(UserService) is users  # the original, state and all
    assert type(users.repository) is Repository


def test_an_override_takes_effect_without_with_until_restored(container: Container) -> None:
    container.register(Repository)
    container.register(UserService)
    users = container.resolve(UserService)
    fake = SqlRepository()

    override = container.override(Repository, fake)
    assert container.resolve(Repository) is fake
    assert container.resolve(UserService).repository is fake
    assert override.active
    assert repr(override) == f"<Override Repository -> {fake!r} (in force)>"
    override.restore()
    override.restore()  # a second restore does nothing
    assert not override.active
    assert container.resolve(UserService) is users


def test_singletons_unrelated_to_the_overridden_key_are_kept(container: Container) -> None:
    container.register(Repository)
    container.register("clock", lambda: object())
    clock = container.resolve("clock")
    with container.override(Repository, SqlRepository()):
        assert container.resolve("clock") is clock


def test_a_dependency_through_another_singleton_is_reached_too(container: Container) -> None:
    class Mailer:
        def __init__(self, users: UserService) -> None:
            self.users = users

    container.register(Repository)
    container.register(UserService)
    container.register(Mailer)
    mailer = container.resolve(Mailer)
    fake = SqlRepository()
    with container.override(Repository, fake):
        assert container.resolve(Mailer).users.repository is fake
    assert container.resolve(Mailer) is mailer


def test_overrides_restored_out_of_order_leave_the_newer_one_in_force(
    container: Container,
) -> None:
    container.register(Repository)
    container.register(UserService)
    original = container.resolve(UserService)
    outer, inner = SqlRepository(), SqlRepository()

    first = container.override(Repository, outer)
    second = container.override(Repository, inner)
    first.restore()
    assert container.resolve(UserService).repository is inner
    second.restore()
    assert container.resolve(UserService) is original


def test_a_closed_container_refuses_an_override(container: Container) -> None:
    container.close()
    with pytest.raises(ContainerError) as caught:
        container.override(Repository, SqlRepository())
    assert str(caught.value) == (
        "The container is closed; cannot override Repository. Override before close(), or "
        "build a new container."
    )


def test_an_override_replacement_is_never_disposed(container: Container, log: Log) -> None:
    with container.override("connection", Resource(log, "fake")):
        container.resolve("connection")
    container.close()

    assert log.lines == ["open fake"]


def test_an_override_of_an_invalid_key_is_refused(container: Container) -> None:
    with pytest.raises(ContainerError) as info:
        container.override("", "anything")

    assert str(info.value) == (
        "A container key must be a non-empty name or a type, got '' (str)."
        " Use a name such as 'user_service', or the class itself."
    )


# --- validation ---------------------------------------------------------------------------------


def test_validate_accepts_a_complete_graph_without_building_it(container: Container) -> None:
    Counted.built = 0
    container.register(Counted)
    container.register(Repository, lifetime="transient")
    container.register(UserService)
    container.register(Session, lifetime="scoped")
    container.register(Report, lifetime="scoped")

    container.validate()

    assert Counted.built == 0


def test_validate_reports_every_problem_at_once(container: Container) -> None:
    container.register("users", UserService)
    container.register(PositionalOnly)
    container.register("a", lambda b: b)
    container.register("b", lambda a: a)
    container.register("hub", lambda first: first)
    container.register("first", lambda second: second, lifetime="transient")
    container.register("second", lambda first: first, lifetime="transient")
    container.register(Session, lifetime="scoped")
    container.register(Report, lifetime="transient")
    container.register(Cache)

    with pytest.raises(ContainerError) as info:
        container.validate()

    assert type(info.value) is ContainerError
    assert str(info.value) == (
        "Container validation found 5 problems:\n"
        "  - Cannot build 'users': parameter 'repository' of UserService needs Repository or"
        " 'repository', and no registration matches. Register one, or give 'repository' a"
        " default.\n"
        "  - Cannot autowire PositionalOnly, the provider of PositionalOnly: parameter"
        " 'repository' is positional-only. Make it a regular parameter, or register a factory"
        " that passes it.\n"
        "  - Circular dependency: a -> b -> a. Remove one of these dependencies to break it.\n"
        "  - Circular dependency: first -> second -> first. Remove one of these dependencies to"
        " break it.\n"
        "  - Singleton Cache depends on scoped Session (Cache -> Report -> Session). A singleton"
        " outlives every scope: make Cache scoped, or Session a singleton."
    )


def test_validate_raises_unknown_service_error_when_only_keys_are_missing(
    container: Container,
) -> None:
    container.register(UserService)
    container.register(Greeter)

    with pytest.raises(UnknownServiceError) as info:
        container.validate()

    assert str(info.value) == (
        "Container validation found 2 problems:\n"
        "  - Cannot build UserService: parameter 'repository' of UserService needs Repository or"
        " 'repository', and no registration matches. Register one, or give 'repository' a"
        " default.\n"
        "  - Cannot build Greeter: parameter 'greeting' of Greeter needs 'greeting', and no"
        " registration matches. Register one, or give 'greeting' a default."
    )


def test_validate_raises_circular_dependency_error_when_only_cycles(
    container: Container,
) -> None:
    container.register("loop", lambda loop: loop)

    with pytest.raises(CircularDependencyError) as info:
        container.validate()

    assert str(info.value) == (
        "Container validation found 1 problem:\n"
        "  - Circular dependency: loop -> loop. Remove one of these dependencies to break it."
    )


def test_validate_raises_lifetime_mismatch_error_for_a_direct_scoped_dependency(
    container: Container,
) -> None:
    container.register(Session, lifetime="scoped")
    container.register(Report)

    with pytest.raises(LifetimeMismatchError) as info:
        container.validate()

    assert str(info.value) == (
        "Container validation found 1 problem:\n"
        "  - Singleton Report depends on scoped Session (Report -> Session). A singleton"
        " outlives every scope: make Report scoped, or Session a singleton."
    )


def test_validate_counts_overrides_as_ready_objects(container: Container) -> None:
    container.register(UserService)
    container.register(Session, lifetime="scoped")
    container.register(Report)

    with container.override(Repository, SqlRepository()), container.override(Session, Session()):
        container.validate()


# --- threads ------------------------------------------------------------------------------------


def _race(threads: int, target: object) -> list[object]:
    """Run ``target`` in ``threads`` threads released together; return what each returned."""
    barrier = threading.Barrier(threads)
    results: list[object] = []

    def run() -> None:
        barrier.wait()
        results.append(target())  # type: ignore[operator]

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    assert not any(worker.is_alive() for worker in workers)
    return results


def test_racing_threads_build_a_singleton_exactly_once(container: Container) -> None:
    built: list[Repository] = []

    def slow_repository() -> Repository:
        time.sleep(0.01)  # widen the window in which a second build could start
        built.append(Repository())
        return built[-1]

    container.register(Repository, slow_repository)

    results = _race(16, lambda: container.resolve(Repository))

    assert len(built) == 1
    assert len(results) == 16
    assert all(result is built[0] for result in results)


def test_racing_threads_build_nested_singletons_without_deadlock(container: Container) -> None:
    container.register(Repository)
    container.register(UserService)

    results = _race(16, lambda: container.resolve(UserService))

    assert len({id(result) for result in results}) == 1


def test_racing_threads_build_a_scoped_service_once_per_scope(container: Container) -> None:
    built: list[Session] = []

    def slow_session() -> Session:
        time.sleep(0.01)  # widen the window in which a second build could start
        built.append(Session())
        return built[-1]

    container.register(Session, slow_session, lifetime="scoped")

    with container.scope() as scope:
        results = _race(16, lambda: scope.resolve(Session))
        again = _race(16, lambda: scope.resolve(Session))

    assert len(built) == 1
    assert len(results) == len(again) == 16
    assert all(result is built[0] for result in [*results, *again])


def test_racing_threads_resolving_a_new_transient_each_get_their_own(
    container: Container,
) -> None:
    container.register(Repository)
    container.register(UserService, lifetime="transient")

    results = _race(16, lambda: container.resolve(UserService))

    assert len({id(result) for result in results}) == 16
    repository = container.resolve(Repository)
    assert all(result.repository is repository for result in results)  # type: ignore[attr-defined]


# --- the process-wide default -------------------------------------------------------------------


@pytest.fixture
def no_default() -> Iterator[None]:
    previous = set_container(None)
    yield
    set_container(previous)


@pytest.mark.usefixtures("no_default")
def test_get_container_creates_one_default_on_first_call() -> None:
    default = get_container()

    assert isinstance(default, Container)
    assert get_container() is default


@pytest.mark.usefixtures("no_default")
def test_set_container_installs_a_default_and_returns_the_previous_one(
    container: Container,
) -> None:
    created = get_container()
    container.register_instance("user_service", "the service")

    assert set_container(container) is created
    assert get_container().resolve("user_service") == "the service"


def test_importing_the_module_builds_no_container() -> None:
    code = "import aura.container as c; print(c._default_container)"

    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    assert output == "None\n"


def test_an_alias_resolves_to_its_target_and_is_validated(container: Container) -> None:
    container.register(Repository)
    container.register_alias("repository", Repository)
    assert container.resolve("repository") is container.resolve(Repository)
    container.register_alias("missing", "nowhere")
    with pytest.raises(UnknownServiceError) as info:
        container.validate()
    assert "'nowhere'" in str(info.value)
    with pytest.raises(ContainerError):
        container.register_alias("repository", Repository)  # taken already
