"""A breaker given in a module declaration: each platform gets its own, never a shared one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aura.breaker import BreakerState, BreakerTransition, CircuitBreaker, SlidingCountWindow
from aura.exceptions import CircuitBreakerOpenError, ModuleDefinitionError
from aura.module import Module
from aura.platform import Platform


class Flaky:
    """Fails on demand: the breaker in front of it counts the failures."""

    def fetch(self, fail: bool) -> str:
        if fail:
            raise ConnectionError("backend down")
        return "ok"


class NotABusinessError(LookupError):
    """Excluded from the breaker's count in one of the tests."""


def remote_module(breaker: Any) -> Module:
    remote = Module("remote")
    remote.add_service("Flaky", Flaky, breaker=breaker)
    return remote


def breaker_of(platform: Platform) -> CircuitBreaker:
    [info] = platform.registry.services("remote")
    assert info.policy is not None
    breaker = info.policy.breaker
    assert isinstance(breaker, CircuitBreaker)
    return breaker


def fail_once(platform: Platform) -> None:
    with pytest.raises(ConnectionError):
        platform.registry.get_service("remote", "Flaky").fetch(True)


def test_a_breaker_opened_in_one_platform_is_closed_in_the_next_one_of_the_same_declaration() -> (
    None
):
    declared = CircuitBreaker(failure_threshold=1, timeout=30)
    remote = remote_module(declared)

    with Platform([remote]) as first:
        fail_once(first)
        with pytest.raises(CircuitBreakerOpenError):
            first.registry.get_service("remote", "Flaky").fetch(False)
        assert breaker_of(first).state is BreakerState.OPEN
    with Platform([remote]) as second:
        assert breaker_of(second).state is BreakerState.CLOSED
        assert second.registry.get_service("remote", "Flaky").fetch(False) == "ok"

    assert declared.state is BreakerState.CLOSED
    assert declared.failure_count == 0


def test_each_platform_gets_a_breaker_of_its_own_not_the_declared_instance() -> None:
    declared = CircuitBreaker(failure_threshold=3, timeout=30)
    remote = remote_module(declared)

    with Platform([remote]) as first, Platform([remote]) as second:
        breakers = [breaker_of(first), breaker_of(second)]

    assert breakers[0] is not breakers[1]
    assert declared not in breakers


def test_a_copy_keeps_the_thresholds_timeout_name_policy_and_exclusions() -> None:
    policy = SlidingCountWindow(size=10, failure_rate=50, minimum_calls=4)
    declared = CircuitBreaker(
        failure_threshold=4,
        timeout=12.5,
        name="remote.Flaky",
        exclude=(NotABusinessError, lambda error: "ignore" in str(error)),
        policy=policy,
    )

    copy = declared.fresh()

    assert copy is not declared
    assert type(copy) is CircuitBreaker
    assert (copy.name, copy.failure_threshold, copy.timeout, copy.policy) == (
        "remote.Flaky",
        4,
        12.5,
        policy,
    )
    for excluded in (NotABusinessError("no such user"), ValueError("please ignore")):
        with pytest.raises(type(excluded)):
            copy.call(_raise, excluded)
    assert copy.snapshot().window_calls == 0  # excluded errors count neither way


def test_a_copy_keeps_the_clock_and_the_success_threshold() -> None:
    now = [0.0]
    declared = CircuitBreaker(
        failure_threshold=1, timeout=10, success_threshold=2, clock=lambda: now[0]
    )
    copy = declared.fresh()

    with pytest.raises(ConnectionError):
        copy.call(Flaky().fetch, True)
    now[0] = 11.0  # past the timeout on the declared clock: a trial call may run
    copy.call(Flaky().fetch, False)
    assert copy.state is BreakerState.HALF_OPEN  # one trial success of the two needed
    copy.call(Flaky().fetch, False)
    assert copy.state is BreakerState.CLOSED


def _raise(error: Exception) -> None:
    raise error


def test_a_copy_of_an_open_breaker_has_none_of_its_state() -> None:
    declared = CircuitBreaker(failure_threshold=1, timeout=30, name="remote.Flaky")
    with pytest.raises(ConnectionError):
        declared.call(Flaky().fetch, True)
    assert declared.state is BreakerState.OPEN

    copy = declared.fresh()

    assert copy.state is BreakerState.CLOSED
    assert copy.failure_count == 0
    assert copy.last_failure_time is None
    assert copy.call(Flaky().fetch, False) == "ok"
    assert declared.state is BreakerState.OPEN


def test_listeners_of_the_declared_breaker_hear_every_platforms_copy() -> None:
    heard: list[BreakerTransition] = []
    declared = CircuitBreaker(failure_threshold=1, timeout=30, name="remote.Flaky")
    declared.add_listener(heard.append)
    remote = remote_module(declared)

    for _ in range(2):
        with Platform([remote]) as platform:
            fail_once(platform)

    assert [(t.name, t.old, t.new) for t in heard] == [
        ("remote.Flaky", BreakerState.CLOSED, BreakerState.OPEN),
        ("remote.Flaky", BreakerState.CLOSED, BreakerState.OPEN),
    ]


def test_a_listener_added_to_one_platforms_breaker_stays_on_that_platform() -> None:
    declared = CircuitBreaker(failure_threshold=1, timeout=30)
    remote = remote_module(declared)
    first_only: list[BreakerTransition] = []

    with Platform([remote]) as first:
        breaker_of(first).add_listener(first_only.append)
        fail_once(first)
    with Platform([remote]) as second:
        fail_once(second)

    assert len(first_only) == 1
    declared.force_open()  # the declared instance does not carry it either
    assert len(first_only) == 1


def test_a_factory_is_still_called_once_per_platform() -> None:
    built: list[CircuitBreaker] = []

    def factory() -> CircuitBreaker:
        built.append(CircuitBreaker(failure_threshold=1))
        return built[-1]

    remote = remote_module(factory)
    with Platform([remote]) as first, Platform([remote]) as second:
        assert [breaker_of(first), breaker_of(second)] == built


class ForeignBreaker:
    """A breaker of another library: it has call() and acall(), and no way to copy itself."""

    def call(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    async def acall(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return await func(*args, **kwargs)


def refusal(breaker: Any) -> str:
    with pytest.raises(ModuleDefinitionError) as caught:
        remote_module(breaker)
    return str(caught.value)


def test_a_breaker_instance_that_cannot_copy_itself_is_refused_at_declaration() -> None:
    assert refusal(ForeignBreaker()) == (
        "Service 'Flaky' of module 'remote' is given a breaker instance (ForeignBreaker) that "
        "cannot be copied for each platform: it has no fresh() method. Shared by every platform "
        "built from this declaration, one test's open breaker would fail the next. Pass a "
        "factory instead: breaker=lambda: ForeignBreaker(...)."
    )


class ZonedBreaker(CircuitBreaker):
    """A subclass whose __init__ takes another argument, and that does not override fresh()."""

    __slots__ = ("zone",)

    def __init__(self, zone: str) -> None:
        super().__init__(failure_threshold=2)
        self.zone = zone


def test_a_subclass_whose_fresh_cannot_rebuild_it_is_refused_naming_why() -> None:
    assert refusal(ZonedBreaker("eu")) == (
        "Service 'Flaky' of module 'remote' is given a breaker instance (ZonedBreaker) that "
        "cannot be copied for each platform: its fresh() raised TypeError: "
        "ZonedBreaker.__init__() got an unexpected keyword argument 'name'. Shared by every "
        "platform built from this declaration, one test's open breaker would fail the next. "
        "Pass a factory instead: breaker=lambda: ZonedBreaker(...)."
    )


class SelfBreaker(ForeignBreaker):
    """Claims to copy itself, but gives back the same object."""

    def fresh(self) -> SelfBreaker:
        return self


def test_a_fresh_that_returns_the_same_breaker_is_refused() -> None:
    breaker = SelfBreaker()
    assert refusal(breaker) == (
        "Service 'Flaky' of module 'remote' is given a breaker instance (SelfBreaker) that "
        f"cannot be copied for each platform: its fresh() returned {breaker!r}, not a new "
        "breaker. Shared by every platform built from this declaration, one test's open breaker "
        "would fail the next. Pass a factory instead: breaker=lambda: SelfBreaker(...)."
    )


class CopyingZonedBreaker(ZonedBreaker):
    """A subclass that overrides fresh(): it is copied like a CircuitBreaker."""

    __slots__ = ()

    def fresh(self) -> CopyingZonedBreaker:
        return CopyingZonedBreaker(self.zone)


def test_a_subclass_that_overrides_fresh_is_copied_per_platform() -> None:
    declared = CopyingZonedBreaker("eu")
    remote = remote_module(declared)

    with Platform([remote]) as first, Platform([remote]) as second:
        breakers = [breaker_of(first), breaker_of(second)]

    assert breakers[0] is not breakers[1]
    assert all(isinstance(b, CopyingZonedBreaker) and b.zone == "eu" for b in breakers)
    assert declared not in breakers


def test_something_that_is_neither_a_breaker_nor_a_factory_is_refused_at_declaration() -> None:
    assert refusal(5) == (
        "breaker of service 'Flaky' in module 'remote' must be a circuit breaker or a factory "
        "that builds one, got int (5). Pass breaker=CircuitBreaker(...) or "
        "breaker=lambda: CircuitBreaker(...)."
    )
