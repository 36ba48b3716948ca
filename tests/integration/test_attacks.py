"""The gateway as an attacker sees it: forged, stale and malformed credentials, guessed passwords
and reaching for other people's data. Every refusal's text and headers are asserted exactly:
they are what the attacker, and the honest client who made a mistake, get to read."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from aura.platform import Platform
from aura.testing import PublishedEvents
from aura.testing.http import Caller, GatewayClient
from aura.testing.plugin import FrozenClock
from aura.web import running
from aura.web.auth import TokenAuthority
from contracts.errors import BusinessRuleError, NotFoundError

CID = "attack-correlation-0001"
PASSWORD = "the patient's own passphrase"
HIDDEN = "Nothing here that you may see: it does not exist, or it is not yours."
ERRORS: dict[type[BaseException], int] = {NotFoundError: 404, BusinessRuleError: 409}


def unauthorized(detail: str, instance: str) -> dict[str, Any]:
    """The 401 problem body for ``detail`` at ``instance``, under this file's correlation id."""
    return {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": detail,
        "instance": instance,
        "correlation_id": CID,
    }


def challenge(detail: str, error: str = "invalid_token") -> str:
    """The ``WWW-Authenticate`` header of a refused credential (RFC 6750, 3)."""
    return f'Bearer realm="aura", error="{error}", error_description="{detail}"'


@pytest.fixture
def people(aura_gateway: GatewayClient) -> dict[str, dict[str, Any]]:
    """Two patients and two therapists, registered through the gateway by an operator; the
    first patient can log in."""
    operator = aura_gateway.as_operator()
    registered = {}
    for name, role, password in (
        ("pat", "patient", PASSWORD),
        ("quinn", "patient", None),
        ("tess", "therapist", None),
        ("uma", "therapist", None),
    ):
        body: dict[str, Any] = {"email": f"{name}@example.com", "name": name.title(), "role": role}
        if password is not None:
            body["password"] = password
        response = operator.post("/api/users/users", json=body)
        assert response.status_code == 201, response.text
        registered[name] = response.json()
    return registered


def book(client: GatewayClient, patient: dict[str, Any], therapist: dict[str, Any]) -> int:
    """Book a session five minutes from now as an operator; return its id."""
    response = client.as_operator().post(
        "/api/mentalhealth/sessions",
        json={
            "patient_id": patient["id"],
            "therapist_id": therapist["id"],
            # Soon: a therapist may start a session from 15 minutes before its time.
            "scheduled_at": (datetime.now(UTC) + timedelta(minutes=5))
            .replace(microsecond=0)
            .isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    session_id: int = response.json()["id"]
    return session_id


def own_profile(caller: Caller, user: dict[str, Any]) -> httpx.Response:
    """The request every token below is tried on: the patient reading their own profile."""
    return caller.get(f"/api/users/users/{user['id']}", headers={"X-Correlation-ID": CID})


def assert_refused(response: httpx.Response, detail: str, header: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == unauthorized(detail, response.request.url.path)
    assert response.headers["www-authenticate"] == header


# --- tokens -------------------------------------------------------------------------------------


def test_the_genuine_token_is_let_in(aura_gateway: GatewayClient, people: dict[str, Any]) -> None:
    """The control for every refusal below: the same request with an honest token works."""
    response = own_profile(aura_gateway.as_user(people["pat"]), people["pat"])
    assert response.status_code == 200
    assert response.json()["email"] == "pat@example.com"


def test_no_token_at_all_is_challenged(aura_gateway: GatewayClient, people: dict[str, Any]) -> None:
    response = own_profile(aura_gateway.anonymous(), people["pat"])
    assert response.status_code == 401
    assert response.json() == unauthorized(
        "GET /api/users/users/1 needs a bearer token: send 'Authorization: Bearer <token>'.",
        "/api/users/users/1",
    )
    assert response.headers["www-authenticate"] == 'Bearer realm="aura"'


def test_an_expired_token_is_refused(
    aura_gateway: GatewayClient, people: dict[str, Any], frozen_time: FrozenClock
) -> None:
    pat = people["pat"]
    token = aura_gateway.token("user:1", roles=["patient"], user_id=pat["id"])
    frozen_time.tick(timedelta(minutes=15))
    assert own_profile(aura_gateway.with_token(token), pat).status_code == 200  # the leeway
    frozen_time.tick(timedelta(seconds=11))
    detail = "The bearer token has expired. Log in again."
    assert_refused(own_profile(aura_gateway.with_token(token), pat), detail, challenge(detail))


def test_a_token_whose_roles_were_rewritten_is_refused(
    aura_gateway: GatewayClient, people: dict[str, Any]
) -> None:
    token = aura_gateway.token("user:1", roles=["patient"], user_id=people["pat"]["id"])
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = ["operator"]
    forged_payload = _b64(json.dumps(claims).encode())
    forged = aura_gateway.with_token(f"{header}.{forged_payload}.{signature}")
    detail = "The bearer token's signature is not valid."
    assert_refused(
        forged.get("/api/_modules", headers={"X-Correlation-ID": CID}), detail, challenge(detail)
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(user_id: int, **changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": "aura",
        "aud": "aura-gateway",
        "sub": f"user:{user_id}",
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=5),
        "jti": "attack",
        "roles": ["operator"],
        "user_id": user_id,
    }
    claims.update(changes)
    return claims


GATEWAY_KID = "k-gateway"
GATEWAY_KEY = b"the gateway's own key, 32+ bytes"
ATTACKER_KEY = b"another key of thirty-two bytes!"


@pytest.fixture
def insider(aura_platform: Platform) -> Iterator[GatewayClient]:
    """A gateway over the same platform whose signing key the test knows, to forge with it."""
    client = GatewayClient(
        aura_platform, authority=TokenAuthority({GATEWAY_KID: GATEWAY_KEY}), errors=ERRORS
    )
    yield client
    client.close()


def _signed(claims: dict[str, Any], key: bytes = GATEWAY_KEY, kid: str = GATEWAY_KID) -> str:
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": kid})


def _unsigned_by_hand() -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": GATEWAY_KID}).encode())
    payload = _b64(json.dumps(_claims(1, iat=0, nbf=0, exp=2**40)).encode())
    return f"{header}.{payload}."


ANOTHER_KEY_ID = (
    "The bearer token was signed with a key this gateway does not hold (retired, or another "
    "issuer's). Log in again."
)
ONLY_HS256 = "The bearer token is signed with 'none'; this gateway accepts HS256 only."


# Tokens are made when the test runs (they expire): each case is a function making one.
@pytest.mark.parametrize(
    ("forge", "detail"),
    [
        pytest.param(
            lambda: _signed(_claims(1, aud="billing-api")),
            "The bearer token is not meant for this gateway (audience 'aura-gateway').",
            id="wrong audience",
        ),
        pytest.param(
            lambda: _signed(_claims(1, iss="evil")),
            "The bearer token was not issued by 'aura'.",
            id="wrong issuer",
        ),
        pytest.param(
            lambda: _signed({k: v for k, v in _claims(1).items() if k != "exp"}),
            "The bearer token lacks the claim 'exp'.",
            id="no expiry",
        ),
        pytest.param(
            lambda: _signed(_claims(1), key=ATTACKER_KEY),
            "The bearer token's signature is not valid.",
            id="signed with another key",
        ),
        pytest.param(
            lambda: _signed(_claims(1), key=ATTACKER_KEY, kid="k-attacker"),
            ANOTHER_KEY_ID,
            id="another key id",
        ),
        pytest.param(
            lambda: jwt.encode(_claims(1), None, algorithm="none", headers={"kid": GATEWAY_KID}),
            ONLY_HS256,
            id="alg none",
        ),
        pytest.param(_unsigned_by_hand, ONLY_HS256, id="alg none by hand"),
        pytest.param(
            lambda: jwt.encode(
                _claims(1), GATEWAY_KEY * 2, algorithm="HS512", headers={"kid": GATEWAY_KID}
            ),
            "The bearer token is signed with 'HS512'; this gateway accepts HS256 only.",
            id="another algorithm",
        ),
        pytest.param(lambda: "not-a-jwt", "The bearer token is not a JWT.", id="garbage"),
    ],
)
def test_a_forged_token_is_refused(
    insider: GatewayClient, people: dict[str, Any], forge: Callable[[], str], detail: str
) -> None:
    """Each claims the operator role. Those for another audience or issuer, or without an
    expiry, are signed with the gateway's real key (an insider's); the others with what an
    outsider has: another key, or none."""
    genuine = insider.token("user:1", roles=["patient"], user_id=people["pat"]["id"])
    assert own_profile(insider.with_token(genuine), people["pat"]).status_code == 200
    response = own_profile(insider.with_token(forge()), people["pat"])
    assert_refused(response, detail, challenge(detail))


def test_a_token_of_a_retired_key_is_refused(aura_platform: Platform) -> None:
    before = TokenAuthority.generate()
    old_token = before.issue("service:ops", roles=["operator"])
    rotated = before.rotate()
    with_both = GatewayClient(aura_platform, authority=rotated, errors=ERRORS)
    try:  # rotation alone logs nobody out
        assert with_both.with_token(old_token).get("/api/_modules").status_code == 200
    finally:
        with_both.close()
    retired = GatewayClient(
        aura_platform, authority=rotated.retire(before.key_ids[0]), errors=ERRORS
    )
    try:
        response = retired.with_token(old_token).get(
            "/api/_modules", headers={"X-Correlation-ID": CID}
        )
        detail = (
            "The bearer token was signed with a key this gateway does not hold (retired, or "
            "another issuer's). Log in again."
        )
        assert_refused(response, detail, challenge(detail))
        fresh = retired.authority.issue("service:ops", roles=["operator"])
        assert retired.with_token(fresh).get("/api/_modules").status_code == 200
    finally:
        retired.close()


@pytest.mark.parametrize(
    "authorization",
    ["Basic cGF0OnNlY3JldA==", "Bearer", "Token abc.def.ghi", "bearer"],
)
def test_a_malformed_authorization_header_is_refused(
    aura_gateway: GatewayClient, people: dict[str, Any], authorization: str
) -> None:
    response = aura_gateway.anonymous().get(
        "/api/users/users/1", headers={"Authorization": authorization, "X-Correlation-ID": CID}
    )
    detail = "The Authorization header must be 'Bearer <token>'. Log in to get a token."
    assert_refused(response, detail, challenge(detail, "invalid_request"))


def test_only_health_answers_without_a_token(aura_gateway: GatewayClient) -> None:
    anonymous = aura_gateway.anonymous()
    assert anonymous.get("/health").status_code == 200
    for path in ("/metrics", "/api/_modules", "/openapi.json", "/api/users/users/1"):
        assert anonymous.get(path).status_code == 401, path


# --- guessing passwords -------------------------------------------------------------------------


@pytest.fixture
def server(aura_gateway: GatewayClient, people: dict[str, Any]) -> Iterator[httpx.Client]:
    """The gateway on a real uvicorn server on loopback, and an HTTP client for it."""
    with running(aura_gateway.gateway) as url, httpx.Client(base_url=url, timeout=5) as client:
        yield client


def test_login_guessing_is_stopped_after_five_attempts(server: httpx.Client) -> None:
    started = time.monotonic()
    guesses = [f"guess number {n} of many" for n in range(1, 6)]
    for guess in guesses:
        response = server.post(
            "/api/users/token",
            json={"email": "pat@example.com", "password": guess},
            headers={"X-Correlation-ID": CID},
        )
        assert response.status_code == 401
        assert response.json() == unauthorized("Invalid email or password.", "/api/users/token")
        assert response.headers["www-authenticate"] == 'Bearer realm="aura"'
    sixth = server.post(
        "/api/users/token",
        json={"email": "pat@example.com", "password": PASSWORD},  # even the right one
        headers={"X-Correlation-ID": CID},
    )
    elapsed = time.monotonic() - started
    assert sixth.status_code == 429
    retry_after = int(sixth.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert sixth.json() == {
        "type": "about:blank",
        "title": "Too Many Requests",
        "status": 429,
        "detail": "Too many requests to POST /api/users/token from this address: the limit is 5 "
        f"per 1 minute. Try again in {retry_after} s.",
        "instance": "/api/users/token",
        "correlation_id": CID,
    }
    assert "access_token" not in sixth.text
    # Refused by counting, not slowed down: six argon2 checks take well under a second alone,
    # a throttle that sleeps would take its whole window (a minute). Room for a loaded machine.
    assert elapsed < 8.0, f"six login attempts took {elapsed:.2f} s"


def test_other_routes_are_not_slowed_by_the_login_limit(server: httpx.Client) -> None:
    for _ in range(6):
        server.post("/api/users/token", json={"email": "pat@example.com", "password": "nope"})
    assert server.get("/health").status_code == 200


def test_an_unknown_email_is_answered_like_a_wrong_password(server: httpx.Client) -> None:
    answers = [
        server.post(
            "/api/users/token",
            json={"email": email, "password": "a wrong guess here"},
            headers={"X-Correlation-ID": CID},
        )
        for email in ("pat@example.com", "nobody@example.com", "quinn@example.com")
    ]  # a registered user, nobody, and a registered user without a password
    assert {response.status_code for response in answers} == {401}
    assert all(response.json() == answers[0].json() for response in answers)
    assert all(
        response.headers["www-authenticate"] == 'Bearer realm="aura"' for response in answers
    )


def test_a_forged_forwarded_for_header_does_not_reset_the_count(server: httpx.Client) -> None:
    """No proxy is trusted unless configured: a client cannot name its own address."""
    for n in range(6):
        response = server.post(
            "/api/users/token",
            json={"email": "pat@example.com", "password": "a wrong guess here"},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        )
    assert response.status_code == 429


# --- reaching for what is not yours -------------------------------------------------------------


def test_a_patient_cannot_change_another_patients_email(
    aura_gateway: GatewayClient, people: dict[str, Any]
) -> None:
    attacker = aura_gateway.as_user(people["pat"])
    response = attacker.patch(
        f"/api/users/users/{people['quinn']['id']}", json={"email": "attacker@example.com"}
    )
    assert response.status_code == 404
    assert response.json()["detail"] == HIDDEN
    victim = aura_gateway.as_operator().get(f"/api/users/users/{people['quinn']['id']}")
    assert victim.json()["email"] == "quinn@example.com"


def test_a_patient_cannot_make_themselves_an_operator(
    aura_gateway: GatewayClient, people: dict[str, Any]
) -> None:
    attacker = aura_gateway.as_user(people["pat"])
    mine = f"/api/users/users/{people['pat']['id']}"
    promoted = attacker.patch(mine, json={"role": "operator"})
    assert promoted.status_code == 422  # not a profile's field: refused, not silently dropped
    assert promoted.json()["errors"] == [
        {
            "field": "body.role",
            "detail": "Extra inputs are not permitted",
            "type": "extra_forbidden",
        }
    ]
    assert attacker.get(mine).json()["role"] == "patient"
    registered = attacker.post(
        "/api/users/users",
        json={"email": "mallory@example.com", "name": "Mallory", "role": "operator"},
    )
    assert registered.status_code == 403
    assert registered.json()["detail"] == (
        "user 1 (patient) may not POST /api/users/users: it needs the role 'operator'."
    )


def test_a_body_s_unknown_fields_and_ids_that_are_not_numbers_are_refused_and_change_nothing(
    aura_gateway: GatewayClient, people: dict[str, Any]
) -> None:
    operator = aura_gateway.as_operator()
    smuggled = operator.post(
        "/api/users/users",
        json={"email": "x@example.com", "name": "X", "role": "patient", "id": 1, "active": False},
    )
    assert smuggled.status_code == 422
    assert [error["field"] for error in smuggled.json()["errors"]] == ["body.id", "body.active"]
    for user_id in ("1", True):
        coerced = operator.post(
            "/api/billing/subscriptions", json={"user_id": user_id, "plan": "basic"}
        )
        assert coerced.status_code == 422
        assert coerced.json()["errors"][0]["field"] == "body.user_id"
    # Nothing was made: the same user registers now (an email taken would be 409), with no plan.
    plain = {"email": "x@example.com", "name": "X", "role": "patient"}
    assert operator.post("/api/users/users", json=plain).status_code == 201
    assert people["pat"]["id"] == 1  # the user "1" and true named: no plan was started for them
    started = operator.post("/api/billing/subscriptions", json={"user_id": 1, "plan": "basic"})
    assert started.status_code == 201  # a second active plan would be refused


def test_a_patient_cannot_activate_a_plan_for_another_user(
    aura_gateway: GatewayClient, people: dict[str, Any]
) -> None:
    response = aura_gateway.as_user(people["pat"]).post(
        "/api/billing/subscriptions", json={"user_id": people["quinn"]["id"], "plan": "premium"}
    )
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "user 1 (patient) may not POST /api/billing/subscriptions: subscription.user_id must be "
        "your own user id; or it needs the role 'operator'."
    )


def test_a_patient_cannot_start_their_own_session(
    aura_gateway: GatewayClient, people: dict[str, Any]
) -> None:
    session_id = book(aura_gateway, people["pat"], people["tess"])
    response = aura_gateway.as_user(people["pat"]).post(
        f"/api/mentalhealth/sessions/{session_id}/start"
    )
    assert response.status_code == 403
    assert response.json()["detail"] == (
        f"user 1 (patient) may not POST /api/mentalhealth/sessions/{session_id}/start: only the "
        "session's therapist may; or it needs the role 'operator'."
    )


def test_a_patient_cannot_complete_a_session_to_capture_its_charge(
    aura_gateway: GatewayClient, people: dict[str, Any]
) -> None:
    session_id = book(aura_gateway, people["quinn"], people["tess"])
    assert (
        aura_gateway.as_user(people["tess"])
        .post(f"/api/mentalhealth/sessions/{session_id}/start")
        .status_code
        == 200
    )
    response = aura_gateway.as_user(people["pat"]).post(
        f"/api/mentalhealth/sessions/{session_id}/complete"
    )
    assert (response.status_code, response.json()["detail"]) == (404, HIDDEN)


def test_a_patient_cannot_book_for_another_patient(
    aura_gateway: GatewayClient, people: dict[str, Any]
) -> None:
    response = aura_gateway.as_user(people["pat"]).post(
        "/api/mentalhealth/sessions",
        json={
            "patient_id": people["quinn"]["id"],
            "therapist_id": people["tess"]["id"],
            "scheduled_at": "2030-01-07T10:00:00+00:00",
        },
    )
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "user 1 (patient) may not POST /api/mentalhealth/sessions: session.patient_id must be "
        "your own user id; or it needs the role 'therapist'; or it needs the role 'operator'."
    )


def test_a_therapist_cannot_book_a_stranger_to_charge_them(
    aura_gateway: GatewayClient, people: dict[str, Any]
) -> None:
    uma = aura_gateway.as_user(people["uma"])
    stranger = {
        "patient_id": people["quinn"]["id"],
        "therapist_id": people["uma"]["id"],
        "scheduled_at": "2030-01-07T10:00:00+00:00",
    }
    response = uma.post("/api/mentalhealth/sessions", json=stranger)
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "user 4 (therapist) may not POST /api/mentalhealth/sessions: it needs the role "
        "'patient'; or only a therapist of the patient may; or it needs the role 'operator'."
    )
    charges = aura_gateway.as_operator().get(
        f"/api/billing/patients/{people['quinn']['id']}/charges"
    )
    assert charges.json() == []
    # Once the patient has a session with them, the therapist books the next one.
    book(aura_gateway, people["quinn"], people["uma"])
    again = uma.post(
        "/api/mentalhealth/sessions", json={**stranger, "scheduled_at": "2030-01-14T10:00:00+00:00"}
    )
    assert again.status_code == 201, again.text


def test_a_patient_cannot_deactivate_a_therapist(
    aura_gateway: GatewayClient, people: dict[str, Any]
) -> None:
    response = aura_gateway.as_user(people["pat"]).post(
        f"/api/users/users/{people['tess']['id']}/deactivate"
    )
    assert (response.status_code, response.json()["detail"]) == (404, HIDDEN)
    therapist = aura_gateway.as_operator().get(f"/api/users/users/{people['tess']['id']}")
    assert therapist.json()["active"] is True


def test_a_therapist_cannot_reach_another_therapists_session(
    aura_gateway: GatewayClient, people: dict[str, Any]
) -> None:
    session_id = book(aura_gateway, people["quinn"], people["uma"])
    tess = aura_gateway.as_user(people["tess"])
    for action in ("start", "cancel"):
        response = tess.post(
            f"/api/mentalhealth/sessions/{session_id}/{action}", json={"reason": "mine now"}
        )
        assert (response.status_code, response.json()["detail"]) == (404, HIDDEN), action


def test_a_taken_email_reveals_no_account(
    aura_gateway: GatewayClient, people: dict[str, Any]
) -> None:
    response = aura_gateway.as_user(people["pat"]).patch(
        f"/api/users/users/{people['pat']['id']}", json={"email": "quinn@example.com"}
    )
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "Email 'quinn@example.com' cannot be used for this account: choose another."
    )
    assert str(people["quinn"]["id"]) not in response.json()["detail"]


# --- booking: what a refusal tells about other people -----------------------------------------

MISSING_ID = 999_999
AT_TEN = "2030-01-07T10:00:00+00:00"
AT_HALF_PAST_TEN = "2030-01-07T10:30:00+00:00"


def _book_as(
    caller: Caller, patient: dict[str, Any], therapist_id: int, at: str = AT_TEN
) -> httpx.Response:
    return caller.post(
        "/api/mentalhealth/sessions",
        json={"patient_id": patient["id"], "therapist_id": therapist_id, "scheduled_at": at},
        headers={"X-Correlation-ID": CID},
    )


def _unknown_therapist(therapist_id: int) -> dict[str, Any]:
    return {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": f"Therapist {therapist_id} does not exist.",
        "instance": "/api/mentalhealth/sessions",
        "correlation_id": CID,
    }


def test_a_patient_booking_learns_nothing_of_who_has_a_therapist_id(
    aura_gateway: GatewayClient, people: dict[str, Any]
) -> None:
    """Nobody, another patient and a deactivated therapist: one answer, naming only the id
    the patient sent, so it cannot tell the accounts apart from ids that name nobody."""
    uma = people["uma"]["id"]
    deactivated = aura_gateway.as_operator().post(f"/api/users/users/{uma}/deactivate")
    assert deactivated.status_code == 200, deactivated.text
    pat = aura_gateway.as_user(people["pat"])
    nobody = _book_as(pat, people["pat"], MISSING_ID)
    assert (nobody.status_code, nobody.json()) == (404, _unknown_therapist(MISSING_ID))
    for therapist_id in (people["quinn"]["id"], uma):
        response = _book_as(pat, people["pat"], therapist_id)
        assert (response.status_code, response.json()) == (404, _unknown_therapist(therapist_id))
        same_bytes = nobody.content.replace(
            f"Therapist {MISSING_ID} ".encode(), f"Therapist {therapist_id} ".encode()
        )
        assert response.content == same_bytes
        assert response.headers["content-type"] == nobody.headers["content-type"]


def test_an_operator_is_told_that_the_therapist_is_inactive(
    aura_gateway: GatewayClient, people: dict[str, Any]
) -> None:
    """Operators get the seed's message; a user of another role is nobody's therapist, for
    operators too."""
    tess = people["tess"]["id"]
    operator = aura_gateway.as_operator()
    assert operator.post(f"/api/users/users/{tess}/deactivate").status_code == 200
    inactive = _book_as(operator, people["pat"], tess)
    assert (inactive.status_code, inactive.json()["detail"]) == (409, "Therapist is not active")
    patient = _book_as(operator, people["pat"], people["quinn"]["id"])
    assert (patient.status_code, patient.json()) == (404, _unknown_therapist(people["quinn"]["id"]))


def test_a_busy_therapist_does_not_reveal_the_other_patients_session(
    aura_gateway: GatewayClient, people: dict[str, Any]
) -> None:
    """The session in the way is another patient's: neither its id nor its time is told."""
    tess = people["tess"]["id"]
    theirs = _book_as(aura_gateway.as_operator(), people["quinn"], tess)
    assert theirs.status_code == 201, theirs.text
    response = _book_as(aura_gateway.as_user(people["pat"]), people["pat"], tess, AT_HALF_PAST_TEN)
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert detail == (
        f"Therapist {tess} is not free at 2030-01-07T10:30:00+00:00: another session is booked "
        "less than 50 minutes before or after it (sessions last 50 minutes). Choose another time."
    )
    assert f"session {theirs.json()['id']}" not in response.text
    assert "10:00" not in response.text  # in no format
    assert theirs.json()["scheduled_at"] not in response.text


# --- a therapist's patients ---------------------------------------------------------------------


def test_a_therapist_lists_their_own_patients_and_no_colleagues(
    aura_gateway: GatewayClient, people: dict[str, Any]
) -> None:
    book(aura_gateway, people["pat"], people["tess"])
    book(aura_gateway, people["quinn"], people["uma"])
    tess = aura_gateway.as_user(people["tess"])

    own = tess.get(f"/api/mentalhealth/therapists/{people['tess']['id']}/patients")
    assert own.status_code == 200, own.text
    assert own.json() == [
        {"id": people["pat"]["id"], "name": "Pat", "email": "pat@example.com", "active": True}
    ]
    colleagues = tess.get(f"/api/mentalhealth/therapists/{people['uma']['id']}/patients")
    missing = tess.get(f"/api/mentalhealth/therapists/{MISSING_ID}/patients")
    assert (colleagues.status_code, colleagues.json()["detail"]) == (404, HIDDEN)
    assert (missing.status_code, missing.json()["detail"]) == (404, HIDDEN)
    uma = aura_gateway.as_user(people["uma"])
    theirs = uma.get(f"/api/mentalhealth/therapists/{people['uma']['id']}/patients")
    assert [patient["email"] for patient in theirs.json()] == ["quinn@example.com"]


def test_a_patient_cannot_list_a_therapists_patients(
    aura_gateway: GatewayClient, people: dict[str, Any]
) -> None:
    book(aura_gateway, people["pat"], people["tess"])
    path = f"/api/mentalhealth/therapists/{people['tess']['id']}/patients"
    response = aura_gateway.as_user(people["quinn"]).get(path)
    assert response.status_code == 403
    assert response.json()["detail"] == (
        f"user 2 (patient) may not GET {path}: it needs the role 'therapist'; or it needs the "
        "role 'operator'."
    )


# --- the caller reaches the module --------------------------------------------------------------


def test_events_of_an_authenticated_request_carry_the_callers_user_id(
    aura_gateway: GatewayClient, people: dict[str, Any], published_events: PublishedEvents
) -> None:
    mark = published_events.mark()
    response = aura_gateway.as_user(people["pat"]).post(
        "/api/mentalhealth/sessions",
        json={
            "patient_id": people["pat"]["id"],
            "therapist_id": people["tess"]["id"],
            "scheduled_at": "2030-01-07T10:00:00+00:00",
        },
    )
    assert response.status_code == 201, response.text
    flow = published_events.since(mark)
    scheduled = flow.of_type("therapy_session.scheduled").one()
    assert scheduled.metadata["user_id"] == people["pat"]["id"]
    assert {event.metadata["user_id"] for event in flow} == {people["pat"]["id"]}  # and its effects


def test_events_of_a_service_token_carry_no_user_id(
    aura_gateway: GatewayClient, people: dict[str, Any], published_events: PublishedEvents
) -> None:
    registered = published_events.of_type("user.registered").first()  # by the operator service
    assert registered.metadata["user_id"] is None
