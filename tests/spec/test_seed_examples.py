"""Every Python code block of the seed runs as written against the reference platform.

A test per section of ``docs/specification.rst`` (the seed, byte for byte) runs its blocks in
order (see :mod:`tests.spec.seed`), giving them only the names listed in ``GIVEN`` below and in
the docs' "The seed, run" page, then checks what they did on the real platform: the events on
the bus, the rows in the modules' tables, the errors raised. No block is skipped: one that
cannot run as written is run anyway, and its failure is asserted and documented.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

import aura
from aura import Event, InMemoryEventStore, Platform, ServiceRegistry
from aura.exceptions import (
    CircuitBreakerOpenError,
    EventDeliveryError,
    ServiceNotAvailableError,
)
from aura.testing import PublishedEvents
from aura.testing.plugin import FrozenClock
from modules.billing.application import BillingService
from modules.mentalhealth.domain import UserServiceUnavailableError
from modules.notifications.application import EmailService
from modules.users.application import UserService
from tests.spec.seed import SEED_IMPORTS, Namespace, sections, seed_imports

SECTIONS = sections()
WHEN = datetime(2030, 1, 7, 10, tzinfo=UTC)

# The names each section's blocks use without defining or importing them, beyond SEED_IMPORTS.
# Kept as data so the docs page can be checked against it (tests/spec/test_seed_page.py).
GIVEN: dict[str, tuple[str, ...]] = {
    "Communication Mechanisms / 1. Service Registry": ("user_id", "EmailService"),
    "Communication Mechanisms / 2. Event Bus": ("session",),
    "Communication Mechanisms / 4. Dependency Injection": (),
    "Event Types / Event Data Format": (),
    "Communication Patterns / 1. Request/Response Pattern": (),
    "Communication Patterns / 2. Publish/Subscribe Pattern": ("event_bus", "email_service"),
    "Communication Patterns / 3. Event Sourcing Pattern": ("Event", "datetime", "event_bus"),
    "Inter-Module Contracts / Service Contracts": (),
    "Inter-Module Contracts / Event Contracts": (),
    "Error Handling / 1. Service Unavailability": (
        "service_registry",
        "ServiceNotAvailableError",
        "UserServiceUnavailableError",
    ),
    "Error Handling / 2. Event Delivery Failures": (
        "event_bus",
        "EventDeliveryError",
        "logger",
        "failed_events_store",
    ),
    "Error Handling / 3. Circuit Breaker Pattern": ("time", "CircuitBreakerOpenError"),
    "Example: Complete Communication Flow": ("service_registry", "event_bus", "container"),
}


@pytest.fixture(autouse=True)
def _config_imports() -> Iterator[None]:
    with seed_imports():
        yield


def run(section: str, **given: Any) -> Namespace:
    """Run every block of ``section`` in order with exactly the names its GIVEN entry lists."""
    assert sorted(given) == sorted(GIVEN[section]), f"{section}: give {GIVEN[section]}"
    namespace = Namespace(given)
    for block in SECTIONS[section]:
        namespace.run(block)
    return namespace


def register(platform: Platform, name: str, role: str = "patient") -> dict[str, Any]:
    users = platform.registry.get_service("users", "UserService")
    email = f"{name.lower().replace(' ', '.')}@example.com"
    user: dict[str, Any] = users.register_user(email, name, role)
    return user


def replace_handler(platform: Platform, module: str, event_type: str) -> None:
    """Cancel ``module``'s own subscription to ``event_type``, for a seed handler to take it."""
    (own,) = [s for s in platform.bus.subscriptions(event_type) if s.subscriber_module == module]
    own.cancel()


def test_every_section_with_python_code_has_its_test() -> None:
    assert list(SECTIONS) == list(GIVEN)
    assert sum(len(blocks) for blocks in SECTIONS.values()) == 15


def test_the_seed_config_imports_are_auras_objects() -> None:
    from config.dependency_injection import get_container  # type: ignore[import-not-found]
    from config.service_registry import event_bus, service_registry  # type: ignore[import-not-found]

    assert (event_bus, service_registry, get_container) == (
        aura.event_bus,
        aura.service_registry,
        aura.get_container,
    )
    assert set(SEED_IMPORTS) == {"config.service_registry", "config.dependency_injection"}


# --- Communication Mechanisms ---------------------------------------------------------------------


def test_service_registry_lookup_and_registration(aura_platform: Platform) -> None:
    patient = register(aura_platform, "Pat Doe")
    seed = run(
        "Communication Mechanisms / 1. Service Registry",
        user_id=patient["id"],
        EmailService=EmailService,
    )
    assert seed["user_profile"] == patient
    assert isinstance(seed["user_service"], aura.registry.ServiceProxy)

    elsewhere = ServiceRegistry(container=aura_platform.container)
    seed["register_services"](elsewhere)
    assert elsewhere.is_registered("notifications", "EmailService")
    (offered,) = elsewhere.services("notifications")
    assert offered.service_name == "EmailService"


def test_event_bus_publish_then_subscribe(
    aura_platform: Platform, published_events: PublishedEvents, capsys: pytest.CaptureFixture[str]
) -> None:
    patient = register(aura_platform, "Pat Doe")
    therapist = register(aura_platform, "Dr T", "therapist")
    session = SimpleNamespace(
        id=41, patient_id=patient["id"], therapist_id=therapist["id"], scheduled_at=WHEN
    )
    run("Communication Mechanisms / 2. Event Bus", session=session)
    # The seed's dict, with scheduled_at as an ISO string, passes the platform's contract and
    # reaches the reference modules' own handlers: billing charges, notifications email.
    (event,) = published_events.assert_published(
        "therapy_session.scheduled", session_id=41, scheduled_at="2030-01-07T10:00:00+00:00"
    )
    assert event.source_module == "mentalhealth"
    billing = aura_platform.registry.get_service("billing", "BillingService")
    assert billing.get_session_charge(41)["patient_id"] == patient["id"]
    assert capsys.readouterr().out == ""  # the seed's print handler subscribed after it

    again = {**event.data, "session_id": 42}
    aura.event_bus.publish("therapy_session.scheduled", again, "mentalhealth")
    assert capsys.readouterr().out == "Sending notification for session 42\n"


def test_dependency_injection_resolves_the_seeds_names(aura_platform: Platform) -> None:
    seed = run("Communication Mechanisms / 4. Dependency Injection")
    assert isinstance(seed["user_service"], UserService)
    assert isinstance(seed["notification_service"], EmailService)
    assert seed["notification_service"] is aura.get_container().resolve("email_service")
    assert isinstance(aura.get_container().resolve("billing_service"), BillingService)


# --- Event Types ----------------------------------------------------------------------------------


def test_every_event_has_the_seeds_data_format(
    aura_platform: Platform, published_events: PublishedEvents
) -> None:
    (block,) = SECTIONS["Event Types / Event Data Format"]
    seed_format = Namespace({}).evaluate(block)
    register(aura_platform, "Pat Doe")
    published = published_events.one().to_dict()
    assert list(published) == list(seed_format)
    assert set(seed_format["metadata"]) <= set(published["metadata"])
    assert datetime.fromisoformat(published["timestamp"]).tzinfo is not None


# --- Communication Patterns -----------------------------------------------------------------------


def test_request_response_validates_users_through_the_registry(aura_platform: Platform) -> None:
    patient = register(aura_platform, "Pat Doe")
    therapist = register(aura_platform, "Dr T", "therapist")
    seed = run("Communication Patterns / 1. Request/Response Pattern")
    service = seed["TherapySessionService"]()
    assert service.schedule_session(patient["id"], therapist["id"]) is None  # "Continue with..."
    with pytest.raises(ValueError, match="Invalid user IDs") as caught:
        service.schedule_session(patient["id"], 999)
    assert str(caught.value) == "Invalid user IDs"


def test_publish_subscribe_handler_runs_and_the_elided_publisher_cannot(
    aura_platform: Platform,
) -> None:
    patient = register(aura_platform, "Pat Doe")
    email_service = aura.get_container().resolve("email_service")
    seed = run(
        "Communication Patterns / 2. Publish/Subscribe Pattern",
        event_bus=aura.event_bus,
        email_service=email_service,
    )
    # The seed's handler takes the place of the module's own, subscribed by the notifications
    # module as the seed's comment says, and run by the bus.
    replace_handler(aura_platform, "notifications", "therapy_session.scheduled")
    aura.event_bus.subscribe(
        "therapy_session.scheduled", seed["handle_session_scheduled"], "notifications"
    )
    aura.event_bus.publish(
        "therapy_session.scheduled",
        {
            "session_id": 7,
            "patient_id": patient["id"],
            "therapist_id": 999,
            "scheduled_at": WHEN.isoformat(),
        },
        "mentalhealth",
    )
    (sent,) = email_service.notifications_for(patient["id"])
    assert (sent["status"], sent["template"], sent["reference"]) == (
        "sent",
        "session_confirmation",
        "session:7",
    )

    # Documented as not runnable: "# Create session..." is elided, so `session` is read before
    # the line that assigns it.
    owner = SimpleNamespace(repository=SimpleNamespace(save=lambda session: session))
    with pytest.raises(UnboundLocalError, match="session"):
        seed["schedule_session"](owner, {"patient_id": patient["id"]})


def test_event_sourcing_stores_and_publishes_an_event_with_a_naive_local_time(
    aura_platform: Platform, published_events: PublishedEvents
) -> None:
    seed = run(
        "Communication Patterns / 3. Event Sourcing Pattern",
        Event=Event,
        datetime=datetime,
        event_bus=aura.event_bus,
    )
    patient = register(aura_platform, "Pat Doe")
    store = seed["EventStore"]()
    store.repository = audit = InMemoryEventStore()
    audit.save = audit.append  # the seed's repository saves what Aura's stores append
    data = {"user_id": patient["id"], "changed_fields": ["name"], "updated_at": WHEN.isoformat()}
    before = datetime.now(UTC)
    store.store_event("user.updated", data, "users")
    (kept,) = audit.read(event_type="user.updated")
    assert (kept.source_module, kept.to_dict()["data"]) == ("users", data)
    assert kept.timestamp.tzinfo is UTC
    assert before <= kept.timestamp <= datetime.now(UTC)
    published_events.assert_published("user.updated", times=1, **data)


# --- Inter-Module Contracts -----------------------------------------------------------------------


def test_the_seeds_service_contract_checks_the_reference_user_service(
    aura_platform: Platform,
) -> None:
    seed = run("Inter-Module Contracts / Service Contracts")
    checked = ServiceRegistry(container=aura_platform.container)
    contract = seed["UserServiceContract"]
    checked.register_service("users", "UserService", UserService, contract=contract)
    assert checked.services("users")[0].contract is contract


def test_the_seeds_event_contract_validates_the_seeds_data(aura_platform: Platform) -> None:
    seed = run("Inter-Module Contracts / Event Contracts")
    catalog = aura.EventCatalog()
    aura.event_contract("therapy_session.scheduled", catalog=catalog)(
        seed["TherapySessionScheduledEvent"]
    )
    contract = seed["TherapySessionScheduledEvent"]
    bus = aura.EventBus(catalog=catalog)
    received: list[Any] = []
    bus.subscribe("therapy_session.scheduled", received.append, "notifications")

    def typed(event: Any) -> None:
        received.append(event)

    typed.__annotations__["event"] = contract  # a handler typed with the seed's contract

    bus.subscribe("therapy_session.scheduled", typed, "billing")
    data = {
        "session_id": 1,
        "patient_id": 2,
        "therapist_id": 3,
        "scheduled_at": "2030-01-07T10:00:00+00:00",
        "session_type": "individual",
    }
    bus.publish("therapy_session.scheduled", data, "mentalhealth")
    assert received == [data, contract(**{**data, "scheduled_at": WHEN})]
    assert received[1].correlation_id is None
    with pytest.raises(aura.EventValidationError):
        bus.publish("therapy_session.scheduled", {**data, "session_type": None}, "mentalhealth")


# --- Error Handling -------------------------------------------------------------------------------


def test_service_unavailability_becomes_the_modules_own_error(aura_platform: Platform) -> None:
    seed = run(
        "Error Handling / 1. Service Unavailability",
        service_registry=aura.service_registry,
        ServiceNotAvailableError=ServiceNotAvailableError,
        UserServiceUnavailableError=UserServiceUnavailableError,
    )
    assert seed["get_user_service"]().is_user_active(1) is False
    aura_platform.registry.unregister_service("users", "UserService")
    with pytest.raises(UserServiceUnavailableError) as caught:
        seed["get_user_service"]()
    assert str(caught.value) == "User service is currently unavailable"
    assert isinstance(caught.value.__context__, ServiceNotAvailableError)


def test_event_delivery_failure_is_logged_and_kept_for_retry(
    aura_platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    kept: list[tuple[str, dict[str, Any], str]] = []
    failed_events_store = SimpleNamespace(store=lambda *failed: kept.append(failed))
    seed = run(
        "Error Handling / 2. Event Delivery Failures",
        event_bus=aura.event_bus,
        EventDeliveryError=EventDeliveryError,
        logger=logging.getLogger("seed"),
        failed_events_store=failed_events_store,
    )

    async def audit(event: Event) -> None:  # an async subscriber: a sync publish cannot reach it
        await asyncio.sleep(0)

    aura_platform.bus.subscribe("user.*", audit, "billing")
    data = {"user_id": 1, "changed_fields": ["name"], "updated_at": WHEN.isoformat()}
    with caplog.at_level(logging.ERROR, "seed"):
        seed["publish_event_safely"]("user.updated", data, "users")
    assert kept == [("user.updated", data, "users")]
    (record,) = caplog.records
    assert record.getMessage() == (
        "Failed to publish event user.updated: Event 'user.updated' has async subscribers "
        f"(billing:{audit.__module__}.{audit.__qualname__}); publish it with "
        "'await bus.apublish(...)' instead of 'bus.publish(...)'."
    )


class Unavailable(ConnectionError):
    """The protected call's failure."""


def _fail() -> str:
    raise Unavailable("users database unreachable")


def _succeed() -> str:
    return "ok"


@pytest.mark.parametrize(
    "script",
    [
        ["F", "F", "S", "F", "S"],
        ["S", "F", "S", "F", "S", "F", "S", "F"],
        ["F", "F", "F", 60, "S", 0.5, "S", "F", "F", "S", "F"],
        ["F", "F", "F", 61, "F", 60, "S", 1, "F", 0.25, "S", 60.5, "S", "S"],
        ["F", "F", 30, "F", 59, "S", 2, "S", "F", "F", "F"],
    ],
    ids=["one-success-between", "alternating", "exact-timeout", "trial-fails", "late-third"],
)
def test_the_seeds_circuit_breaker_and_since_reset_agree(
    frozen_time: FrozenClock, script: list[str | float]
) -> None:
    frozen_time.move_to(datetime(2030, 1, 7, 9, tzinfo=UTC))
    seed_module = run(
        "Error Handling / 3. Circuit Breaker Pattern",
        time=time,
        CircuitBreakerOpenError=CircuitBreakerOpenError,
    )
    seed = seed_module["CircuitBreaker"](failure_threshold=3, timeout=60)
    ours = aura.CircuitBreaker(failure_threshold=3, timeout=60, policy="since_reset")
    for step in script:
        if not isinstance(step, str):
            frozen_time.tick(step)
            continue
        outcomes = []
        for breaker in (seed, ours):
            try:
                breaker.call(_fail if step == "F" else _succeed)
            except Unavailable:
                outcomes.append("failed")
            except CircuitBreakerOpenError as refused:  # the seed raises Aura's, bare
                outcomes.append("refused" if breaker is ours else str(refused))
            else:
                outcomes.append("ok")
        seeds = outcomes[0].replace("Circuit breaker is open; the call was refused.", "refused")
        assert seeds == outcomes[1], f"after {step!r} in {script}"
        assert (ours.state, ours.failure_count) == (seed.state, seed.failure_count)
        assert ours.last_failure_time == seed.last_failure_time


# --- Example: Complete Communication Flow ---------------------------------------------------------


def test_the_complete_flow_books_notifies_and_charges(
    aura_platform: Platform, published_events: PublishedEvents
) -> None:
    patient = register(aura_platform, "Pat Doe")
    therapist = register(aura_platform, "Dr T", "therapist")
    seed = run(
        "Example: Complete Communication Flow",
        service_registry=aura.service_registry,
        event_bus=aura.event_bus,
        container=aura.get_container(),
    )
    created: list[Any] = []

    def create_session(request: Any) -> Any:  # the use case's own session service
        created.append(request)
        return SimpleNamespace(id=len(created), scheduled_at=WHEN)

    use_case = seed["ScheduleTherapySessionUseCase"]()
    use_case.session_service = SimpleNamespace(create_session=create_session)
    request = SimpleNamespace(patient_id=patient["id"], therapist_id=therapist["id"])
    session = use_case.execute(request)
    assert created == [request]
    assert session.id == 1
    published_events.assert_published(
        "therapy_session.scheduled",
        times=1,
        session_id=1,
        patient_id=patient["id"],
        scheduled_at="2030-01-07T10:00:00+00:00",
    )

    # Both modules' handlers of the example, the notifications' then the billing module's,
    # subscribed by their modules in place of the modules' own, for another session.
    notify, charge = seed.definitions("handle_session_scheduled")
    for module, handler in (("notifications", notify), ("billing", charge)):
        replace_handler(aura_platform, module, "therapy_session.scheduled")
        aura.event_bus.subscribe("therapy_session.scheduled", handler, module)
    data = {"session_id": 2, "patient_id": patient["id"], "therapist_id": therapist["id"]}
    scheduled = {**data, "scheduled_at": WHEN.isoformat()}
    aura.event_bus.publish("therapy_session.scheduled", scheduled, "mentalhealth")
    email = aura.get_container().resolve("email_service")
    for user in (patient, therapist):
        assert "session:2" in {n["reference"] for n in email.notifications_for(user["id"])}
    billing = aura.get_container().resolve("billing_service")
    assert billing.get_session_charge(2)["patient_id"] == patient["id"]

    aura_platform.registry.get_service("users", "UserService").deactivate_user(patient["id"])
    with pytest.raises(ValueError, match="Patient is not active") as caught:
        use_case.execute(request)
    assert str(caught.value) == "Patient is not active"
