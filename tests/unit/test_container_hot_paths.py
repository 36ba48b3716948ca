"""The container's hot paths do no work twice, and behave exactly as the first resolve did.

A transient's first resolve goes through the general resolver (cycle and path tracking); later
ones through a resolver compiled for the wiring. A scoped service a scope has built is found
without a lock. Each test resolves more than once, so that the compiled path is the one judged,
and changes the wiring after, so that what was compiled must be discarded.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import pytest

from aura.container import Container
from aura.exceptions import ContainerError, LifetimeMismatchError


class Repository:
    """A singleton dependency."""


class SqlRepository(Repository):
    """A replacement for it."""


class Clock:
    """Another singleton dependency."""


class Service:
    """A transient needing both."""

    def __init__(self, repository: Repository, clock: Clock) -> None:
        self.repository = repository
        self.clock = clock


class Session:
    """A unit-of-work service, registered as scoped."""


class Report:
    """Needs a session: transient, so it takes the session of its scope."""

    def __init__(self, session: Session) -> None:
        self.session = session


class Cache:
    """Needs a report; as a singleton it would capture a scoped session through it."""

    def __init__(self, report: Report) -> None:
        self.report = report


@pytest.fixture
def container() -> Container:
    container = Container()
    container.register(Repository)
    container.register(Clock)
    return container


def _keyword_only(init: Any) -> Any:
    """A wrapper that takes keywords only, signed as the function it wraps."""

    @functools.wraps(init)
    def wrapper(self: object, **kwargs: object) -> None:
        init(self, **kwargs)

    return wrapper


class WrappedService:
    """Its ``__init__`` reads as (repository, clock) but takes keywords only."""

    @_keyword_only
    def __init__(self, repository: Repository, clock: Clock) -> None:
        self.repository = repository
        self.clock = clock


class CountingMeta(type):
    """Builds through its own ``__call__``, which records how its arguments came."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        instance = super().__call__(*args, **kwargs)
        instance.positional = len(args)
        return instance


class MetaService(metaclass=CountingMeta):
    """Built through a metaclass; signed as its ``__init__``, so that it is autowired."""

    positional: int  # set by the metaclass

    def __init__(self, repository: Repository, clock: Clock) -> None:
        self.repository = repository
        self.clock = clock


MetaService.__signature__ = inspect.signature(Service)  # type: ignore[attr-defined]


def _signed(*names: str) -> Any:
    """A factory taking ``**kwargs`` only, whose ``__signature__`` names ``names``."""

    def factory(**kwargs: object) -> dict[str, object]:
        return kwargs

    factory.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names]
    )
    return factory


# --- transients ---------------------------------------------------------------------------------


def test_a_transient_is_built_anew_each_time_with_the_same_singletons(
    container: Container,
) -> None:
    container.register(Service, lifetime="transient")

    services = [container.resolve(Service) for _ in range(3)]

    assert len({id(service) for service in services}) == 3
    assert all(service.repository is container.resolve(Repository) for service in services)
    assert all(service.clock is container.resolve(Clock) for service in services)


def test_a_compiled_transient_follows_an_override_of_its_dependency_and_its_end(
    container: Container,
) -> None:
    container.register(Service, lifetime="transient")
    real = container.resolve(Service).repository
    container.resolve(Service)
    fake = SqlRepository()

    with container.override(Repository, fake):
        assert container.resolve(Service).repository is fake
        assert container.resolve(Service).repository is fake

    assert container.resolve(Service).repository is real


def test_a_compiled_transient_follows_a_replaced_dependency(container: Container) -> None:
    container.register(Service, lifetime="transient")
    container.resolve(Service)
    container.resolve(Service)

    container.register(Repository, SqlRepository, replace=True)

    assert type(container.resolve(Service).repository) is SqlRepository


def test_a_compiled_transient_overridden_itself_gives_the_replacement(
    container: Container,
) -> None:
    container.register(Service, lifetime="transient")
    container.resolve(Service)
    container.resolve(Service)
    fake = object()

    with container.override(Service, fake):
        assert container.resolve(Service) is fake

    assert type(container.resolve(Service)) is Service


def test_a_compiled_transient_takes_the_session_of_each_scope(container: Container) -> None:
    container.register(Session, lifetime="scoped")
    container.register(Report, lifetime="transient")

    with container.scope() as first, container.scope() as second:
        assert first.resolve(Report).session is first.resolve(Session)
        assert first.resolve(Report).session is first.resolve(Session)
        assert second.resolve(Report).session is second.resolve(Session)
        assert first.resolve(Session) is not second.resolve(Session)


def test_a_compiled_transient_outside_a_scope_names_the_whole_path(
    container: Container,
) -> None:
    container.register(Session, lifetime="scoped")
    container.register("report", Report, lifetime="transient")
    container.register("summary", lambda report: report, lifetime="transient")
    with container.scope() as scope:
        scope.resolve("summary")
        scope.resolve("summary")

    with pytest.raises(ContainerError) as info:
        container.resolve("summary")

    assert str(info.value) == (
        "Cannot resolve scoped Session outside a scope (summary -> report -> Session)."
        " Resolve it inside `with container.scope() as scope:` with scope.resolve(...)."
    )


def test_a_singleton_reaching_a_scoped_service_through_a_compiled_transient_is_refused(
    container: Container,
) -> None:
    container.register(Session, lifetime="scoped")
    container.register(Report, lifetime="transient")
    container.register(Cache)

    with container.scope() as scope:
        scope.resolve(Report)
        scope.resolve(Report)
        with pytest.raises(LifetimeMismatchError) as info:
            scope.resolve(Cache)

    assert str(info.value) == (
        "Singleton Cache depends on scoped Session (Cache -> Report -> Session). A singleton"
        " outlives every scope: make Cache scoped, or Session a singleton."
    )


def test_an_init_that_takes_keywords_only_gets_keywords(container: Container) -> None:
    container.register(WrappedService, lifetime="transient")

    built = [container.resolve(WrappedService) for _ in range(3)]

    assert all(b.repository is container.resolve(Repository) for b in built)
    assert all(b.clock is container.resolve(Clock) for b in built)


def test_a_class_built_by_its_metaclass_gets_its_arguments_by_name(container: Container) -> None:
    container.register(MetaService, lifetime="transient")

    built = [container.resolve(MetaService) for _ in range(3)]

    assert [b.positional for b in built] == [0, 0, 0]
    assert all(b.repository is container.resolve(Repository) for b in built)


def test_a_factory_signed_by_signature_gets_its_arguments_by_name(container: Container) -> None:
    container.register("settings", _signed("repository", "clock"), lifetime="transient")
    container.register_instance("repository", "the repository")
    container.register("clock", lambda: "the clock", lifetime="transient")

    built = [container.resolve("settings") for _ in range(3)]

    assert built == [{"repository": "the repository", "clock": "the clock"}] * 3


def test_a_parameter_name_python_would_respell_is_passed_as_named(container: Container) -> None:
    name = "\ufb01le"  # the "fi" ligature: source code would read it as "file"
    container.register("reader", _signed(name), lifetime="transient")
    container.register_instance(name, "the file")

    assert [container.resolve("reader") for _ in range(3)] == [{name: "the file"}] * 3


def test_keyword_only_and_defaulted_parameters_are_passed_as_declared(
    container: Container,
) -> None:
    def build(
        repository: Repository, punctuation: str = "!", *, clock: Clock
    ) -> tuple[object, ...]:
        return repository, punctuation, clock

    container.register("built", build, lifetime="transient")

    expected = (container.resolve(Repository), "!", container.resolve(Clock))
    assert [container.resolve("built") for _ in range(3)] == [expected] * 3


def test_an_alias_of_a_singleton_follows_an_override_after_it_was_compiled(
    container: Container,
) -> None:
    container.register_alias("repository", Repository)
    real = container.resolve("repository")
    assert container.resolve("repository") is real is container.resolve(Repository)
    fake = SqlRepository()

    with container.override(Repository, fake):
        assert container.resolve("repository") is fake

    assert container.resolve("repository") is real


def test_an_alias_of_a_transient_builds_a_new_one_each_time(container: Container) -> None:
    container.register(Service, lifetime="transient")
    container.register_alias("service", Service)

    built = [container.resolve("service") for _ in range(3)]

    assert len({id(b) for b in built}) == 3
    assert all(type(b) is Service for b in built)


def test_an_error_a_provider_raises_reaches_the_caller_once(container: Container) -> None:
    calls: list[str] = []

    def broken(repository: Repository) -> object:
        calls.append("called")
        raise TypeError("wrong argument")

    def missing(repository: Repository) -> object:
        raise KeyError("absent")

    container.register("broken", broken, lifetime="transient")
    container.register("missing", missing, lifetime="transient")

    with pytest.raises(TypeError, match="wrong argument"):
        container.resolve("broken")
    with pytest.raises(KeyError, match="absent"):
        container.resolve("missing")

    assert calls == ["called"]


# --- scoped services ----------------------------------------------------------------------------


def test_a_scoped_service_built_in_a_scope_gives_the_override_while_it_lasts(
    container: Container,
) -> None:
    container.register(Session, lifetime="scoped")
    fake = Session()

    with container.scope() as scope:
        built = scope.resolve(Session)
        assert scope.resolve(Session) is built
        with container.override(Session, fake):
            assert scope.resolve(Session) is fake
            assert scope.resolve(Session) is fake
        assert scope.resolve(Session) is built
        assert scope.resolve(Session) is built


def test_a_scoped_service_replaced_in_an_open_scope_is_built_anew(container: Container) -> None:
    class OtherSession(Session):
        """The replacement registration's class."""

    container.register(Session, lifetime="scoped")

    with container.scope() as scope:
        first = scope.resolve(Session)
        assert scope.resolve(Session) is first
        container.register(Session, OtherSession, lifetime="scoped", replace=True)
        second = scope.resolve(Session)
        assert type(second) is OtherSession
        assert scope.resolve(Session) is second


def test_a_scope_keeps_its_instance_across_a_change_of_unrelated_wiring(
    container: Container,
) -> None:
    container.register(Session, lifetime="scoped")

    with container.scope() as scope:
        built = scope.resolve(Session)
        with container.override(Clock, Clock()):
            assert scope.resolve(Session) is built
        container.register("late", Clock)
        assert scope.resolve(Session) is built
        assert scope.resolve(Session) is built


def test_a_built_scoped_service_is_refused_once_the_container_is_closed(
    container: Container,
) -> None:
    container.register(Session, lifetime="scoped")
    scope = container.scope()
    scope.resolve(Session)
    scope.resolve(Session)

    container.close()

    with pytest.raises(ContainerError) as info:
        scope.resolve(Session)
    assert str(info.value) == (
        "The container is closed; cannot resolve Session."
        " Resolve services before close(), or build a new container."
    )


def test_a_closed_scope_refuses_a_service_it_resolved_many_times(container: Container) -> None:
    container.register(Session, lifetime="scoped")
    with container.scope() as scope:
        scope.resolve(Session)
        scope.resolve(Session)

    with pytest.raises(ContainerError) as info:
        scope.resolve(Session)

    assert str(info.value) == (
        "This scope is closed and its services are disposed."
        " Resolve scoped services inside the `with container.scope() as scope:` block."
    )


def test_a_scope_refuses_a_non_key(container: Container) -> None:
    with container.scope() as scope, pytest.raises(ContainerError) as info:
        scope.resolve([])  # type: ignore[call-overload]

    assert str(info.value) == (
        "A container key must be a non-empty name or a type, got [] (list)."
        " Use a name such as 'user_service', or the class itself."
    )


def test_a_transient_replacing_its_own_key_is_not_compiled_for_the_old_one(
    container: Container,
) -> None:
    def first() -> str:
        container.register("mode", lambda: "second", lifetime="transient", replace=True)
        return "first"

    container.register("mode", first, lifetime="transient")

    assert [container.resolve("mode") for _ in range(3)] == ["first", "second", "second"]


def test_a_scoped_factory_replacing_its_own_key_does_not_pin_the_old_instance(
    container: Container,
) -> None:
    def first() -> str:
        container.register("mode", lambda: "second", lifetime="scoped", replace=True)
        return "first"

    container.register("mode", first, lifetime="scoped")

    with container.scope() as scope:
        assert [scope.resolve("mode") for _ in range(3)] == ["first", "second", "second"]


def test_a_scope_closed_while_building_keeps_nothing_to_serve(container: Container) -> None:
    scope = container.scope()

    def build() -> Session:
        scope.close()
        return Session()

    container.register(Session, build, lifetime="scoped")
    scope.resolve(Session)

    with pytest.raises(ContainerError, match="This scope is closed"):
        scope.resolve(Session)
