"""The HTTP gateway against its ASGI app with httpx: every route, every error, exact bodies."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from aura.context import current_module, get_correlation_id
from aura.database import Database
from aura.exceptions import (
    CircuitBreakerOpenError,
    ConfigurationError,
    EventValidationError,
    ModuleDefinitionError,
    ServiceNotAvailableError,
    ServiceTimeoutError,
)
from aura.module import Module
from aura.platform import Platform
from aura.registry import ServiceRegistry
from aura.testing import PublishedEvents, ServiceCalls
from aura.web import Gateway, problem_for
from contracts.errors import BusinessRuleError, NotFoundError

CID = "test-correlation-0001"
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)


class _Timestamp:
    """Equal to any ISO-8601 timestamp with a timezone (the server's clock is not the test's)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and datetime.fromisoformat(other).tzinfo is not None

    def __repr__(self) -> str:
        return "<ISO timestamp>"


TIMESTAMP = _Timestamp()


@pytest.fixture
def gateway(aura_platform: Platform) -> Iterator[Gateway]:
    gateway = Gateway(aura_platform)
    yield gateway
    gateway.close()


def send(gateway: Gateway, method: str, path: str, **options: Any) -> httpx.Response:
    """Call the gateway under the test's correlation id, so problem bodies are exact."""
    headers = {"X-Correlation-ID": CID, **options.pop("headers", {})}
    return gateway.call(method, path, headers=headers, **options)


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


def register(gateway: Gateway, name: str, role: str = "patient") -> dict[str, Any]:
    email = f"{name.lower().replace(' ', '.')}@example.com"
    response = send(
        gateway, "POST", "/api/users/users", json={"email": email, "name": name, "role": role}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def book(
    gateway: Gateway, patient_id: int, therapist_id: int, when: str = TOMORROW.isoformat()
) -> httpx.Response:
    booking = {"patient_id": patient_id, "therapist_id": therapist_id, "scheduled_at": when}
    return send(gateway, "POST", "/api/mentalhealth/sessions", json=booking)


def schedule(
    gateway: Gateway, patient: dict[str, Any], therapist: dict[str, Any]
) -> dict[str, Any]:
    response = book(gateway, patient["id"], therapist["id"])
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def booked(gateway: Gateway) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    patient = register(gateway, "Pat Doe")
    therapist = register(gateway, "Dr T", "therapist")
    return patient, therapist, schedule(gateway, patient, therapist)


def assert_problem(response: httpx.Response, expected: dict[str, Any]) -> None:
    assert response.status_code == expected["status"]
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == expected


# --- users ---------------------------------------------------------------------------------------


def test_register_user_answers_201_with_the_user(gateway: Gateway) -> None:
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


def test_get_user_returns_the_profile(gateway: Gateway) -> None:
    user = register(gateway, "Pat Doe")
    response = send(gateway, "GET", f"/api/users/users/{user['id']}")
    assert response.status_code == 200
    assert response.json() == user


def test_update_user_changes_the_profile(
    gateway: Gateway, published_events: PublishedEvents
) -> None:
    user = register(gateway, "Pat Doe")
    response = send(gateway, "PATCH", f"/api/users/users/{user['id']}", json={"name": "Pat Lee"})
    assert response.status_code == 200
    assert response.json() == {**user, "name": "Pat Lee"}
    published_events.assert_published("user.updated", user_id=user["id"], changed_fields=["name"])


def test_deactivate_user_cancels_their_future_sessions(gateway: Gateway) -> None:
    patient, _, session = booked(gateway)
    response = send(gateway, "POST", f"/api/users/users/{patient['id']}/deactivate")
    assert response.status_code == 200
    assert response.json() == {**patient, "active": False}
    cancelled = send(gateway, "GET", f"/api/mentalhealth/sessions/{session['id']}").json()
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "user deactivated")


# --- mentalhealth --------------------------------------------------------------------------------


def test_schedule_session_books_it_and_notifies_and_charges(
    gateway: Gateway, published_events: PublishedEvents
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


def test_get_session_returns_it(gateway: Gateway) -> None:
    _, _, session = booked(gateway)
    response = send(gateway, "GET", f"/api/mentalhealth/sessions/{session['id']}")
    assert response.status_code == 200
    assert response.json() == session


def test_list_sessions_returns_the_users_sessions(gateway: Gateway) -> None:
    patient, therapist, session = booked(gateway)
    other = register(gateway, "Sam Roe")
    for user, expected in ((patient, [session]), (therapist, [session]), (other, [])):
        response = send(gateway, "GET", f"/api/mentalhealth/users/{user['id']}/sessions")
        assert (response.status_code, response.json()) == (200, expected)


def test_start_then_complete_a_session_captures_its_charge(gateway: Gateway) -> None:
    patient, _, session = booked(gateway)
    started = send(gateway, "POST", f"/api/mentalhealth/sessions/{session['id']}/start")
    assert (started.status_code, started.json()) == (200, {**session, "status": "in_progress"})
    completed = send(gateway, "POST", f"/api/mentalhealth/sessions/{session['id']}/complete")
    assert (completed.status_code, completed.json()) == (200, {**session, "status": "completed"})
    charges = send(gateway, "GET", f"/api/billing/patients/{patient['id']}/charges").json()
    assert [charge["status"] for charge in charges] == ["captured"]


def test_cancel_session_records_the_reason_and_voids_the_charge(gateway: Gateway) -> None:
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


def test_list_notifications_returns_what_was_sent_to_the_user(gateway: Gateway) -> None:
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


def test_list_charges_returns_the_patients_charges(gateway: Gateway) -> None:
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


def test_activate_subscription_answers_201(gateway: Gateway) -> None:
    response = send(
        gateway, "POST", "/api/billing/subscriptions", json={"user_id": 7, "plan": "premium"}
    )
    assert response.status_code == 201
    assert response.json() == {
        "id": 1,
        "user_id": 7,
        "plan": "premium",
        "amount_cents": 4900,
        "currency": "EUR",
        "interval": "monthly",
        "status": "active",
        "activated_at": TIMESTAMP,
    }


# --- errors: 400, 404, 405, 409, 413, 422 --------------------------------------------------------


def test_a_body_that_is_not_json_is_400(gateway: Gateway) -> None:
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


def test_an_unknown_user_is_404(gateway: Gateway) -> None:
    response = send(gateway, "GET", "/api/users/users/42")
    assert_problem(
        response, problem(404, "Not Found", "User 42 does not exist.", "/api/users/users/42")
    )


def test_an_unknown_session_is_404(gateway: Gateway) -> None:
    for method, path in (
        ("GET", "/api/mentalhealth/sessions/9"),
        ("POST", "/api/mentalhealth/sessions/9/start"),
    ):
        response = send(gateway, method, path)
        assert_problem(response, problem(404, "Not Found", "Session 9 does not exist.", path))


def test_scheduling_with_an_unknown_patient_is_404(gateway: Gateway) -> None:
    therapist = register(gateway, "Dr T", "therapist")
    response = book(gateway, 5, therapist["id"])
    assert_problem(
        response,
        problem(404, "Not Found", "Patient 5 does not exist.", "/api/mentalhealth/sessions"),
    )


def test_an_unknown_route_is_404(gateway: Gateway) -> None:
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


def test_a_method_the_route_does_not_serve_is_405_with_allow(gateway: Gateway) -> None:
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


def test_a_taken_email_is_409(gateway: Gateway) -> None:
    register(gateway, "Pat Doe")
    again = {"email": "pat.doe@example.com", "name": "Other Pat", "role": "patient"}
    response = send(gateway, "POST", "/api/users/users", json=again)
    assert_problem(
        response,
        problem(
            409,
            "Conflict",
            "A user with email 'pat.doe@example.com' already exists (user 1). Use another "
            "email, or update that user.",
            "/api/users/users",
        ),
    )


def test_an_inactive_patient_cannot_book_409_as_in_the_seed(gateway: Gateway) -> None:
    patient = register(gateway, "Pat Doe")
    therapist = register(gateway, "Dr T", "therapist")
    send(gateway, "POST", f"/api/users/users/{patient['id']}/deactivate")
    response = book(gateway, patient["id"], therapist["id"])
    assert_problem(
        response,
        problem(409, "Conflict", "Patient is not active", "/api/mentalhealth/sessions"),
    )


def test_completing_a_session_not_started_is_409(gateway: Gateway) -> None:
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


def test_a_second_subscription_is_409(gateway: Gateway) -> None:
    plan = {"user_id": 7, "plan": "basic"}
    send(gateway, "POST", "/api/billing/subscriptions", json=plan)
    response = send(gateway, "POST", "/api/billing/subscriptions", json=plan)
    assert_problem(
        response,
        problem(
            409,
            "Conflict",
            "User 7 already has an active basic subscription (id 1). A user can hold one "
            "active subscription at a time.",
            "/api/billing/subscriptions",
        ),
    )


def test_a_time_utc_cannot_hold_is_409(gateway: Gateway) -> None:
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
    gateway = Gateway(aura_platform, max_body_bytes=64)
    body = {"email": "pat@example.com", "name": "P" * 100, "role": "patient"}
    response = send(gateway, "POST", "/api/users/users", json=body)
    gateway.close()
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
    gateway = Gateway(aura_platform, max_body_bytes=64)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 10

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=gateway.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            headers = {"Content-Type": "application/json", "X-Correlation-ID": CID}
            return await client.post("/api/users/users", content=chunks(), headers=headers)

    response = asyncio.run(post())
    gateway.close()
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
    gateway: Gateway,
) -> None:
    response = send(gateway, "POST", "/api/users/users", json={"email": 7, "role": "admin"})
    assert_problem(
        response,
        problem(
            422,
            "Unprocessable Content",
            "The request does not match the route's schema: 3 fields are invalid (body.email: "
            "Input should be a valid string; body.name: Field required; body.role: Input should "
            "be 'patient' or 'therapist'). GET /openapi.json shows what is expected.",
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
                    "detail": "Input should be 'patient' or 'therapist'",
                    "type": "literal_error",
                },
            ],
        ),
    )


def test_a_path_parameter_out_of_range_is_422(gateway: Gateway) -> None:
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


def test_a_service_that_is_not_available_is_503(aura_platform: Platform, gateway: Gateway) -> None:
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


def test_an_open_breaker_is_503_with_retry_after(aura_platform: Platform, gateway: Gateway) -> None:
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


@pytest.fixture
def probed(tmp_path: Path) -> Iterator[Gateway]:
    """The platform plus a ``slow`` module (a service with a timeout) and a ``probe`` module."""
    slow = Module("slow")

    @slow.service("Clock", timeout=0.05)
    class Clock:
        def wait(self) -> str:
            time.sleep(0.3)
            return "late"

    probe = Module("probe", depends_on=["slow", "users"])
    holder: list[Gateway] = []

    @probe.route("GET", "/boom")
    def boom() -> dict[str, str]:
        raise RuntimeError("secret internals: password=hunter2")

    @probe.route("GET", "/late")
    def late(registry: ServiceRegistry) -> str:
        result: str = registry.get_service("slow", "Clock").wait()
        return result

    @probe.route("GET", "/whoami/{name}")
    async def whoami(name: str, platform: Platform, event_bus: Any) -> dict[str, Any]:
        return {
            "module": current_module(),
            "name": name,
            "bus": event_bus is platform.bus,  # by name: Any names no type
            "correlation_id": get_correlation_id(),
        }

    @probe.route("GET", "/relay/{user_id}")
    def relay(user_id: int, database: Database) -> dict[str, Any]:
        response = holder[0].call("GET", f"/api/users/users/{user_id}")
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
        gateway = Gateway(platform)
        holder.append(gateway)
        yield gateway
        gateway.close()


def test_an_unexpected_error_is_500_with_an_error_id_and_no_internals(
    probed: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="aura.gateway"):
        response = send(probed, "GET", "/api/probe/boom")
    assert response.status_code == 500
    error_id = response.json()["error_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", error_id)
    assert_problem(
        response,
        problem(
            500,
            "Internal Server Error",
            f"The server failed to handle this request. Quote error id {error_id} when you "
            "report it.",
            "/api/probe/boom",
            error_id=error_id,
        ),
    )
    assert "hunter2" not in response.text
    (record,) = [r for r in caplog.records if getattr(r, "aura", {}).get("kind") == "http.error"]
    assert record.aura == {
        "kind": "http.error",
        "error_id": error_id,
        "method": "GET",
        "path": "/api/probe/boom",
        "correlation_id": CID,
    }
    assert record.exc_info is not None
    assert "hunter2" in str(record.exc_info[1])


def test_a_service_call_past_its_timeout_is_504(probed: Gateway) -> None:
    response = send(probed, "GET", "/api/probe/late")
    assert_problem(
        response,
        problem(
            504,
            "Gateway Timeout",
            "Call to slow.Clock.wait took longer than its timeout of 0.05 s and was abandoned. "
            "Raise the service's timeout, or make the call cheaper.",
            "/api/probe/late",
        ),
    )


# --- how endpoints run ---------------------------------------------------------------------------


def test_an_endpoint_runs_as_its_module_with_injected_dependencies(probed: Gateway) -> None:
    response = send(probed, "GET", "/api/probe/whoami/ann")
    assert response.json() == {"module": "probe", "name": "ann", "bus": True, "correlation_id": CID}


def test_an_in_process_call_from_an_endpoint_keeps_the_correlation_id(probed: Gateway) -> None:
    user = register(probed, "Pat Doe")
    response = send(probed, "GET", f"/api/probe/relay/{user['id']}")
    assert response.json() == {"status": 200, "echoed": CID, "module": "probe", "database": True}


def test_call_from_async_code_runs_on_another_loop(probed: Gateway) -> None:
    async def from_async() -> httpx.Response:
        return probed.call("GET", "/api/probe/whoami/bo")

    assert asyncio.run(from_async()).json()["module"] == "probe"


def test_a_failing_handler_does_not_fail_the_request_and_is_counted(probed: Gateway) -> None:
    register(probed, "Pat Doe")
    metrics = send(probed, "GET", "/metrics").text
    assert 'aura_events_failed_total{event_type="user.registered",module="probe"} 1.0' in metrics


# --- correlation ---------------------------------------------------------------------------------


def test_the_correlation_id_is_echoed_and_stamped_on_events_and_calls(
    gateway: Gateway, published_events: PublishedEvents, service_calls: ServiceCalls
) -> None:
    booked(gateway)
    response = send(gateway, "GET", "/api/users/users/1")
    assert response.headers["x-correlation-id"] == CID
    assert {event.correlation_id for event in published_events.events} == {CID}
    assert service_calls.calls
    assert {call.correlation_id for call in service_calls.calls} == {CID}


def test_a_missing_correlation_id_is_replaced_by_a_new_one(gateway: Gateway) -> None:
    first = gateway.call("GET", "/health").headers["x-correlation-id"]
    second = gateway.call("GET", "/health").headers["x-correlation-id"]
    assert str(uuid.UUID(first)) == first
    assert first != second


def test_an_invalid_correlation_id_is_refused_with_400(
    gateway: Gateway, published_events: PublishedEvents
) -> None:
    response = gateway.call(
        "POST",
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


def test_modules_describes_services_routes_events_and_dependencies(gateway: Gateway) -> None:
    response = send(gateway, "GET", "/api/_modules")
    assert response.status_code == 200
    modules = {module["name"]: module for module in response.json()["modules"]}
    assert list(modules) == ["billing", "users", "mentalhealth", "notifications"]
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


def test_health_is_200_with_breaker_states(gateway: Gateway) -> None:
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


def test_health_is_503_while_a_breaker_is_open(aura_platform: Platform, gateway: Gateway) -> None:
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
    gateway = Gateway(platform)
    platform.database.close()
    response = gateway.call("GET", "/health")
    platform.close()
    gateway.close()
    assert response.status_code == 503
    assert (response.json()["status"], response.json()["database"]) == ("down", "down")


def test_openapi_documents_every_route_and_problem_responses(gateway: Gateway) -> None:
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
        "/api/mentalhealth/users/{user_id}/sessions",
        "/api/notifications/users/{user_id}/notifications",
        "/api/users/users",
        "/api/users/users/{user_id}",
        "/api/users/users/{user_id}/deactivate",
        "/health",
    ]
    register_user = schema["paths"]["/api/users/users"]["post"]
    assert sorted(register_user["responses"]) == [
        "201",
        "400",
        "404",
        "409",
        "413",
        "422",
        "500",
        "503",
        "504",
    ]
    assert register_user["responses"]["422"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    assert schema["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "detail",
        "instance",
    ]


def test_metrics_count_events_deliveries_calls_breakers_and_requests(gateway: Gateway) -> None:
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
    first, second = Gateway(aura_platform), Gateway(aura_platform)
    first.call("GET", "/health")
    first_text = first.call("GET", "/metrics").text
    second_text = second.call("GET", "/metrics").text
    first.close()
    second.close()
    assert 'route="/health",status="200"} 1.0' in first_text
    assert 'route="/health"' not in second_text


def test_events_deliveries_calls_and_requests_are_logged_as_structured_records(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
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
        "duration_ms": records[-1]["duration_ms"],
        "correlation_id": CID,
    }
    delivered = next(record for record in records if record["kind"] == "event.delivered")
    assert (delivered["outcome"], delivered["correlation_id"]) == ("ok", CID)


def test_closing_the_gateway_stops_observing_the_platform(
    aura_platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = Gateway(aura_platform)
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
        Gateway(aura_platform, max_body_bytes=limit)
    assert str(raised.value) == message


# --- how exceptions are classified ---------------------------------------------------------------


def _breaker_refusal(retry_after: float) -> CircuitBreakerOpenError:
    return CircuitBreakerOpenError("open", breaker_name="b", retry_after=retry_after)


@pytest.mark.parametrize(
    ("error", "status", "headers"),
    [
        (NotFoundError("gone"), 404, {}),
        (BusinessRuleError("no"), 409, {}),
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
    problem = problem_for(error)
    assert (problem.status, dict(problem.headers)) == (status, headers)
    if status == 500:
        assert str(error) not in problem.detail
    else:
        assert problem.detail == str(error)


def test_the_gateway_shows_its_limit(aura_platform: Platform) -> None:
    gateway = Gateway(aura_platform, max_body_bytes=2048)
    gateway.close()
    assert repr(gateway) == f"Gateway({aura_platform!r}, max_body_bytes=2048)"


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
        raise ValueError("Not today.")

    routed = Module("routed")
    routed.include_router(router)
    with Platform([routed], database=tmp_path / "aura.db") as platform:
        gateway = Gateway(platform)
        try:
            assert gateway.call("GET", "/api/routed/where").json() == {"module": "routed"}
            assert gateway.call("GET", "/api/routed/async-where").json() == {"module": "routed"}
            refused = gateway.call("POST", "/api/routed/refuse")
            assert refused.status_code == 409
            assert refused.json()["detail"] == "Not today."
            described = gateway.call("GET", "/api/_modules").json()["modules"][0]["routes"]
            assert described == [
                {"method": "GET", "path": "/api/routed/where"},
                {"method": "GET", "path": "/api/routed/async-where"},
                {"method": "POST", "path": "/api/routed/refuse"},
            ]
        finally:
            gateway.close()


def test_include_router_refuses_what_is_not_a_router() -> None:
    with pytest.raises(ModuleDefinitionError) as caught:
        Module("routed").include_router(object())
    assert str(caught.value) == (
        "include_router() of module 'routed' takes a FastAPI APIRouter, got object. Build one "
        "with fastapi.APIRouter()."
    )
