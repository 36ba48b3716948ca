"""The HTTP gateway against its ASGI app with httpx: every route, every error, exact bodies."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest

from aura.access import HIDDEN_REFUSAL, authenticated, owner, role
from aura.context import current_module, get_correlation_id
from aura.database import Database
from aura.exceptions import (
    AccessDeniedError,
    AuthenticationError,
    CircuitBreakerOpenError,
    ConfigurationError,
    EventValidationError,
    ModuleDefinitionError,
    RateLimitedError,
    ServiceNotAvailableError,
    ServiceTimeoutError,
)
from aura.module import Module
from aura.platform import Platform
from aura.registry import ServiceRegistry
from aura.testing import PublishedEvents, ServiceCalls
from aura.testing.http import Caller, GatewayClient
from aura.web import Gateway, problem_for
from aura.web.auth import TokenAuthority
from contracts.errors import BusinessRuleError, NotFoundError

CID = "test-correlation-0001"
ERRORS = {NotFoundError: 404, BusinessRuleError: 409}
"""The reference platform's domain errors, as pyproject's ``[tool.aura.web] errors`` declares."""
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)


class _Timestamp:
    """Equal to any ISO-8601 timestamp with a timezone (the server's clock is not the test's)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and datetime.fromisoformat(other).tzinfo is not None

    def __repr__(self) -> str:
        return "<ISO timestamp>"


TIMESTAMP = _Timestamp()


@pytest.fixture
def gateway(aura_gateway: GatewayClient) -> Caller:
    """The test's platform over HTTP, called by an operator (whom every route lets in)."""
    return aura_gateway.as_operator()


@contextmanager
def operator_of(platform: Platform, **options: Any) -> Iterator[Caller]:
    """A gateway of its own over ``platform`` (``options`` as for Gateway), as an operator."""
    authority = TokenAuthority.generate()
    gateway = Gateway(platform, auth=authority, errors=ERRORS, **options)
    token = authority.issue("operator", roles=["operator"])
    try:
        yield Caller(gateway, {"Authorization": f"Bearer {token}"}, "operator")
    finally:
        gateway.close()


def send(caller: Caller, method: str, path: str, **options: Any) -> httpx.Response:
    """Call the gateway under the test's correlation id, so problem bodies are exact."""
    headers = {"X-Correlation-ID": CID, **options.pop("headers", {})}
    return caller.request(method, path, headers=headers, **options)


def problem(status: int, title: str, detail: str, instance: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "correlation_id": CID,
        **extra,
    }


def register(gateway: Caller, name: str, role: str = "patient") -> dict[str, Any]:
    email = f"{name.lower().replace(' ', '.')}@example.com"
    response = send(
        gateway, "POST", "/api/users/users", json={"email": email, "name": name, "role": role}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def book(
    gateway: Caller, patient_id: int, therapist_id: int, when: str = TOMORROW.isoformat()
) -> httpx.Response:
    booking = {"patient_id": patient_id, "therapist_id": therapist_id, "scheduled_at": when}
    return send(gateway, "POST", "/api/mentalhealth/sessions", json=booking)


def schedule(gateway: Caller, patient: dict[str, Any], therapist: dict[str, Any]) -> dict[str, Any]:
    response = book(gateway, patient["id"], therapist["id"])
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def booked(gateway: Caller) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    patient = register(gateway, "Pat Doe")
    therapist = register(gateway, "Dr T", "therapist")
    return patient, therapist, schedule(gateway, patient, therapist)


def assert_problem(response: httpx.Response, expected: dict[str, Any]) -> None:
    assert response.status_code == expected["status"]
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == expected


# --- users ---------------------------------------------------------------------------------------


def test_register_user_answers_201_with_the_user(gateway: Caller) -> None:
    response = send(
        gateway,
        "POST",
        "/api/users/users",
        json={"email": " Pat@Example.com", "name": "Pat Doe", "role": "patient"},
    )
    assert response.status_code == 201
    assert response.json() == {
        "id": 1,
        "email": "pat@example.com",
        "name": "Pat Doe",
        "role": "patient",
        "active": True,
        "registered_at": TIMESTAMP,
    }


def test_get_user_returns_the_profile(gateway: Caller) -> None:
    user = register(gateway, "Pat Doe")
    response = send(gateway, "GET", f"/api/users/users/{user['id']}")
    assert response.status_code == 200
    assert response.json() == user


def test_update_user_changes_the_profile(
    gateway: Caller, published_events: PublishedEvents
) -> None:
    user = register(gateway, "Pat Doe")
    response = send(gateway, "PATCH", f"/api/users/users/{user['id']}", json={"name": "Pat Lee"})
    assert response.status_code == 200
    assert response.json() == {**user, "name": "Pat Lee"}
    published_events.assert_published("user.updated", user_id=user["id"], changed_fields=["name"])


def test_deactivate_user_cancels_their_future_sessions(gateway: Caller) -> None:
    patient, _, session = booked(gateway)
    response = send(gateway, "POST", f"/api/users/users/{patient['id']}/deactivate")
    assert response.status_code == 200
    assert response.json() == {**patient, "active": False}
    cancelled = send(gateway, "GET", f"/api/mentalhealth/sessions/{session['id']}").json()
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "user deactivated")


# --- mentalhealth --------------------------------------------------------------------------------


def test_schedule_session_books_it_and_notifies_and_charges(
    gateway: Caller, published_events: PublishedEvents
) -> None:
    patient, therapist, session = booked(gateway)
    assert session == {
        "id": 1,
        "patient_id": patient["id"],
        "therapist_id": therapist["id"],
        "scheduled_at": TOMORROW.isoformat().replace("+00:00", "Z"),
        "session_type": "individual",
        "status": "scheduled",
        "cancel_reason": None,
    }
    assert [event.event_type for event in published_events.events][2:] == [
        "therapy_session.scheduled",
        "notification.sent",
        "notification.sent",
    ]


def test_get_session_returns_it(gateway: Caller) -> None:
    _, _, session = booked(gateway)
    response = send(gateway, "GET", f"/api/mentalhealth/sessions/{session['id']}")
    assert response.status_code == 200
    assert response.json() == session


def test_list_sessions_returns_the_users_sessions(gateway: Caller) -> None:
    patient, therapist, session = booked(gateway)
    other = register(gateway, "Sam Roe")
    for user, expected in ((patient, [session]), (therapist, [session]), (other, [])):
        response = send(gateway, "GET", f"/api/mentalhealth/users/{user['id']}/sessions")
        assert (response.status_code, response.json()) == (200, expected)


def test_start_then_complete_a_session_captures_its_charge(gateway: Caller) -> None:
    patient, _, session = booked(gateway)
    started = send(gateway, "POST", f"/api/mentalhealth/sessions/{session['id']}/start")
    assert (started.status_code, started.json()) == (200, {**session, "status": "in_progress"})
    completed = send(gateway, "POST", f"/api/mentalhealth/sessions/{session['id']}/complete")
    assert (completed.status_code, completed.json()) == (200, {**session, "status": "completed"})
    charges = send(gateway, "GET", f"/api/billing/patients/{patient['id']}/charges").json()
    assert [charge["status"] for charge in charges] == ["captured"]


def test_cancel_session_records_the_reason_and_voids_the_charge(gateway: Caller) -> None:
    patient, _, session = booked(gateway)
    response = send(
        gateway,
        "POST",
        f"/api/mentalhealth/sessions/{session['id']}/cancel",
        json={"reason": "patient request"},
    )
    assert response.status_code == 200
    assert response.json() == {**session, "status": "cancelled", "cancel_reason": "patient request"}
    charges = send(gateway, "GET", f"/api/billing/patients/{patient['id']}/charges").json()
    assert [charge["status"] for charge in charges] == ["void"]


# --- notifications and billing -------------------------------------------------------------------


def test_list_notifications_returns_what_was_sent_to_the_user(gateway: Caller) -> None:
    patient, _, session = booked(gateway)
    response = send(gateway, "GET", f"/api/notifications/users/{patient['id']}/notifications")
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": 1,
            "recipient_id": patient["id"],
            "channel": "email",
            "template": "session_confirmation",
            "reference": f"session:{session['id']}",
            "status": "sent",
            "error": None,
            "created_at": TIMESTAMP,
        }
    ]


def test_list_charges_returns_the_patients_charges(gateway: Caller) -> None:
    patient, _, session = booked(gateway)
    response = send(gateway, "GET", f"/api/billing/patients/{patient['id']}/charges")
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": 1,
            "session_id": session["id"],
            "patient_id": patient["id"],
            "amount_cents": 9000,
            "currency": "EUR",
            "status": "pending",
        }
    ]
    assert send(gateway, "GET", "/api/billing/patients/999/charges").json() == []


def test_activate_subscription_answers_201(gateway: Caller) -> None:
    patient = register(gateway, "Pat Doe")
    response = send(
        gateway,
        "POST",
        "/api/billing/subscriptions",
        json={"user_id": patient["id"], "plan": "premium"},
    )
    assert response.status_code == 201
    assert response.json() == {
        "id": 1,
        "user_id": patient["id"],
        "plan": "premium",
        "amount_cents": 4900,
        "currency": "EUR",
        "interval": "monthly",
        "status": "active",
        "activated_at": TIMESTAMP,
    }


# --- errors: 400, 404, 405, 409, 413, 422 --------------------------------------------------------


def test_a_body_that_is_not_json_is_400(gateway: Caller) -> None:
    response = send(
        gateway,
        "POST",
        "/api/users/users",
        content=b'{"email": ',
        headers={"Content-Type": "application/json"},
    )
    assert_problem(
        response,
        problem(
            400,
            "Bad Request",
            "The request body is not valid JSON (Expecting value at character 10). Send a JSON "
            "document with Content-Type: application/json.",
            "/api/users/users",
        ),
    )


def test_an_unknown_user_is_404(gateway: Caller) -> None:
    response = send(gateway, "GET", "/api/users/users/42")
    assert_problem(
        response, problem(404, "Not Found", "User 42 does not exist.", "/api/users/users/42")
    )


def test_an_unknown_session_is_404(gateway: Caller) -> None:
    for method, path in (
        ("GET", "/api/mentalhealth/sessions/9"),
        ("POST", "/api/mentalhealth/sessions/9/start"),
    ):
        response = send(gateway, method, path)
        assert_problem(response, problem(404, "Not Found", "Session 9 does not exist.", path))


def test_scheduling_with_an_unknown_patient_is_404(gateway: Caller) -> None:
    therapist = register(gateway, "Dr T", "therapist")
    response = book(gateway, 5, therapist["id"])
    assert_problem(
        response,
        problem(404, "Not Found", "Patient 5 does not exist.", "/api/mentalhealth/sessions"),
    )


def test_an_unknown_route_is_404(gateway: Caller) -> None:
    response = send(gateway, "GET", "/api/payroll/runs")
    assert_problem(
        response,
        problem(
            404,
            "Not Found",
            "No route matches GET /api/payroll/runs. GET /openapi.json lists the routes.",
            "/api/payroll/runs",
        ),
    )


def test_a_method_the_route_does_not_serve_is_405_with_allow(gateway: Caller) -> None:
    response = send(gateway, "DELETE", "/api/users/users/1")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PATCH"
    assert_problem(
        response,
        problem(
            405,
            "Method Not Allowed",
            "DELETE is not allowed on /api/users/users/1. Allowed methods: GET, PATCH.",
            "/api/users/users/1",
        ),
    )


def test_a_taken_email_is_409(gateway: Caller) -> None:
    register(gateway, "Pat Doe")
    again = {"email": "pat.doe@example.com", "name": "Other Pat", "role": "patient"}
    response = send(gateway, "POST", "/api/users/users", json=again)
    assert_problem(
        response,
        problem(
            409,
            "Conflict",
            "Email 'pat.doe@example.com' cannot be used for this account: choose another.",
            "/api/users/users",
        ),
    )


def test_an_inactive_patient_cannot_book_409_as_in_the_seed(gateway: Caller) -> None:
    patient = register(gateway, "Pat Doe")
    therapist = register(gateway, "Dr T", "therapist")
    send(gateway, "POST", f"/api/users/users/{patient['id']}/deactivate")
    response = book(gateway, patient["id"], therapist["id"])
    assert_problem(
        response,
        problem(409, "Conflict", "Patient is not active", "/api/mentalhealth/sessions"),
    )


def test_completing_a_session_not_started_is_409(gateway: Caller) -> None:
    _, _, session = booked(gateway)
    path = f"/api/mentalhealth/sessions/{session['id']}/complete"
    response = send(gateway, "POST", path)
    assert_problem(
        response,
        problem(
            409,
            "Conflict",
            f"Session {session['id']} is scheduled; only an in-progress session can be completed.",
            path,
        ),
    )


def test_a_second_subscription_is_409(gateway: Caller) -> None:
    patient = register(gateway, "Pat Doe")
    plan = {"user_id": patient["id"], "plan": "basic"}
    send(gateway, "POST", "/api/billing/subscriptions", json=plan)
    response = send(gateway, "POST", "/api/billing/subscriptions", json=plan)
    assert_problem(
        response,
        problem(
            409,
            "Conflict",
            f"User {patient['id']} already has an active basic subscription (id 1). A user can "
            "hold one active subscription at a time.",
            "/api/billing/subscriptions",
        ),
    )


def test_a_subscription_for_nobody_is_404_and_for_a_deactivated_user_409(
    aura_platform: Platform, gateway: Caller
) -> None:
    patient = register(gateway, "Pat Doe")
    send(gateway, "POST", f"/api/users/users/{patient['id']}/deactivate")
    nobody = send(
        gateway, "POST", "/api/billing/subscriptions", json={"user_id": 999, "plan": "basic"}
    )
    gone = send(
        gateway,
        "POST",
        "/api/billing/subscriptions",
        json={"user_id": patient["id"], "plan": "basic"},
    )
    path = "/api/billing/subscriptions"
    assert_problem(
        nobody,
        problem(
            404,
            "Not Found",
            "User 999 does not exist, so no subscription was started. Subscribe a registered "
            "user's id.",
            path,
        ),
    )
    assert_problem(
        gone,
        problem(
            409,
            "Conflict",
            f"User {patient['id']} is deactivated, so no subscription was started. Only an "
            "active user can start a subscription.",
            path,
        ),
    )
    assert aura_platform.database.query("SELECT * FROM billing_subscriptions") == []


def test_a_time_utc_cannot_hold_is_409(gateway: Caller) -> None:
    response = book(gateway, 1, 2, "9999-12-31T23:59:59-05:00")
    assert_problem(
        response,
        problem(
            409,
            "Conflict",
            "scheduled_at 9999-12-31T23:59:59-05:00 is out of range: choose a date before "
            "9999-12-31.",
            "/api/mentalhealth/sessions",
        ),
    )


def test_a_body_declared_larger_than_the_limit_is_413(aura_platform: Platform) -> None:
    body = {"email": "pat@example.com", "name": "P" * 100, "role": "patient"}
    with operator_of(aura_platform, max_body_bytes=64) as gateway:
        response = send(gateway, "POST", "/api/users/users", json=body)
    assert response.status_code == 413
    size = len(response.request.content)
    assert_problem(
        response,
        problem(
            413,
            "Content Too Large",
            f"The request body is {size} bytes; this gateway accepts at most 64 bytes. Send a "
            "smaller body.",
            "/api/users/users",
        ),
    )


def test_a_streamed_body_is_cut_off_at_the_limit_with_413(aura_platform: Platform) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 10

    async def post(operator: Caller) -> httpx.Response:
        transport = httpx.ASGITransport(app=operator.gateway.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            headers = {
                **operator.headers,
                "Content-Type": "application/json",
                "X-Correlation-ID": CID,
            }
            return await client.post("/api/users/users", content=chunks(), headers=headers)

    with operator_of(aura_platform, max_body_bytes=64) as gateway:
        response = asyncio.run(post(gateway))
    assert "content-length" not in response.request.headers
    assert_problem(
        response,
        problem(
            413,
            "Content Too Large",
            "The request body is more than 64 bytes; this gateway accepts at most 64 bytes. "
            "Send a smaller body.",
            "/api/users/users",
        ),
    )


def test_a_body_that_does_not_match_the_schema_is_422_listing_each_field(
    gateway: Caller,
) -> None:
    response = send(gateway, "POST", "/api/users/users", json={"email": 7, "role": "admin"})
    assert_problem(
        response,
        problem(
            422,
            "Unprocessable Content",
            "The request does not match the route's schema: 3 fields are invalid (body.email: "
            "Input should be a valid string; body.name: Field required; body.role: Input should "
            "be 'patient', 'therapist' or 'operator'). GET /openapi.json shows what is expected.",
            "/api/users/users",
            errors=[
                {
                    "field": "body.email",
                    "detail": "Input should be a valid string",
                    "type": "string_type",
                },
                {"field": "body.name", "detail": "Field required", "type": "missing"},
                {
                    "field": "body.role",
                    "detail": "Input should be 'patient', 'therapist' or 'operator'",
                    "type": "literal_error",
                },
            ],
        ),
    )


def test_a_path_parameter_out_of_range_is_422(gateway: Caller) -> None:
    response = send(gateway, "GET", "/api/users/users/0")
    assert_problem(
        response,
        problem(
            422,
            "Unprocessable Content",
            "The request does not match the route's schema: field is invalid (path.user_id: "
            "Input should be greater than or equal to 1). GET /openapi.json shows what is "
            "expected.",
            "/api/users/users/0",
            errors=[
                {
                    "field": "path.user_id",
                    "detail": "Input should be greater than or equal to 1",
                    "type": "greater_than_equal",
                }
            ],
        ),
    )


# --- errors: 503 and 503 with Retry-After ---------------------------------------------------------


def test_a_service_that_is_not_available_is_503(aura_platform: Platform, gateway: Caller) -> None:
    therapist = register(gateway, "Dr T", "therapist")
    aura_platform.registry.unregister_service("users", "UserService")
    response = book(gateway, 1, therapist["id"])
    assert response.status_code == 503
    assert "retry-after" not in response.headers
    assert_problem(
        response,
        problem(
            503,
            "Service Unavailable",
            "User service is currently unavailable, so the session cannot be checked: No module "
            "'users' in the service registry. Known modules: billing, mentalhealth, "
            "notifications.",
            "/api/mentalhealth/sessions",
        ),
    )


def _trip_users_breaker(platform: Platform) -> None:
    """Open the users module's breaker the way real failures would: three in a row."""
    (users,) = platform.registry.services("users")
    assert users.policy is not None
    assert users.policy.breaker is not None

    def failing() -> None:
        raise ConnectionError("users database unreachable")

    for _ in range(3):
        with pytest.raises(ConnectionError):
            users.policy.breaker.call(failing)


def test_an_open_breaker_is_503_with_retry_after(aura_platform: Platform, gateway: Caller) -> None:
    patient = register(gateway, "Pat Doe")
    therapist = register(gateway, "Dr T", "therapist")
    _trip_users_breaker(aura_platform)
    response = book(gateway, patient["id"], therapist["id"])
    assert response.status_code == 503
    body = response.json()
    match = re.fullmatch(
        r"Circuit breaker 'users.UserService' is open; retry in (\d+\.\d) s\.", body["detail"]
    )
    assert match is not None, body["detail"]
    assert response.headers["retry-after"] == str(math.ceil(float(match[1])))
    assert 29 <= int(response.headers["retry-after"]) <= 30
    assert_problem(
        response,
        problem(503, "Service Unavailable", body["detail"], "/api/mentalhealth/sessions"),
    )


# --- errors: 500 and 504, from modules made for these tests --------------------------------------


class _Pin(pydantic.BaseModel):
    pin: int


class _RefusedToday(BusinessRuleError):
    """A subclass of a declared domain error: it answers its parent's status."""


UNDECLARED = {
    # path under /api/probe: the exception the route raises (with something secret in its text)
    "/value-error": ValueError,
    "/lookup-error": LookupError,
    "/validation-error": pydantic.ValidationError,
    "/json-error": json.JSONDecodeError,
    "/int-error": ValueError,
}
"""Routes raising ValueErrors and LookupErrors that are not the platform's domain errors."""


@pytest.fixture
def probed(tmp_path: Path) -> Iterator[Caller]:
    """The platform plus a ``slow`` module (a service with a timeout) and a ``probe`` module,
    called by an operator."""
    slow = Module("slow")

    @slow.service("Clock", timeout=0.05)
    class Clock:
        def wait(self) -> str:
            time.sleep(0.3)
            return "late"

    probe = Module("probe", depends_on=["slow", "users"])
    holder: list[Caller] = []
    anyone = authenticated()

    @probe.route("GET", "/boom", allow=anyone)
    def boom() -> dict[str, str]:
        raise RuntimeError("secret internals: password=hunter2")

    @probe.route("GET", "/value-error", allow=anyone)
    def value_error() -> None:
        raise ValueError("secret internals: password=hunter2")

    @probe.route("GET", "/lookup-error", allow=anyone)
    def lookup_error() -> None:
        raise LookupError("secret internals: password=hunter2")

    @probe.route("GET", "/validation-error", allow=anyone)
    def validation_error() -> None:
        _Pin.model_validate({"pin": "hunter2"})

    @probe.route("GET", "/json-error", allow=anyone)
    def json_error() -> None:
        json.loads('{"password": "hunter2"')

    @probe.route("GET", "/int-error", allow=anyone)
    def int_error() -> None:
        int("hunter2")

    @probe.route("GET", "/refused", allow=anyone)
    def refused() -> None:
        raise _RefusedToday("Not today.")

    @probe.route("GET", "/late", allow=anyone)
    def late(registry: ServiceRegistry) -> str:
        result: str = registry.get_service("slow", "Clock").wait()
        return result

    @probe.route("GET", "/whoami/{name}", allow=anyone)
    async def whoami(name: str, platform: Platform, event_bus: Any) -> dict[str, Any]:
        return {
            "module": current_module(),
            "name": name,
            "bus": event_bus is platform.bus,  # by name: Any names no type
            "correlation_id": get_correlation_id(),
        }

    @probe.route("GET", "/relay/{user_id}", allow=anyone)
    def relay(user_id: int, database: Database) -> dict[str, Any]:
        response = holder[0].get(f"/api/users/users/{user_id}")  # the operator's token, no CID
        return {
            "status": response.status_code,
            "echoed": response.headers["x-correlation-id"],
            "module": current_module(),
            "database": isinstance(database, Database),
        }

    @probe.subscribe("user.registered")
    def refuse(data: dict[str, Any]) -> None:
        raise RuntimeError("probe refuses every user")

    modules = [*Platform.discover("modules"), slow, probe]
    with Platform(modules, database=tmp_path / "aura.db") as platform:
        client = GatewayClient(platform, errors=ERRORS)
        holder.append(client.as_operator())
        yield holder[0]
        client.close()


def _error_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "aura", {}).get("kind") == "http.error"]


def assert_internal_error(response: httpx.Response, path: str) -> str:
    """``response`` is a 500 with an error id and nothing of the exception; return the id."""
    assert response.status_code == 500
    error_id: str = response.json()["error_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", error_id)
    assert_problem(
        response,
        problem(
            500,
            "Internal Server Error",
            f"The server failed to handle this request. Quote error id {error_id} when you "
            "report it.",
            path,
            error_id=error_id,
        ),
    )
    assert "hunter2" not in response.text
    return error_id


def test_an_unexpected_error_is_500_with_an_error_id_and_no_internals(
    probed: Caller, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="aura.gateway"):
        response = send(probed, "GET", "/api/probe/boom")
    error_id = assert_internal_error(response, "/api/probe/boom")
    (record,) = _error_records(caplog)
    assert record.name == "aura.gateway"
    assert record.aura == {
        "kind": "http.error",
        "error_id": error_id,
        "method": "GET",
        "path": "/api/probe/boom",
        "correlation_id": CID,
    }
    assert record.exc_info is not None
    assert "hunter2" in str(record.exc_info[1])


@pytest.mark.parametrize("path", list(UNDECLARED))
def test_a_value_or_lookup_error_not_declared_is_500_logged_with_its_traceback(
    probed: Caller, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    """Only the platform's declared domain errors are 4xx: a pydantic ValidationError, a
    JSONDecodeError or int('abc') in a route is a bug, not the client's fault."""
    with caplog.at_level(logging.ERROR, logger="aura.gateway"):
        response = send(probed, "GET", f"/api/probe{path}")
    error_id = assert_internal_error(response, f"/api/probe{path}")
    assert "password" not in response.text
    assert "pin" not in response.text
    (record,) = _error_records(caplog)
    assert (record.name, record.levelno) == ("aura.gateway", logging.ERROR)
    assert record.getMessage() == f"http.error error_id={error_id} method=GET path=/api/probe{path}"
    assert record.exc_info is not None
    kind, error, traceback = record.exc_info
    assert kind is UNDECLARED[path]
    assert isinstance(error, UNDECLARED[path])
    assert traceback is not None
    logged = caplog.text
    assert "Traceback (most recent call last)" in logged
    assert f"in {path.strip('/').replace('-', '_')}" in logged  # the route's own frame


def test_a_subclass_of_a_declared_domain_error_answers_its_status(probed: Caller) -> None:
    response = send(probed, "GET", "/api/probe/refused")
    assert_problem(response, problem(409, "Conflict", "Not today.", "/api/probe/refused"))


def test_a_service_call_past_its_timeout_is_504(probed: Caller) -> None:
    response = send(probed, "GET", "/api/probe/late")
    assert_problem(
        response,
        problem(
            504,
            "Gateway Timeout",
            "Call to slow.Clock.wait did not return within 0.05 s; it is still running in the "
            "background and what it does may still take effect — make it idempotent or give it "
            "its own timeout.",
            "/api/probe/late",
        ),
    )


# --- how endpoints run ---------------------------------------------------------------------------


def test_an_endpoint_runs_as_its_module_with_injected_dependencies(probed: Caller) -> None:
    response = send(probed, "GET", "/api/probe/whoami/ann")
    assert response.json() == {"module": "probe", "name": "ann", "bus": True, "correlation_id": CID}


def test_an_in_process_call_from_an_endpoint_keeps_the_correlation_id(probed: Caller) -> None:
    user = register(probed, "Pat Doe")
    response = send(probed, "GET", f"/api/probe/relay/{user['id']}")
    assert response.json() == {"status": 200, "echoed": CID, "module": "probe", "database": True}


def test_call_from_async_code_runs_on_another_loop(probed: Caller) -> None:
    async def from_async() -> httpx.Response:
        return probed.get("/api/probe/whoami/bo")

    assert asyncio.run(from_async()).json()["module"] == "probe"


def test_a_failing_handler_does_not_fail_the_request_and_is_counted(probed: Caller) -> None:
    register(probed, "Pat Doe")
    metrics = send(probed, "GET", "/metrics").text
    assert 'aura_events_failed_total{event_type="user.registered",module="probe"} 1.0' in metrics


# --- correlation ---------------------------------------------------------------------------------


def test_the_correlation_id_is_echoed_and_stamped_on_events_and_calls(
    gateway: Caller, published_events: PublishedEvents, service_calls: ServiceCalls
) -> None:
    booked(gateway)
    response = send(gateway, "GET", "/api/users/users/1")
    assert response.headers["x-correlation-id"] == CID
    assert {event.correlation_id for event in published_events.events} == {CID}
    assert service_calls.calls
    assert {call.correlation_id for call in service_calls.calls} == {CID}


def test_a_missing_correlation_id_is_replaced_by_a_new_one(gateway: Caller) -> None:
    first = gateway.get("/health").headers["x-correlation-id"]
    second = gateway.get("/health").headers["x-correlation-id"]
    assert str(uuid.UUID(first)) == first
    assert first != second


def test_an_invalid_correlation_id_is_refused_with_400(
    gateway: Caller, published_events: PublishedEvents
) -> None:
    response = gateway.post(
        "/api/users/users",
        json={"email": "a@b.co", "name": "A", "role": "patient"},
        headers={"X-Correlation-ID": "bad id"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    echoed = response.headers["x-correlation-id"]
    assert response.json() == {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "Invalid X-Correlation-ID 'bad id': expected 1 to 128 letters, digits or . _ : "
        "- (starting with a letter or digit). Send a UUID, or leave the header out to get a new "
        "id.",
        "instance": "/api/users/users",
        "correlation_id": echoed,
    }
    assert len(published_events) == 0  # refused before anything ran


# --- discovery, health, OpenAPI, metrics, logs ---------------------------------------------------


def test_modules_describes_services_routes_events_and_dependencies(gateway: Caller) -> None:
    response = send(gateway, "GET", "/api/_modules")
    assert response.status_code == 200
    modules = {module["name"]: module for module in response.json()["modules"]}
    assert list(modules) == ["users", "billing", "mentalhealth", "notifications"]
    assert modules["notifications"] == {
        "name": "notifications",
        "description": "Emails patients and therapists about their sessions and payments.",
        "depends_on": ["users"],
        "services": [
            {
                "name": "EmailService",
                "contract": "contracts.notifications.EmailServiceContract",
                "methods": modules["notifications"]["services"][0]["methods"],
            }
        ],
        "routes": [{"method": "GET", "path": "/api/notifications/users/{user_id}/notifications"}],
        "publishes": ["notification.sent", "notification.failed"],
        "consumes": ["therapy_session.scheduled", "therapy_session.cancelled", "payment.failed"],
    }
    assert "send_session_confirmation" in modules["notifications"]["services"][0]["methods"]


def test_health_is_200_with_breaker_states(gateway: Caller) -> None:
    response = send(gateway, "GET", "/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"]) == ("up", "up")
    assert body["modules"]["users"] == {
        "status": "up",
        "services": [
            {
                "name": "UserService",
                "breaker": {"state": "CLOSED", "failure_count": 0, "retry_after": 0.0},
            }
        ],
    }
    assert body["modules"]["billing"] == {
        "status": "up",
        "services": [{"name": "BillingService", "breaker": None}],
    }


def test_health_is_503_while_a_breaker_is_open(aura_platform: Platform, gateway: Caller) -> None:
    _trip_users_breaker(aura_platform)
    response = send(gateway, "GET", "/health")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["modules"]["users"]["status"]) == ("down", "down")
    assert body["modules"]["mentalhealth"]["status"] == "up"
    breaker = body["modules"]["users"]["services"][0]["breaker"]
    assert (breaker["state"], breaker["failure_count"]) == ("OPEN", 3)
    assert 29 < breaker["retry_after"] <= 30


def test_health_is_503_when_the_database_is_closed(tmp_path: Path) -> None:
    platform = Platform(Platform.discover("modules"), database=tmp_path / "aura.db").start()
    authority = TokenAuthority.generate()
    gateway = Gateway(platform, auth=authority)
    platform.database.close()
    anonymous = gateway.call("GET", "/health")  # /health needs no token
    operator = {"Authorization": f"Bearer {authority.issue('ops', roles=['operator'])}"}
    detailed = gateway.call("GET", "/health", headers=operator)
    platform.close()
    gateway.close()
    assert (anonymous.status_code, anonymous.json()) == (503, {"status": "down"})
    assert detailed.status_code == 503
    assert (detailed.json()["status"], detailed.json()["database"]) == ("down", "down")


def test_openapi_documents_every_route_and_problem_responses(gateway: Caller) -> None:
    schema = send(gateway, "GET", "/openapi.json").json()
    assert sorted(schema["paths"]) == [
        "/api/_modules",
        "/api/billing/patients/{patient_id}/charges",
        "/api/billing/subscriptions",
        "/api/mentalhealth/sessions",
        "/api/mentalhealth/sessions/{session_id}",
        "/api/mentalhealth/sessions/{session_id}/cancel",
        "/api/mentalhealth/sessions/{session_id}/complete",
        "/api/mentalhealth/sessions/{session_id}/start",
        "/api/mentalhealth/therapists/{therapist_id}/patients",
        "/api/mentalhealth/users/{user_id}/sessions",
        "/api/notifications/users/{user_id}/notifications",
        "/api/users/token",
        "/api/users/users",
        "/api/users/users/{user_id}",
        "/api/users/users/{user_id}/deactivate",
        "/api/users/users/{user_id}/password",
        "/api/v1/users/users",
        "/api/v1/users/users/{user_id}",
        "/health",
    ]
    register_user = schema["paths"]["/api/users/users"]["post"]
    assert sorted(register_user["responses"]) == [
        "201",
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "422",
        "429",
        "500",
        "503",
        "504",
    ]
    assert register_user["responses"]["422"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    assert schema["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    assert schema["security"] == [{"bearer": []}]  # every operation, unless it says otherwise
    assert "security" not in register_user
    assert schema["paths"]["/health"]["get"]["security"] == []
    assert schema["paths"]["/api/users/token"]["post"]["security"] == []  # PUBLIC: the login
    assert schema["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "detail",
        "instance",
    ]


def test_metrics_count_events_deliveries_calls_breakers_and_requests(gateway: Caller) -> None:
    booked(gateway)
    response = send(gateway, "GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    for expected in (
        'aura_events_published_total{event_type="therapy_session.scheduled",'
        'module="mentalhealth"} 1.0',
        'aura_events_delivered_total{event_type="therapy_session.scheduled",module="billing"} 1.0',
        'aura_events_delivered_total{event_type="therapy_session.scheduled",'
        'module="notifications"} 1.0',
        'aura_service_call_duration_seconds_count{caller="mentalhealth",method="is_user_active",'
        'outcome="ok",provider="users",service="UserService"} 2.0',
        'aura_breaker_state{module="users",service="UserService",state="CLOSED"} 1.0',
        'aura_breaker_state{module="users",service="UserService",state="OPEN"} 0.0',
        'aura_http_request_duration_seconds_count{method="POST",route="/api/users/users",'
        'status="201"} 2.0',
    ):
        assert expected in lines


def test_two_gateways_keep_separate_metrics(aura_platform: Platform) -> None:
    with operator_of(aura_platform) as first, operator_of(aura_platform) as second:
        first.get("/health")
        first_text = first.get("/metrics").text
        second_text = second.get("/metrics").text
    assert 'route="/health",status="200"} 1.0' in first_text
    assert 'route="/health"' not in second_text


def test_events_deliveries_calls_and_requests_are_logged_as_structured_records(
    gateway: Caller, caplog: pytest.LogCaptureFixture
) -> None:
    patient = register(gateway, "Pat Doe")
    therapist = register(gateway, "Dr T", "therapist")
    with caplog.at_level(logging.INFO, logger="aura.gateway"):
        schedule(gateway, patient, therapist)
    records = [r.aura for r in caplog.records if hasattr(r, "aura")]
    kinds = [record["kind"] for record in records]
    assert kinds.count("event.published") == 3
    assert kinds.count("event.delivered") == 2  # billing and notifications; none for the emails
    assert kinds.count("service.call") == 6  # mentalhealth checks both users; notifications too
    assert kinds[-1] == "http.request"
    call = next(record for record in records if record["kind"] == "service.call")
    assert call == {
        "kind": "service.call",
        "module": "mentalhealth",
        "target": "users.UserService.get_user_by_id",
        "duration_ms": call["duration_ms"],
        "outcome": "ok",
        "correlation_id": CID,
    }
    assert records[-1] == {
        "kind": "http.request",
        "method": "POST",
        "path": "/api/mentalhealth/sessions",
        "route": "/api/mentalhealth/sessions",
        "status": 201,
        "subject": "operator",
        "duration_ms": records[-1]["duration_ms"],
        "correlation_id": CID,
    }
    delivered = next(record for record in records if record["kind"] == "event.delivered")
    assert (delivered["outcome"], delivered["correlation_id"]) == ("ok", CID)


FORGED = "1%20status=200%20correlation_id=forged"
"""A percent-encoded path segment that would read as two more fields if logged bare."""


def _request_line(caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    (record,) = [r for r in caplog.records if getattr(r, "aura", {}).get("kind") == "http.request"]
    return record


def test_a_percent_encoded_path_cannot_forge_fields_in_the_access_log(
    probed: Caller, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="aura.gateway"):
        response = send(probed, "GET", f"/api/probe/whoami/{FORGED}")
    assert (response.status_code, response.json()["name"]) == (
        200,
        "1 status=200 correlation_id=forged",
    )
    record = _request_line(caplog)
    assert record.getMessage() == (
        'http.request method=GET path="/api/probe/whoami/1 status=200 correlation_id=forged" '
        "route=/api/probe/whoami/{name} status=200 subject=operator "
        f"duration_ms={record.aura['duration_ms']} correlation_id={CID}"
    )
    assert record.aura["path"] == "/api/probe/whoami/1 status=200 correlation_id=forged"


def test_a_forged_path_refused_by_the_schema_is_logged_quoted_with_its_true_status(
    gateway: Caller, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="aura.gateway"):
        response = send(gateway, "GET", f"/api/users/users/{FORGED}")
    assert response.status_code == 422
    record = _request_line(caplog)
    assert record.getMessage() == (
        'http.request method=GET path="/api/users/users/1 status=200 correlation_id=forged" '
        f"route=/api/users/users/{{user_id}} status=422 subject=operator "
        f"duration_ms={record.aura['duration_ms']} correlation_id={CID}"
    )
    # A line break cannot start a forged line either.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="aura.gateway"):
        send(gateway, "GET", "/api/users/users/1%0Ahttp.request%20status=200")
    line = _request_line(caplog).getMessage()
    assert "\n" not in line
    assert 'path="/api/users/users/1\\nhttp.request status=200" ' in line


def test_a_request_the_schema_refuses_is_authenticated_first(
    aura_gateway: GatewayClient, caplog: pytest.LogCaptureFixture
) -> None:
    anonymous = aura_gateway.anonymous().post("/api/users/users", json={"email": 7})
    assert anonymous.status_code == 401
    with caplog.at_level(logging.INFO, logger="aura.gateway"):
        refused = aura_gateway.as_operator().get("/api/users/users/0")
    assert refused.status_code == 422
    assert _request_line(caplog).aura["subject"] == "operator"


def test_closing_the_gateway_stops_observing_the_platform(
    aura_platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = Gateway(aura_platform, auth=TokenAuthority.generate())
    gateway.close()
    with caplog.at_level(logging.INFO, logger="aura.gateway"):
        users = aura_platform.registry.get_service("users", "UserService")
        users.register_user("pat@example.com", "Pat", "patient")
    assert not [r for r in caplog.records if hasattr(r, "aura")]


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        (
            0,
            "max_body_bytes must be at least 1, got 0. Pass e.g. max_body_bytes=1_048_576.",
        ),
        (
            "1MB",
            "max_body_bytes must be a whole number of bytes, got '1MB'. Pass e.g. "
            "max_body_bytes=1_048_576.",
        ),
    ],
)
def test_a_bad_body_limit_is_refused(aura_platform: Platform, limit: Any, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Gateway(aura_platform, auth=TokenAuthority.generate(), max_body_bytes=limit)
    assert str(raised.value) == message


# --- how exceptions are classified ---------------------------------------------------------------


def _breaker_refusal(retry_after: float) -> CircuitBreakerOpenError:
    return CircuitBreakerOpenError("open", breaker_name="b", retry_after=retry_after)


@pytest.mark.parametrize(
    ("error", "status", "headers"),
    [
        (NotFoundError("gone"), 404, {}),
        (BusinessRuleError("no"), 409, {}),
        (_RefusedToday("not today"), 409, {}),  # the nearest declared class in its MRO
        (ValueError("a library's message"), 500, {}),  # not declared: not the client's fault
        (LookupError("a library's message"), 500, {}),
        (
            AuthenticationError("The bearer token has expired."),
            401,
            {
                "WWW-Authenticate": 'Bearer realm="aura", error="invalid_token", '
                'error_description="The bearer token has expired."'
            },
        ),
        (
            AuthenticationError("No token.", reason=None),
            401,
            {"WWW-Authenticate": 'Bearer realm="aura"'},
        ),
        (AccessDeniedError("needs the role 'operator'"), 403, {}),
        (AccessDeniedError(HIDDEN_REFUSAL, hidden=True), 404, {}),
        (RateLimitedError("Too many requests.", retry_after=42), 429, {"Retry-After": "42"}),
        (ServiceNotAvailableError("down"), 503, {}),
        (_breaker_refusal(12.2), 503, {"Retry-After": "13"}),
        (_breaker_refusal(math.inf), 503, {}),  # forced open: no time to give
        (ServiceTimeoutError("slow"), 504, {}),
        (KeyError("id"), 500, {}),  # a bug, not an unknown resource
        (IndexError("list index out of range"), 500, {}),
        (EventValidationError("bad event"), 500, {}),  # the platform broke its own contract
        (ConfigurationError("misassembled"), 500, {}),
        (RuntimeError("boom"), 500, {}),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_problem_for_maps_each_kind_of_error_to_its_status(
    error: Exception, status: int, headers: dict[str, str]
) -> None:
    problem = problem_for(error, ERRORS)
    assert (problem.status, dict(problem.headers)) == (status, headers)
    if status == 500:
        assert str(error) not in problem.detail
    else:
        assert problem.detail == str(error)


def test_a_hidden_refusal_raised_by_module_code_reads_as_a_missing_object() -> None:
    problem = problem_for(AccessDeniedError("Session 7 belongs to user 3.", hidden=True))
    assert (problem.status, problem.detail) == (404, HIDDEN_REFUSAL)


def test_the_platform_declares_its_domain_errors_in_pyproject(aura_gateway: GatewayClient) -> None:
    assert aura_gateway.gateway.errors == ERRORS  # what this file's own gateways are given


def test_without_declared_errors_a_domain_error_is_500_too() -> None:
    problem = problem_for(NotFoundError("User 42 does not exist."))
    assert problem.status == 500
    assert "User 42" not in problem.detail


def test_the_gateway_shows_its_authority_and_limit(aura_platform: Platform) -> None:
    authority = TokenAuthority.generate()
    gateway = Gateway(aura_platform, auth=authority, max_body_bytes=2048)
    gateway.close()
    assert repr(gateway) == (
        f"Gateway({aura_platform!r}, auth=TokenAuthority(keys={authority.key_ids!r}, "
        "issuer='aura', audience='aura-gateway'), max_body_bytes=2048)"
    )


# --- a module's FastAPI APIRouter ----------------------------------------------------------------


def test_a_modules_apirouter_is_mounted_under_its_prefix_and_runs_as_the_module(
    tmp_path: Path,
) -> None:
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/where")
    def where() -> dict[str, Any]:
        return {"module": current_module()}

    @router.get("/async-where")
    async def async_where() -> dict[str, Any]:
        return {"module": current_module()}

    @router.post("/refuse")
    def refuse() -> None:
        raise BusinessRuleError("Not today.")

    @router.post("/fail")
    def fail() -> None:
        raise ValueError("secret internals: password=hunter2")

    routed = Module("routed")
    routed.include_router(router, allow=authenticated())
    with (
        Platform([routed], database=tmp_path / "aura.db") as platform,
        operator_of(platform) as gateway,
    ):
        assert gateway.get("/api/routed/where").json() == {"module": "routed"}
        assert gateway.get("/api/routed/async-where").json() == {"module": "routed"}
        refused = gateway.post("/api/routed/refuse")
        assert refused.status_code == 409
        assert refused.json()["detail"] == "Not today."
        failed = gateway.post("/api/routed/fail")
        assert failed.status_code == 500
        assert "error_id" in failed.json()
        assert "hunter2" not in failed.text
        anonymous = gateway.gateway.call("GET", "/api/routed/where")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == 'Bearer realm="aura"'
        described = gateway.get("/api/_modules").json()["modules"][0]["routes"]
        assert described == [
            {"method": "GET", "path": "/api/routed/where"},
            {"method": "GET", "path": "/api/routed/async-where"},
            {"method": "POST", "path": "/api/routed/refuse"},
            {"method": "POST", "path": "/api/routed/fail"},
        ]
        # A method the router does not serve: 405 naming the methods it does, as for routes.
        wrong = gateway.delete("/api/routed/refuse")
        assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")
        assert wrong.json()["detail"] == (
            "DELETE is not allowed on /api/routed/refuse. Allowed methods: POST."
        )


def test_a_router_holding_routers_is_served_guarded_and_described(tmp_path: Path) -> None:
    from fastapi import APIRouter

    router, orders, lines = APIRouter(), APIRouter(prefix="/orders"), APIRouter(prefix="/lines")

    @lines.get("/{line_id}")
    def line(line_id: int) -> dict[str, Any]:
        return {"line": line_id, "module": current_module()}

    orders.include_router(lines)
    router.include_router(orders)
    routed = Module("routed")
    routed.include_router(router, allow=authenticated())
    with (
        Platform([routed], database=tmp_path / "aura.db") as platform,
        operator_of(platform) as gateway,
    ):
        assert gateway.get("/api/routed/orders/lines/3").json() == {"line": 3, "module": "routed"}
        assert gateway.gateway.call("GET", "/api/routed/orders/lines/3").status_code == 401
        assert gateway.get("/api/_modules").json()["modules"][0]["routes"] == [
            {"method": "GET", "path": "/api/routed/orders/lines/{line_id}"}
        ]


def test_include_router_refuses_what_is_not_a_router() -> None:
    with pytest.raises(ModuleDefinitionError) as caught:
        Module("routed").include_router(object())
    assert str(caught.value) == (
        "include_router() of module 'routed' takes a FastAPI APIRouter, got object. Build one "
        "with fastapi.APIRouter()."
    )


# --- access rules are required -------------------------------------------------------------------


def test_a_route_without_an_access_rule_is_refused_when_the_gateway_is_built(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bare = Module("bare")
    bare.publishes("bare.noticed")

    @bare.route("GET", "/things/{thing_id}")
    def get_thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    with Platform([bare], database=tmp_path / "aura.db") as platform:
        with pytest.raises(ModuleDefinitionError) as caught:
            Gateway(platform, auth=TokenAuthority.generate())
        with caplog.at_level(logging.INFO, logger="aura.gateway"):
            platform.bus.publish("bare.noticed", {}, "bare")
    assert str(caught.value) == (
        "Route GET /api/bare/things/{thing_id} of module 'bare' declares no access rule, so the "
        "gateway will not serve it. Pass allow=... to route(): role('operator'), "
        "owner('user_id'), authenticated() or another rule of aura.access (PUBLIC for a login "
        "route)."
    )
    assert not [r for r in caplog.records if hasattr(r, "aura")]  # the failed gateway let go


def test_a_router_without_an_access_rule_is_refused_when_the_gateway_is_built(
    tmp_path: Path,
) -> None:
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/where")
    def where() -> dict[str, Any]:
        return {"module": current_module()}

    routed = Module("routed")
    routed.include_router(router)
    with (
        Platform([routed], database=tmp_path / "aura.db") as platform,
        pytest.raises(ModuleDefinitionError) as caught,
    ):
        Gateway(platform, auth=TokenAuthority.generate())
    assert str(caught.value) == (
        "include_router() of module 'routed' declares no access rule, so the gateway will not "
        "serve it. Pass allow=... to include_router(): role('operator'), owner('user_id'), "
        "authenticated() or another rule of aura.access (PUBLIC for a login route)."
    )


def test_a_router_the_gateway_cannot_guard_is_refused(aura_platform: Platform) -> None:
    from fastapi import APIRouter
    from starlette.routing import Route

    plain = APIRouter()
    plain.routes.append(Route("/plain", lambda request: None))
    reading = APIRouter()
    for router, allow, message in (
        (
            plain,
            role("operator"),
            "include_router() of module 'probe2' holds Route '/plain', which the gateway cannot "
            "guard (only APIRoutes get the router's rule). Declare it with module.route(...).",
        ),
        (
            reading,
            owner("user_id"),
            "include_router() of module 'probe2' has a rule that reads 'user_id'; a router's "
            "rule sees no parsed parameters. Declare such routes with module.route(..., "
            "allow=...) instead.",
        ),
    ):
        module = Module("probe2")
        module.include_router(router, allow=allow)
        with Platform([module]) as platform, pytest.raises(ModuleDefinitionError) as caught:
            Gateway(platform, auth=TokenAuthority.generate())
        assert str(caught.value) == message
