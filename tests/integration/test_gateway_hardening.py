"""The gateway's second line: tokens that outlive their account or password, guessing one
account's password from many addresses, probing which emails are registered, and what the
methods and the health route say to whom."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import jwt
import pytest
from fastapi import Depends
from starlette.requests import HTTPConnection

from aura.access import role
from aura.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ModuleDefinitionError,
    RateLimitedError,
)
from aura.module import Module
from aura.platform import Platform
from aura.testing.http import Caller, GatewayClient
from aura.testing.plugin import FrozenClock
from aura.web import running
from aura.web.guard import _address
from modules.users.application import UserService
from modules.users.domain import STALE_TOKEN, EmailTakenError

PASSWORD = "the patient's own passphrase"
NEW_PASSWORD = "a fresh passphrase of hers"


@pytest.fixture
def pat(aura_gateway: GatewayClient) -> dict[str, Any]:
    """A patient who can log in, registered by an operator, and a second one without password."""
    operator = aura_gateway.as_operator()
    for body in (
        {"email": "pat@example.com", "name": "Pat", "role": "patient", "password": PASSWORD},
        {"email": "quinn@example.com", "name": "Quinn", "role": "patient"},
    ):
        response = operator.post("/api/users/users", json=body)
        assert response.status_code == 201, response.text
    user: dict[str, Any] = operator.get("/api/users/users/1").json()
    return user


def log_in(client: GatewayClient, password: str = PASSWORD, **headers: str) -> httpx.Response:
    return client.anonymous().post(
        "/api/users/token",
        json={"email": "pat@example.com", "password": password},
        headers=headers,
    )


def logged_in(client: GatewayClient, password: str = PASSWORD) -> Caller:
    response = log_in(client, password)
    assert response.status_code == 200, response.text
    return client.with_token(response.json()["access_token"], "pat")


def assert_stale(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["detail"] == STALE_TOKEN
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="aura", error="invalid_token", error_description="{STALE_TOKEN}"'
    )


# --- tokens that outlive what they were issued for ---------------------------------------------


def test_a_token_is_refused_once_its_password_changes(
    aura_gateway: GatewayClient, pat: dict[str, Any]
) -> None:
    before = logged_in(aura_gateway)
    assert before.get("/api/users/users/1").status_code == 200
    changed = before.patch(
        "/api/users/users/1/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200, changed.text
    assert_stale(before.get("/api/users/users/1"))  # a stolen token dies with the password
    after = logged_in(aura_gateway, NEW_PASSWORD)
    assert after.get("/api/users/users/1").json()["email"] == "pat@example.com"


def test_an_operators_password_reset_refuses_the_old_tokens(
    aura_gateway: GatewayClient, pat: dict[str, Any]
) -> None:
    before = logged_in(aura_gateway)
    reset = aura_gateway.as_operator().patch(
        "/api/users/users/1/password", json={"new_password": NEW_PASSWORD}
    )
    assert reset.status_code == 200, reset.text
    assert_stale(before.get("/api/mentalhealth/users/1/sessions"))


def test_every_token_of_a_deactivated_user_is_refused(
    aura_gateway: GatewayClient, pat: dict[str, Any]
) -> None:
    from_login = logged_in(aura_gateway)
    from_operator = aura_gateway.as_user(pat)  # issued without a credential stamp
    assert from_operator.get("/api/users/users/1").status_code == 200
    deactivated = aura_gateway.as_operator().post("/api/users/users/1/deactivate")
    assert deactivated.status_code == 200, deactivated.text
    assert_stale(from_login.get("/api/users/users/1"))
    assert_stale(from_operator.get("/api/billing/users/1/charges"))


def test_a_token_for_a_user_who_never_existed_is_refused(aura_gateway: GatewayClient) -> None:
    assert_stale(aura_gateway.as_user(42, roles=["patient"]).get("/api/users/users/42"))


def test_service_tokens_without_a_user_are_not_checked_against_users(
    aura_gateway: GatewayClient,
) -> None:
    assert aura_gateway.as_operator("billing-job").get("/api/_modules").status_code == 200


def test_a_stale_token_does_not_lock_its_holder_out_of_the_login(
    aura_gateway: GatewayClient, pat: dict[str, Any], frozen_time: FrozenClock
) -> None:
    """An expired or forged token on a public route is ignored: the caller is anonymous."""
    expired = aura_gateway.token("user:1", roles=["patient"], user_id=1)
    frozen_time.tick(timedelta(hours=1))
    for token in (expired, "not-a-jwt"):
        response = aura_gateway.with_token(token).post(
            "/api/users/token", json={"email": "pat@example.com", "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        assert response.json()["token_type"] == "bearer"


# --- guessing one account from many addresses -------------------------------------------------


@pytest.fixture
def botnet(aura_gateway: GatewayClient, pat: dict[str, Any]) -> Iterator[httpx.Client]:
    """The gateway on uvicorn behind a trusted proxy on loopback, and a client whose requests
    each name another address in X-Forwarded-For (a botnet, or a carrier's NAT)."""
    gateway = aura_gateway.gateway
    with (
        running(gateway, trusted_proxies=("127.0.0.1",)) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        yield client


def attempt(client: httpx.Client, email: str, password: str, address: int) -> httpx.Response:
    return client.post(
        "/api/users/token",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": f"203.0.113.{address}"},
    )


def test_failed_logins_are_limited_per_account_whatever_the_address(
    botnet: httpx.Client,
) -> None:
    for n in range(10):  # each address well under its own limit of five a minute
        assert attempt(botnet, "PAT@example.com ", f"guess {n} of a botnet", n).status_code == 401
    refused = attempt(botnet, "pat@example.com", PASSWORD, 10)  # even the right password
    assert refused.status_code == 429
    retry_after = int(refused.headers["retry-after"])
    assert 15 * 60 - 60 <= retry_after <= 15 * 60
    assert refused.json()["detail"] == (
        "Too many failed logins for this email: the limit is 10 per 15 minutes. Try again in "
        f"{retry_after} s."
    )
    assert "access_token" not in refused.text
    other = attempt(botnet, "quinn@example.com", "anything at all here", 11)
    assert other.status_code == 401  # another account is untouched


def test_an_unregistered_email_is_limited_alike(botnet: httpx.Client) -> None:
    """The limit counts every email, so being limited says nothing about registration."""
    answers = {}
    for email in ("pat@example.com", "nobody@example.com"):
        for n in range(10):
            attempt(botnet, email, "a wrong guess here", n + 20 * len(answers))
        answers[email] = attempt(botnet, email, "a wrong guess here", 15 + 20 * len(answers))
    assert {response.status_code for response in answers.values()} == {429}
    details = {response.json()["detail"].split(". Try")[0] for response in answers.values()}
    assert details == {"Too many failed logins for this email: the limit is 10 per 15 minutes"}


def test_the_account_limit_is_a_moving_window(
    aura_gateway: GatewayClient, pat: dict[str, Any], frozen_time: FrozenClock
) -> None:
    """A failure counts for fifteen minutes after it, then frees its place."""
    for n in range(10):
        assert log_in(aura_gateway, f"slow guess number {n}").status_code == 401
        frozen_time.tick(timedelta(seconds=61))  # past the address's own minute each time
    assert log_in(aura_gateway).status_code == 429  # the first failure is 10 min 10 s old
    frozen_time.tick(timedelta(minutes=4, seconds=51))
    assert log_in(aura_gateway).status_code == 200


def test_a_successful_login_forgets_the_failures(botnet: httpx.Client) -> None:
    for n in range(9):
        attempt(botnet, "pat@example.com", "a typo of the passphrase", n)
    assert attempt(botnet, "pat@example.com", PASSWORD, 9).status_code == 200
    for n in range(9):
        attempt(botnet, "pat@example.com", "another typo of it", n + 20)
    assert attempt(botnet, "pat@example.com", PASSWORD, 30).status_code == 200


# --- probing which emails are registered -------------------------------------------------------


def test_a_caller_is_told_an_email_is_taken_five_times_an_hour(
    aura_gateway: GatewayClient, pat: dict[str, Any], frozen_time: FrozenClock
) -> None:
    prober = aura_gateway.as_user(pat)
    for _ in range(5):
        taken = prober.patch("/api/users/users/1", json={"email": "quinn@example.com"})
        assert taken.status_code == 409
    refused = prober.patch("/api/users/users/1", json={"email": "quinn@example.com"})
    assert refused.status_code == 429
    retry_after = int(refused.headers["retry-after"])
    assert refused.json()["detail"] == (
        "Too many emails refused as taken for you: the limit is 5 per hour. Try again in "
        f"{retry_after} s."
    )
    unchanged = aura_gateway.as_operator().get("/api/users/users/1").json()
    assert unchanged["email"] == "pat@example.com"
    # Other changes go on, an operator is not limited, and the hour passes.
    assert prober.patch("/api/users/users/1", json={"name": "Pat D"}).status_code == 200
    operator = aura_gateway.as_operator()
    for _ in range(6):
        response = operator.patch("/api/users/users/1", json={"email": "quinn@example.com"})
        assert response.status_code == 409
    frozen_time.tick(timedelta(hours=1, seconds=1))
    free = aura_gateway.as_user(pat).patch(
        "/api/users/users/1", json={"email": "pat.doe@example.com"}
    )
    assert free.status_code == 200, free.text


# --- methods and the health route --------------------------------------------------------------


def test_head_health_answers_anonymously_without_a_body(aura_gateway: GatewayClient) -> None:
    response = aura_gateway.anonymous().request("HEAD", "/health")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/api/users/token", "POST"),
        ("GET", "/api/users/token", "POST"),
        ("POST", "/health", "GET, HEAD"),
    ],
)
def test_another_method_on_a_public_path_is_405(
    aura_gateway: GatewayClient, method: str, path: str, allowed: str
) -> None:
    response = aura_gateway.anonymous().request(method, path)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allowed


def test_another_method_on_a_guarded_path_is_405_for_a_caller_and_401_for_anyone(
    aura_gateway: GatewayClient, pat: dict[str, Any]
) -> None:
    assert aura_gateway.as_user(pat).request("DELETE", "/api/users/users/1").status_code == 405
    # Anonymous callers learn nothing of which methods a guarded path has.
    assert aura_gateway.anonymous().request("DELETE", "/api/users/users/1").status_code == 401


def test_health_shows_its_details_to_operators_only(
    aura_gateway: GatewayClient, aura_platform: Platform, pat: dict[str, Any]
) -> None:
    for caller in (aura_gateway.anonymous(), aura_gateway.as_user(pat)):
        response = caller.get("/health")
        assert (response.status_code, response.json()) == (200, {"status": "up"})
    detailed = aura_gateway.as_operator().get("/health").json()
    assert detailed["database"] == "up"
    assert sorted(detailed["modules"]) == sorted(aura_platform.modules)


def test_whoever_exhausts_the_limit_does_not_lock_the_owner_out_at_home(
    botnet: httpx.Client,
) -> None:
    home = {"X-Forwarded-For": "198.51.100.7"}
    first = botnet.post(
        "/api/users/token", json={"email": "pat@example.com", "password": PASSWORD}, headers=home
    )
    assert first.status_code == 200
    for n in range(12):
        attempt(botnet, "pat@example.com", f"a botnet's guess {n}", n)
    assert attempt(botnet, "pat@example.com", PASSWORD, 40).status_code == 429  # a new address
    at_home = botnet.post(
        "/api/users/token", json={"email": "pat@example.com", "password": PASSWORD}, headers=home
    )
    assert at_home.status_code == 200, at_home.text


def test_concurrent_guesses_cannot_pass_the_limit_together(
    aura_platform: Platform, pat: dict[str, Any]
) -> None:
    """Each attempt is counted before its password is verified: of 40 guesses at once, ten
    are tried and thirty refused, however the threads interleave."""
    users = aura_platform.container.resolve(UserService)
    outcomes: list[str] = []

    def guess(n: int) -> None:
        try:
            users.log_in("pat@example.com", f"a parallel guess {n}", address=f"203.0.113.{n}")
        except AuthenticationError:
            outcomes.append("tried")
        except RateLimitedError:
            outcomes.append("refused")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(guess, range(40)))
    assert sorted(outcomes).count("tried") == 10
    assert outcomes.count("refused") == 30


def test_concurrent_probes_of_taken_emails_are_told_five_times_in_all(
    aura_platform: Platform, pat: dict[str, Any]
) -> None:
    """The check, the update and the count of a refusal are one step per caller: of 40
    probes at once, five hear "taken" and 35 are refused, however the threads interleave."""
    from aura.access import Principal
    from modules.users.api import ProfileChange, update_user

    users = aura_platform.container.resolve(UserService)
    probes = aura_platform.container.resolve("email_probes")
    prober = Principal("user:1", frozenset({"patient"}), user_id=1)
    outcomes: list[str] = []

    class Slow:  # each update takes 10 ms: the probes meet inside the window, every run
        def update_profile(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            time.sleep(0.01)
            return users.update_profile(*args, **kwargs)

    def probe(_: int) -> None:
        try:
            update_user(1, ProfileChange(email="quinn@example.com"), prober, Slow(), probes)  # type: ignore[arg-type]
        except EmailTakenError:
            outcomes.append("taken")
        except RateLimitedError:
            outcomes.append("refused")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(probe, range(40)))
    assert sorted(outcomes).count("taken") == 5
    assert outcomes.count("refused") == 35


def test_guesses_of_the_current_password_count_as_failed_logins(
    aura_gateway: GatewayClient, pat: dict[str, Any], frozen_time: FrozenClock
) -> None:
    """A stolen token buys no separate budget of guesses at the password change."""
    thief = aura_gateway.as_user(pat)
    for n in range(10):
        response = thief.patch(
            "/api/users/users/1/password",
            json={"current_password": f"a guess at it {n}", "new_password": NEW_PASSWORD},
        )
        assert response.status_code == 403
        frozen_time.tick(timedelta(seconds=61))  # past the route's own limit each time
    refused = log_in(aura_gateway)
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("Too many failed logins for this email:")


# --- a therapist's hold on a patient's charges ---------------------------------------------------


@pytest.fixture
def care(aura_gateway: GatewayClient, pat: dict[str, Any]) -> dict[str, Any]:
    """A therapist of Pat's, with one session booked next week by an operator."""
    operator = aura_gateway.as_operator()
    tess = operator.post(
        "/api/users/users", json={"email": "tess@example.com", "name": "Tess", "role": "therapist"}
    ).json()
    when = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    booked = operator.post(
        "/api/mentalhealth/sessions",
        json={
            "patient_id": pat["id"],
            "therapist_id": tess["id"],
            "scheduled_at": when.isoformat(),
        },
    )
    assert booked.status_code == 201, booked.text
    return {"therapist": tess, "session": booked.json(), "when": when}


def test_a_therapist_cannot_start_next_weeks_session_today(
    aura_gateway: GatewayClient, care: dict[str, Any], frozen_time: FrozenClock
) -> None:
    session, when = care["session"], care["when"]
    opens = when - timedelta(minutes=15)
    too_soon = aura_gateway.as_user(care["therapist"]).post(
        f"/api/mentalhealth/sessions/{session['id']}/start"
    )
    assert too_soon.status_code == 409
    assert too_soon.json()["detail"] == (
        f"Session {session['id']} is scheduled for {when.isoformat()}; its therapist can start it "
        f"from 15 minutes before, at {opens.isoformat()}. Ask an operator to start it sooner."
    )
    charges = aura_gateway.as_operator().get(
        f"/api/billing/patients/{session['patient_id']}/charges"
    )
    assert [charge["status"] for charge in charges.json()] == ["pending"]
    frozen_time.move_to(opens)
    on_time = aura_gateway.as_user(care["therapist"]).post(
        f"/api/mentalhealth/sessions/{session['id']}/start"
    )
    assert on_time.status_code == 200, on_time.text


def test_an_operator_may_start_a_session_early(
    aura_gateway: GatewayClient, care: dict[str, Any]
) -> None:
    started = aura_gateway.as_operator().post(
        f"/api/mentalhealth/sessions/{care['session']['id']}/start"
    )
    assert (started.status_code, started.json()["status"]) == (200, "in_progress")


def test_a_cancelled_booking_gives_a_therapist_no_hold_on_the_patient(
    aura_gateway: GatewayClient, pat: dict[str, Any], care: dict[str, Any]
) -> None:
    cancelled = aura_gateway.as_user(pat).post(
        f"/api/mentalhealth/sessions/{care['session']['id']}/cancel",
        json={"reason": "changed mind"},
    )
    assert cancelled.status_code == 200
    later = (care["when"] + timedelta(days=1)).isoformat()
    booking = aura_gateway.as_user(care["therapist"]).post(
        "/api/mentalhealth/sessions",
        json={
            "patient_id": pat["id"],
            "therapist_id": care["therapist"]["id"],
            "scheduled_at": later,
        },
    )
    assert booking.status_code == 403
    assert "a therapist of the patient" in booking.json()["detail"]


def test_a_booking_beyond_five_years_is_refused_not_a_crash(
    aura_gateway: GatewayClient, pat: dict[str, Any], care: dict[str, Any]
) -> None:
    response = aura_gateway.as_user(pat).post(
        "/api/mentalhealth/sessions",
        json={
            "patient_id": pat["id"],
            "therapist_id": care["therapist"]["id"],
            "scheduled_at": "9999-12-31T23:59:00+00:00",
        },
    )
    assert response.status_code == 409
    assert response.json()["detail"].startswith(
        "Sessions can be booked at most 5 years ahead; 9999-12-31T23:59:00+00:00 is later. "
        "Choose a date before "
    )


# --- what the framework refuses ------------------------------------------------------------------


RAN: list[str] = []


def expensive() -> str:
    """A FastAPI dependency with an effect: it must not run for a refused caller."""
    RAN.append("ran")
    return "report"


def test_a_route_taking_a_fastapi_dependency_is_refused_at_mount() -> None:
    module = Module("reports")

    @module.route("GET", "/reports/{report_id}", allow=role("operator"))
    def report(report_id: int, body: Annotated[str, Depends(expensive)]) -> dict[str, str]:
        return {"report": body}

    with Platform([module]) as platform, pytest.raises(ModuleDefinitionError) as caught:
        GatewayClient(platform)
    assert str(caught.value) == (
        "Route GET /api/reports/reports/{report_id} of module 'reports' takes 'body' through "
        "fastapi's Depends, which FastAPI would run before the route's access rule (for callers "
        "the rule refuses, too). Provide it with reports.provide(...) so the container injects "
        "it once the rule let the caller in, or serve the route from an APIRouter with "
        "include_router(), whose rule runs first."
    )
    assert RAN == []


@pytest.mark.parametrize(
    ("host", "counted_as"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:aa:bb:1:2:3:4", "2001:db8:aa:bb::/64"),
        ("2001:db8:aa:bb:ffff::1", "2001:db8:aa:bb::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("fe80::1%eth0", "fe80::/64"),
    ],
)
def test_an_ipv6_client_is_counted_by_its_64_network(host: str, counted_as: str) -> None:
    connection = HTTPConnection({"type": "http", "client": (host, 40000), "headers": []})
    assert _address(connection) == counted_as


def test_a_token_with_an_impossible_user_id_is_refused_not_a_crash(
    aura_gateway: GatewayClient,
) -> None:
    authority = aura_gateway.authority
    with pytest.raises(ConfigurationError):
        authority.issue("user:x", user_id=10**20)
    forged = jwt.encode(
        {
            **jwt.decode(authority.issue("user:x"), options={"verify_signature": False}),
            "user_id": 10**20,
        },
        authority._keys[authority.key_ids[0]],
        algorithm="HS256",
        headers={"kid": authority.key_ids[0]},
    )
    response = aura_gateway.with_token(forged).get("/api/users/users/1")
    assert response.status_code == 401
    assert response.json()["detail"] == (
        "The bearer token's user_id claim is not a user id (a whole number from 1 to 2**63 - 1)."
    )


def test_a_patient_books_twenty_sessions_an_hour_and_an_operator_is_not_counted(
    aura_gateway: GatewayClient,
    pat: dict[str, Any],
    care: dict[str, Any],
    frozen_time: FrozenClock,
) -> None:
    """Each booking and cancellation e-mails the other participant: one caller cannot flood
    a therapist's inbox and calendar."""
    patient, tess = aura_gateway.as_user(pat), care["therapist"]
    start = care["when"] + timedelta(days=1)

    def book(client: Caller, hour: int) -> httpx.Response:
        return client.post(
            "/api/mentalhealth/sessions",
            json={
                "patient_id": pat["id"],
                "therapist_id": tess["id"],
                "scheduled_at": (start + timedelta(hours=hour)).isoformat(),
            },
        )

    assert [book(patient, hour).status_code for hour in range(20)] == [201] * 20
    refused = book(patient, 20)
    assert refused.status_code == 429
    retry_after = int(refused.headers["retry-after"])
    assert refused.json()["detail"] == (
        "Too many requests to POST /api/mentalhealth/sessions from you: the limit is 20 per 1 "
        f"hour. Try again in {retry_after} s."
    )
    operator = aura_gateway.as_operator()
    assert [book(operator, hour).status_code for hour in range(21, 46)] == [201] * 25

    cancel = f"/api/mentalhealth/sessions/{care['session']['id']}/cancel"
    answers = [patient.post(cancel, json={"reason": "ill"}).status_code for _ in range(21)]
    assert answers == [200] + [409] * 19 + [429]  # a budget of its own, every answer counted
    frozen_time.tick(timedelta(hours=1, seconds=1))
    assert book(aura_gateway.as_user(pat), 60).status_code == 201  # a new token: the old expired


# --- what every response tells the browser and the caches between ------------------------------

SECURITY = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
}


def test_every_response_forbids_caching_sniffing_and_framing(
    aura_gateway: GatewayClient, pat: dict[str, Any]
) -> None:
    token = log_in(aura_gateway)
    responses = {
        "a patient's record": logged_in(aura_gateway).get(f"/api/users/users/{pat['id']}"),
        "a token": token,
        "a refusal (401)": aura_gateway.anonymous().get(f"/api/users/users/{pat['id']}"),
        "another's record (404)": logged_in(aura_gateway).get("/api/users/users/2"),
        "an unknown route (404)": logged_in(aura_gateway).get("/api/nowhere"),
        "the health route": aura_gateway.anonymous().get("/health"),
    }
    statuses = {what: response.status_code for what, response in responses.items()}
    assert statuses == {
        "a patient's record": 200,
        "a token": 200,
        "a refusal (401)": 401,
        "another's record (404)": 404,
        "an unknown route (404)": 404,
        "the health route": 200,
    }
    for what, response in responses.items():
        sent = {name: response.headers.get(name) for name in SECURITY}
        assert sent == SECURITY, what
        assert len(response.headers.get_list("cache-control")) == 1, what


def test_a_route_that_sets_its_own_cache_policy_keeps_it() -> None:
    from aura.web.middleware import GatewayMiddleware

    class Requests:  # what the middleware tells its monitor: each request's status
        def __init__(self) -> None:
            self.statuses: list[int] = []

        def request(self, scope: Any, status: int, started: float) -> None:
            self.statuses.append(status)

    requests = Requests()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"Cache-Control", b"public, max-age=60")],
            }
        )
        await send({"type": "http.response.body", "body": b"{}"})

    async def get() -> httpx.Response:
        middleware = GatewayMiddleware(app, max_body_bytes=1024, monitor=requests)  # type: ignore[arg-type]
        transport = httpx.ASGITransport(app=middleware)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return await client.get("/static")

    response = asyncio.run(get())
    assert response.headers.get_list("cache-control") == ["public, max-age=60"]
    assert response.headers["x-frame-options"] == "DENY"  # no framing policy given: ours
    assert response.headers["x-content-type-options"] == "nosniff"  # the others still added
    assert requests.statuses == [200]


def test_a_route_that_sets_its_own_framing_policy_keeps_it_whole() -> None:
    from aura.web.middleware import GatewayMiddleware

    class Requests:
        def request(self, scope: Any, status: int, started: float) -> None:
            pass

    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"x-frame-options", b"SAMEORIGIN")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    async def get() -> httpx.Response:
        middleware = GatewayMiddleware(app, max_body_bytes=1024, monitor=Requests())  # type: ignore[arg-type]
        transport = httpx.ASGITransport(app=middleware)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return await client.get("/embeddable")

    response = asyncio.run(get())
    # frame-ancestors 'none' would override SAMEORIGIN in a browser: not added
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert "content-security-policy" not in response.headers
    assert response.headers["cache-control"] == "no-store"
