"""Access rules (aura.access): who may call a route, decided per request, refused honestly."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from aura import events
from aura.access import (
    PUBLIC,
    AccessRequest,
    Principal,
    allow_if,
    authenticated,
    current_principal,
    owner,
    principal_scope,
    role,
)
from aura.bus import EventBus
from aura.events import Event
from aura.exceptions import AccessDeniedError, ConfigurationError

PATIENT = Principal("user:7", frozenset({"patient"}), user_id=7)
THERAPIST = Principal("user:8", frozenset({"therapist"}), user_id=8)
OPERATOR = Principal("ops", frozenset({"operator"}))


def request(**params: Any) -> AccessRequest:
    return AccessRequest("GET", "/api/x/things/1", params, resolve=lambda key: None)


def refusal(rule: Any, principal: Principal | None, **params: Any) -> AccessDeniedError:
    with pytest.raises(AccessDeniedError) as caught:
        rule.check(principal, request(**params))
    return caught.value


def test_role_lets_holders_in_and_tells_others_what_is_needed() -> None:
    rule = role("operator", "auditor")
    rule.check(OPERATOR, request())
    denied = refusal(rule, PATIENT)
    assert str(denied) == (
        "user 7 (patient) may not GET /api/x/things/1: it needs the role 'operator' or 'auditor'."
    )
    assert denied.hidden is False


def test_owner_of_a_path_parameter_hides_other_peoples_objects() -> None:
    rule = owner("user_id")
    rule.check(PATIENT, request(user_id=7))
    denied = refusal(rule, PATIENT, user_id=8)
    assert denied.hidden is True
    assert str(denied) == "Nothing here that you may see: it does not exist, or it is not yours."
    assert refusal(rule, OPERATOR, user_id=7).hidden is True  # a service owns no user's data


def test_owner_of_a_body_field_is_refused_plainly() -> None:
    rule = owner("session.patient_id")
    rule.check(PATIENT, request(session=SimpleNamespace(patient_id=7)))
    denied = refusal(rule, PATIENT, session=SimpleNamespace(patient_id=9))
    assert denied.hidden is False
    assert str(denied) == (
        "user 7 (patient) may not GET /api/x/things/1: session.patient_id must be your own user id."
    )
    rule.check(PATIENT, request(session={"patient_id": 7}))  # a mapping body works too


def test_any_of_allows_when_one_allows_and_hides_when_one_refusal_is_hidden() -> None:
    rule = owner("user_id") | role("operator")
    rule.check(PATIENT, request(user_id=7))
    rule.check(OPERATOR, request(user_id=7))
    assert refusal(rule, PATIENT, user_id=8).hidden is True
    assert rule.description == "the user whose id is user_id | role operator"
    assert rule.parameters() == {"user_id"}


def test_all_of_needs_every_rule() -> None:
    rule = role("patient") & owner("session.patient_id")
    rule.check(PATIENT, request(session={"patient_id": 7}))
    assert str(refusal(rule, THERAPIST, session={"patient_id": 8})) == (
        "user 8 (therapist) may not GET /api/x/things/1: it needs the role 'patient'."
    )
    assert (rule | role("operator")).description == (
        "role patient & the user whose id is session.patient_id | role operator"
    )


def test_allow_if_runs_the_modules_own_predicate() -> None:
    calls: list[tuple[Principal, Any]] = []

    def is_even(principal: Principal, req: AccessRequest) -> bool:
        calls.append((principal, req.value("thing_id")))
        return bool(req.params["thing_id"] % 2 == 0)

    rule = allow_if(is_even, "holders of even things", reads=["thing_id"])
    rule.check(PATIENT, request(thing_id=2))
    assert refusal(rule, PATIENT, thing_id=3).hidden is True
    assert str(refusal(allow_if(is_even, "holders", hidden=False), PATIENT, thing_id=3)) == (
        "user 7 (patient) may not GET /api/x/things/1: only holders may."
    )
    assert calls[0] == (PATIENT, 2)
    assert rule.parameters() == {"thing_id"}


def test_anonymous_callers_pass_only_public_rules() -> None:
    PUBLIC.check(None, request())
    (PUBLIC | role("operator")).check(None, request())
    for rule in (authenticated(), role("operator"), owner("user_id")):
        assert str(refusal(rule, None)) == "GET /api/x/things/1 needs a bearer token."
    authenticated().check(PATIENT, request())


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: role(), "role() takes one or more role names, got (). Write role('operator')."),
        (
            lambda: role(""),
            "role() takes one or more role names, got ('',). Write role('operator').",
        ),
        (
            lambda: owner("user id"),
            "owner() takes a parameter name such as 'user_id' or 'session.patient_id', got "
            "'user id'.",
        ),
        (
            lambda: allow_if("yes", "x"),  # type: ignore[arg-type]
            "allow_if() takes a function (principal, request) -> bool, got 'yes'.",
        ),
        (
            lambda: allow_if(lambda p, r: True, ""),
            'allow_if() needs a description of who is allowed, e.g. "the session\'s therapist".',
        ),
    ],
)
def test_bad_rules_are_refused_where_they_are_written(build: Any, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build()
    assert str(caught.value) == message


def test_the_principal_is_the_callers_within_its_scope_and_events_carry_its_user_id() -> None:
    bus = EventBus(catalog=events.EventCatalog())
    seen: list[Event] = []

    def record(event: Event) -> None:
        seen.append(event)

    def follow_up(event: Event) -> None:  # published by a handler: the cause's user stays
        bus.publish("thing.noted", {}, "watchers")

    bus.subscribe("thing.done", record, "watchers")
    bus.subscribe("thing.done", follow_up, "watchers")
    bus.subscribe("thing.noted", record, "watchers")
    assert current_principal() is None
    with principal_scope(PATIENT):
        assert current_principal() is PATIENT
        bus.publish("thing.done", {}, "things")
    assert current_principal() is None
    bus.publish("thing.done", {}, "things")
    assert [(event.event_type, event.user_id) for event in seen] == [
        ("thing.done", 7),
        ("thing.noted", 7),
        ("thing.done", None),
        ("thing.noted", None),
    ]
    explicit = bus.publish("thing.done", {}, "things", metadata={"user_id": 3})
    assert explicit.user_id == 3
