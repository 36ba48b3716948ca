"""Bad input, generated: each gets a typed error from aura.exceptions and changes nothing."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aura.breaker import CircuitBreaker
from aura.container import Container
from aura.events import EventCatalog, event_contract
from aura.exceptions import (
    AuraError,
    CircularDependencyError,
    ConfigurationError,
    ContainerError,
    EventValidationError,
    InvalidEventTypeError,
    InvalidNameError,
)
from aura.platform import Platform
from tests.reliability.conftest import snapshot

FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def refused(platform: Platform, action: Callable[[], object], error: type[Exception]) -> str:
    """Run ``action``; assert it raised ``error`` (an AuraError) and changed nothing."""
    before = snapshot(platform)
    with pytest.raises(error) as caught:
        action()
    assert isinstance(caught.value, AuraError)
    assert snapshot(platform) == before
    return str(caught.value)


bad_event_types = st.one_of(
    st.just(""),
    st.text(min_size=1, max_size=20).filter(lambda t: t != t.lower() or "." not in t),
    st.from_regex(r"[a-z]+ [a-z]+\.[a-z]+", fullmatch=True),
    st.from_regex(r"[a-z]+\.\*", fullmatch=True),
    st.just("*"),
    st.just("a." * 5_000 + "b"),
    st.from_regex(r"[a-z]+\.[éüßø]+", fullmatch=True),
    st.integers(),
    st.none(),
)


@FAST
@given(event_type=bad_event_types)
def test_bad_event_types_are_refused(durable_platform: Platform, event_type: Any) -> None:
    expected = InvalidEventTypeError if isinstance(event_type, str) else EventValidationError
    message = refused(
        durable_platform, lambda: durable_platform.bus.publish(event_type, {}, "scripts"), expected
    )
    assert message.startswith(
        "Invalid event type " if isinstance(event_type, str) else "Cannot publish "
    )


class Opaque:
    pass


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def cyclic() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["again"] = loop
    return {"loop": loop}


bad_payloads = st.one_of(
    st.builds(lambda: {"when": Opaque()}),
    st.builds(lambda: {"ratio": math.nan}),
    st.builds(lambda: {"big": math.inf}),
    st.builds(cyclic),
    st.builds(lambda: nested(100)),
    st.builds(lambda: {"blob": "x" * 10_000_000}),
    st.builds(lambda: {1: "int key"}),
    st.sets(st.integers(), min_size=1).map(lambda s: {"set": s}),
    st.lists(st.integers()).map(lambda values: values),  # not a dict at all
)


@FAST
@given(data=bad_payloads)
def test_bad_payloads_are_refused(durable_platform: Platform, data: Any) -> None:
    refused(
        durable_platform,
        lambda: durable_platform.bus.publish("audit.noted", data, "scripts"),
        EventValidationError,
    )


@dataclass
class Measured:
    count: int
    label: str


@FAST
@given(
    count=st.one_of(
        st.text(max_size=3),
        st.floats(allow_nan=False, allow_infinity=False),
        st.none(),
        st.booleans(),
    ),
    label=st.one_of(st.integers(), st.none(), st.lists(st.text(max_size=2), max_size=2)),
)
def test_wrong_contract_field_types_are_refused(
    durable_platform: Platform, count: Any, label: Any
) -> None:
    catalog = EventCatalog()
    event_contract("metric.measured", catalog=catalog)(Measured)
    durable_platform.bus.catalog = catalog
    try:
        message = refused(
            durable_platform,
            lambda: durable_platform.bus.publish(
                "metric.measured", {"count": count, "label": label}, "scripts"
            ),
            EventValidationError,
        )
    finally:
        from aura.events import default_catalog

        durable_platform.bus.catalog = default_catalog
    assert message.startswith("Invalid data for event 'metric.measured'")


bad_names = st.one_of(
    st.just(""),
    st.text(min_size=1, max_size=10).filter(lambda t: not t.isidentifier() or t != t.lower()),
    st.just("m" * 10_000),
    st.integers(),
    st.none(),
)


@FAST
@given(module=bad_names)
def test_bad_module_names_are_refused_everywhere(durable_platform: Platform, module: Any) -> None:
    refused(
        durable_platform,
        lambda: durable_platform.bus.subscribe("user.registered", print, module),
        InvalidNameError,
    )
    refused(
        durable_platform,
        lambda: durable_platform.registry.register_service(module, "Service", object()),
        InvalidNameError,
    )
    refused(
        durable_platform,
        lambda: durable_platform.bus.publish("audit.noted", {}, module),
        InvalidNameError,
    )


@FAST
@given(
    service=st.one_of(
        st.just(""), st.from_regex(r"[0-9][A-Za-z]*", fullmatch=True), st.just("User Service")
    )
)
def test_bad_service_names_are_refused(durable_platform: Platform, service: str) -> None:
    refused(
        durable_platform,
        lambda: durable_platform.registry.register_service("users", service, object()),
        InvalidNameError,
    )


@FAST
@given(key=st.one_of(st.just(""), st.just("   "), st.integers(), st.none(), st.floats()))
def test_bad_container_keys_are_refused(durable_platform: Platform, key: Any) -> None:
    refused(
        durable_platform,
        lambda: durable_platform.container.register(key, object),
        ContainerError,
    )


@FAST
@given(size=st.integers(min_value=2, max_value=6))
def test_cyclic_container_graphs_are_refused_with_their_path(size: int) -> None:
    container = Container()
    names = [f"s{i}" for i in range(size)]
    for index, name in enumerate(names):
        following = names[(index + 1) % size]
        namespace: dict[str, Any] = {}
        exec(f"def make({following}):\n    return object()", namespace)
        container.register(name, namespace["make"])
    with pytest.raises(CircularDependencyError) as caught:
        container.validate()
    assert " -> ".join([*names, names[0]]) in str(caught.value)
    with pytest.raises(CircularDependencyError):
        container.resolve(names[0])
    assert container.keys() == names


@FAST
@given(
    arguments=st.one_of(
        st.fixed_dictionaries({"failure_threshold": st.integers(max_value=0)}),
        st.fixed_dictionaries({"timeout": st.floats(max_value=-0.001)}),
        st.fixed_dictionaries({"timeout": st.just(math.nan)}),
        st.fixed_dictionaries({"success_threshold": st.integers(max_value=0)}),
        st.fixed_dictionaries({"half_open_max_calls": st.integers(max_value=0)}),
        st.fixed_dictionaries({"exclude": st.just((42,))}),
        st.fixed_dictionaries({"failure_threshold": st.text(max_size=2)}),
    )
)
def test_bad_breaker_arguments_are_refused(arguments: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        CircuitBreaker(**arguments)
