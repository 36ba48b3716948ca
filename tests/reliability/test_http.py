"""Bad HTTP input gets a 4xx problem, never a 500; load on a real server loses no event."""

from __future__ import annotations

import concurrent.futures
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from aura.platform import Platform
from aura.web import Gateway, running
from aura.web.auth import TokenAuthority
from contracts.errors import BusinessRuleError, NotFoundError


@pytest.fixture
def authority() -> TokenAuthority:
    return TokenAuthority.generate()


@pytest.fixture
def operator(authority: TokenAuthority) -> dict[str, str]:
    """The headers of an operator, whom every route lets in: what is tested is the input."""
    return {"Authorization": f"Bearer {authority.issue('ops', roles=['operator'])}"}


@pytest.fixture
def gateway(tmp_path: Path, authority: TokenAuthority) -> Iterator[Gateway]:
    with Platform(
        Platform.discover("modules"), database=tmp_path / "aura.db", durable=True
    ) as platform:
        errors = {NotFoundError: 404, BusinessRuleError: 409}
        gateway = Gateway(platform, auth=authority, errors=errors, max_body_bytes=10_000)
        yield gateway
        gateway.close()


USER = b'{"email": "pat@example.com", "name": "Pat", "role": "patient"}'


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"),
    [
        ("POST", "/api/users/users", b"{not json", {"content-type": "application/json"}, 400),
        ("POST", "/api/users/users", USER, {"content-type": "text/plain"}, 415),
        ("POST", "/api/users/users", USER, {"content-type": "application/xml"}, 415),
        ("POST", "/api/users/users", b"[1, 2]", {"content-type": "application/json"}, 422),
        (
            "POST",
            "/api/users/users",
            b'{"email": "' + b"x" * 20_000 + b'"}',
            {"content-type": "application/json"},
            413,
        ),
        ("GET", "/api/users/users/1", b"", {"x-correlation-id": "no spaces please"}, 400),
        ("GET", "/api/users/users/1", b"", {"x-correlation-id": "x" * 200}, 400),
        ("GET", "/api/nowhere", b"", {}, 404),
        ("GET", "/api/users/users/not-a-number", b"", {}, 422),
        ("DELETE", "/api/users/users", b"", {}, 405),
        ("PUT", "/health", b"", {}, 405),
        ("GET", "/api/users/users/1", b"", {"Authorization": "Basic b3BzOmh1bnRlcjI="}, 401),
        ("GET", "/api/users/users/1", b"", {"Authorization": "Bearer"}, 401),
        ("GET", "/api/users/users/1", b"", {"Authorization": "Bearer not.a.jwt"}, 401),
        ("GET", "/api/users/users/1", b"", {"Authorization": "Bearer " + "x" * 8000}, 401),
        ("GET", "/metrics", b"", {"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."}, 401),
    ],
)
def test_bad_requests_get_a_4xx_problem(
    gateway: Gateway,
    operator: dict[str, str],
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
) -> None:
    sent = {**operator, **headers}  # a row's own Authorization replaces the operator's
    response = gateway.call(method, path, content=body or None, headers=sent)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["instance"] == path
    assert problem["detail"]
    assert "Traceback" not in response.text


def test_a_burst_of_concurrent_requests_on_a_real_server_loses_no_event(
    gateway: Gateway, operator: dict[str, str]
) -> None:
    platform = gateway.platform
    users = platform.registry.get_service("users", "UserService")
    patients = [users.register_user(f"p{i}@example.com", f"P {i}", "patient") for i in range(4)]
    therapists = [users.register_user(f"t{i}@example.com", f"T {i}", "therapist") for i in range(4)]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    outcomes: Counter[int] = Counter()

    def book(index: int, client: httpx.Client) -> int:
        slot = start + timedelta(hours=index)  # distinct hours: no double booking
        response = client.post(
            "/api/mentalhealth/sessions",
            json={
                "patient_id": patients[index % 4]["id"],
                "therapist_id": therapists[index % 4]["id"],
                "scheduled_at": slot.isoformat(),
            },
        )
        return response.status_code

    with (
        running(gateway) as url,
        httpx.Client(base_url=url, timeout=10, headers=operator) as client,
    ):
        deadline = time.monotonic() + 3  # bounded in time as well as in count
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            futures = []
            for index in range(160):
                if time.monotonic() > deadline:
                    break
                futures.append(pool.submit(book, index, client))
            for future in futures:
                outcomes[future.result()] += 1
    assert set(outcomes) == {201}
    booked = outcomes[201]
    assert booked >= 40
    assert platform.event_store is not None
    counted: Counter[str] = Counter(e.event_type for e in platform.event_store.read())
    assert counted["therapy_session.scheduled"] == booked
    assert counted["notification.sent"] == 2 * booked  # one event per flow step, none lost
    assert platform.journal is not None
    assert {row["status"] for row in platform.journal.publications()} == {"COMPLETED"}
    assert platform.bus.dead_letters() == []
