"""Who may call what: every route the gateway serves, by every caller, on their own object and on
another's, and the status each answers.

The table :data:`EXPECTED` is written out by hand, one line per cell, and
:func:`test_every_served_route_has_a_row_and_every_row_a_route` compares it with what the gateway
serves (its OpenAPI schema, plus the platform routes it keeps out of the schema): a new route
without a row fails the suite, and so does a row whose route is gone. Each cell is one test,
named ``<METHOD> <path> as <caller>[:own|:other]``, against real data set up through the gateway
(an operator registers five people and books two sessions).

A cell ``caller:own`` targets the caller's own object (their user id, a session they take part
in, a booking or plan for themselves); ``caller:other`` somebody else's. Where somebody else's
object is hidden (404), the answer must be the one a missing object gets: the test asks for a
nonexistent id too and compares the bodies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from aura.access import role
from aura.module import Module
from aura.platform import Platform
from aura.testing.http import Caller, GatewayClient
from aura.web import Gateway

CALLERS = ("anonymous", "patient", "other_patient", "therapist", "other_therapist", "operator")
"""Who calls: nobody, two patients, two therapists, and an operator (a person, with a user id)."""

PEOPLE = {  # registered in this order, so their ids are 1 to 5
    "patient": ("pat@example.com", "Pat Doe", "patient"),
    "other_patient": ("quinn@example.com", "Quinn Roe", "patient"),
    "therapist": ("dr.tess@example.com", "Dr Tess", "therapist"),
    "other_therapist": ("dr.uma@example.com", "Dr Uma", "therapist"),
    "operator": ("olga@example.com", "Olga Ops", "operator"),
}
PASSWORDS = {name: f"the {name.replace('_', ' ')} passphrase" for name in PEOPLE}
NEW_PASSWORD = "a brand new passphrase"
MISSING_ID = 999_999
"""An id that names nothing: another person's object must answer exactly like it."""

OTHER_USER = {
    "anonymous": "patient",
    "patient": "other_patient",
    "other_patient": "patient",
    "therapist": "patient",  # even the therapist's own patient: profiles are their owners'
    "other_therapist": "patient",
    "operator": "patient",
}
OTHER_THERAPIST = {"therapist": "other_therapist", "other_therapist": "therapist"}
"""Each therapist's colleague, whose patients are not theirs."""
SESSIONS = {"s1": ("patient", "therapist"), "s2": ("other_patient", "other_therapist")}
"""The two booked sessions: s1 between the patient and the therapist, s2 between the others."""
OWN_SESSION = {"patient": "s1", "therapist": "s1", "other_patient": "s2", "other_therapist": "s2"}

# --- the table ----------------------------------------------------------------------------------

Route = tuple[str, str]
PEOPLE_ONLY = ("patient", "other_patient", "therapist", "other_therapist")


def _everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(CALLERS, status)


EXPECTED: dict[Route, dict[str, int]] = {
    # --- the platform's own routes -----------------------------------------------------------
    ("GET", "/health"): _everyone(200),
    ("HEAD", "/health"): _everyone(200),
    ("GET", "/api/_modules"): {**_everyone(403), "anonymous": 401, "operator": 200},
    ("GET", "/metrics"): {**_everyone(403), "anonymous": 401, "operator": 200},
    ("GET", "/openapi.json"): {**_everyone(200), "anonymous": 401},
    # --- users ---------------------------------------------------------------------------------
    ("POST", "/api/users/token"): {
        "anonymous:own": 200,
        "anonymous:other": 401,
        "patient:own": 200,
        "patient:other": 401,
        "other_patient:own": 200,
        "other_patient:other": 401,
        "therapist:own": 200,
        "therapist:other": 401,
        "other_therapist:own": 200,
        "other_therapist:other": 401,
        "operator:own": 200,
        "operator:other": 401,
    },
    ("POST", "/api/users/users"): {**_everyone(403), "anonymous": 401, "operator": 201},
    ("GET", "/api/users/users/{user_id}"): {
        "anonymous": 401,
        "patient:own": 200,
        "patient:other": 404,
        "other_patient:own": 200,
        "other_patient:other": 404,
        "therapist:own": 200,
        "therapist:other": 404,
        "other_therapist:own": 200,
        "other_therapist:other": 404,
        "operator:own": 200,
        "operator:other": 200,
    },
    ("PATCH", "/api/users/users/{user_id}"): {
        "anonymous": 401,
        "patient:own": 200,
        "patient:other": 404,
        "other_patient:own": 200,
        "other_patient:other": 404,
        "therapist:own": 200,
        "therapist:other": 404,
        "other_therapist:own": 200,
        "other_therapist:other": 404,
        "operator:own": 200,
        "operator:other": 200,
    },
    ("PATCH", "/api/users/users/{user_id}/password"): {
        "anonymous": 401,
        "patient:own": 200,
        "patient:other": 404,
        "other_patient:own": 200,
        "other_patient:other": 404,
        "therapist:own": 200,
        "therapist:other": 404,
        "other_therapist:own": 200,
        "other_therapist:other": 404,
        "operator:own": 200,
        "operator:other": 200,
    },
    ("POST", "/api/users/users/{user_id}/deactivate"): {
        "anonymous": 401,
        "patient:own": 200,
        "patient:other": 404,
        "other_patient:own": 200,
        "other_patient:other": 404,
        "therapist:own": 200,
        "therapist:other": 404,
        "other_therapist:own": 200,
        "other_therapist:other": 404,
        "operator:own": 200,
        "operator:other": 200,
    },
    # --- mentalhealth --------------------------------------------------------------------------
    ("POST", "/api/mentalhealth/sessions"): {
        "anonymous": 401,
        "patient:own": 201,
        "patient:other": 403,
        "other_patient:own": 201,
        "other_patient:other": 403,
        "therapist:own": 201,
        "therapist:other": 403,
        "other_therapist:own": 201,
        "other_therapist:other": 403,
        "operator": 201,
    },
    ("GET", "/api/mentalhealth/sessions/{session_id}"): {
        "anonymous": 401,
        "patient:own": 200,
        "patient:other": 404,
        "other_patient:own": 200,
        "other_patient:other": 404,
        "therapist:own": 200,
        "therapist:other": 404,
        "other_therapist:own": 200,
        "other_therapist:other": 404,
        "operator": 200,
    },
    ("GET", "/api/mentalhealth/users/{user_id}/sessions"): {
        "anonymous": 401,
        "patient:own": 200,
        "patient:other": 404,
        "other_patient:own": 200,
        "other_patient:other": 404,
        "therapist:own": 200,
        "therapist:other": 404,
        "other_therapist:own": 200,
        "other_therapist:other": 404,
        "operator:own": 200,
        "operator:other": 200,
    },
    ("POST", "/api/mentalhealth/sessions/{session_id}/start"): {
        "anonymous": 401,
        "patient:own": 403,  # a participant, so no secret is kept: plainly refused
        "patient:other": 404,
        "other_patient:own": 403,
        "other_patient:other": 404,
        "therapist:own": 200,
        "therapist:other": 404,
        "other_therapist:own": 200,
        "other_therapist:other": 404,
        "operator": 200,
    },
    ("POST", "/api/mentalhealth/sessions/{session_id}/complete"): {
        "anonymous": 401,
        "patient:own": 403,
        "patient:other": 404,
        "other_patient:own": 403,
        "other_patient:other": 404,
        "therapist:own": 200,
        "therapist:other": 404,
        "other_therapist:own": 200,
        "other_therapist:other": 404,
        "operator": 200,
    },
    ("POST", "/api/mentalhealth/sessions/{session_id}/cancel"): {
        "anonymous": 401,
        "patient:own": 200,
        "patient:other": 404,
        "other_patient:own": 200,
        "other_patient:other": 404,
        "therapist:own": 200,
        "therapist:other": 404,
        "other_therapist:own": 200,
        "other_therapist:other": 404,
        "operator": 200,
    },
    ("GET", "/api/mentalhealth/therapists/{therapist_id}/patients"): {
        "anonymous": 401,
        "patient:own": 403,  # not a therapist: one plain refusal, whichever id is asked
        "patient:other": 403,
        "other_patient:own": 403,
        "other_patient:other": 403,
        "therapist:own": 200,
        "therapist:other": 404,  # a colleague's patients: answered as a missing id
        "other_therapist:own": 200,
        "other_therapist:other": 404,
        "operator:own": 200,  # nobody's therapist: an empty list
        "operator:other": 200,
    },
    # --- notifications -------------------------------------------------------------------------
    ("GET", "/api/notifications/users/{user_id}/notifications"): {
        "anonymous": 401,
        "patient:own": 200,
        "patient:other": 404,
        "other_patient:own": 200,
        "other_patient:other": 404,
        "therapist:own": 200,
        "therapist:other": 404,
        "other_therapist:own": 200,
        "other_therapist:other": 404,
        "operator:own": 200,
        "operator:other": 200,
    },
    # --- billing -------------------------------------------------------------------------------
    ("GET", "/api/billing/patients/{patient_id}/charges"): {
        "anonymous": 401,
        "patient:own": 200,
        "patient:other": 404,
        "other_patient:own": 200,
        "other_patient:other": 404,
        "therapist:own": 200,  # nobody's charges, but their own id
        "therapist:other": 404,
        "other_therapist:own": 200,
        "other_therapist:other": 404,
        "operator:own": 200,
        "operator:other": 200,
    },
    ("POST", "/api/billing/subscriptions"): {
        "anonymous": 401,
        "patient:own": 201,
        "patient:other": 403,  # a body field, not an object read: plainly refused
        "other_patient:own": 201,
        "other_patient:other": 403,
        "therapist:own": 201,
        "therapist:other": 403,
        "other_therapist:own": 201,
        "other_therapist:other": 403,
        "operator:own": 201,
        "operator:other": 201,
    },
}
"""Every route the gateway serves → every cell (caller, and whose object) → the status."""


# --- the data ------------------------------------------------------------------------------------


@dataclasses.dataclass
class World:
    """The gateway with five people and two sessions, and a way to call it as each caller."""

    client: GatewayClient
    users: dict[str, dict[str, Any]]
    sessions: dict[str, int]

    def caller(self, name: str) -> Caller:
        """The caller ``name`` (anonymous, or one of the people, with their token)."""
        if name == "anonymous":
            return self.client.anonymous()
        return self.client.as_user(self.users[name])

    def user_id(self, caller: str, scope: str) -> int:
        """The caller's own user id, or the id of the user whose data they reach for."""
        user_id: int = self.users[caller if scope == "own" else OTHER_USER[caller]]["id"]
        return user_id

    def session_id(self, caller: str, scope: str) -> int:
        """A session the caller takes part in (own), or one they do not (other)."""
        own = OWN_SESSION.get(caller, "s1")
        if scope == "other":
            own = "s2" if own == "s1" else "s1"
        return self.sessions[own]


# Version 1 of the users API (``full_name`` for ``name``) is the same route behind the same rule.
EXPECTED.update(
    {
        ("POST", "/api/v1/users/users"): EXPECTED[("POST", "/api/users/users")],
        ("GET", "/api/v1/users/users/{user_id}"): EXPECTED[("GET", "/api/users/users/{user_id}")],
        ("PATCH", "/api/v1/users/users/{user_id}"): EXPECTED[
            ("PATCH", "/api/users/users/{user_id}")
        ],
    }
)


def build_world(client: GatewayClient, *, passwords: bool) -> World:
    """Register the people and book the sessions through the gateway, as an operator service.

    Passwords only when the route needs them: Argon2 is slow on purpose.
    """
    setup = client.as_operator("matrix-setup")
    users = {}
    for name, (email, full_name, kind) in PEOPLE.items():
        body = {"email": email, "name": full_name, "role": kind}
        if passwords:
            body["password"] = PASSWORDS[name]
        response = setup.post("/api/users/users", json=body)
        assert response.status_code == 201, response.text
        users[name] = response.json()
    sessions = {}
    for days, (label, (patient, therapist)) in enumerate(SESSIONS.items(), start=1):
        response = setup.post(
            "/api/mentalhealth/sessions",
            json={
                "patient_id": users[patient]["id"],
                "therapist_id": users[therapist]["id"],
                # Minutes ahead: a therapist may start a session from 15 minutes before.
                "scheduled_at": _minutes_ahead(5 * days),
            },
        )
        assert response.status_code == 201, response.text
        sessions[label] = response.json()["id"]
    return World(client, users, sessions)


def _minutes_ahead(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).replace(microsecond=0).isoformat()


def _days_ahead(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


# --- the requests of each route ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Request:
    """One request of a cell: its path, its body, and the same request for a missing object."""

    path: str
    json: Any = None
    missing: str | None = None


Build = Callable[[World, str, str], Request]


def _plain(path: str, json: Any = None) -> Build:
    return lambda world, caller, scope: Request(path, json)


def _of_user(template: str, body: Callable[[str, str], Any] = lambda caller, scope: None) -> Build:
    """A route naming a user in its path (``{user_id}`` or ``{patient_id}``)."""

    def build(world: World, caller: str, scope: str) -> Request:
        name = template[template.index("{") : template.index("}") + 1]
        return Request(
            template.replace(name, str(world.user_id(caller, scope))),
            body(caller, scope),
            template.replace(name, str(MISSING_ID)),
        )

    return build


def _of_session(template: str, json: Any = None) -> Build:
    """A route naming a session in its path."""

    def build(world: World, caller: str, scope: str) -> Request:
        return Request(
            template.format(session_id=world.session_id(caller, scope)),
            json,
            template.format(session_id=MISSING_ID),
        )

    return build


def _of_therapist(template: str) -> Build:
    """A route naming a therapist in its path: own, the caller's id; other, a therapist's who is
    not the caller (a therapist's colleague; anyone else's own therapist)."""

    def build(world: World, caller: str, scope: str) -> Request:
        whose = caller if scope == "own" else OTHER_THERAPIST.get(caller, "therapist")
        return Request(
            template.format(therapist_id=world.users[whose]["id"]),
            missing=template.format(therapist_id=MISSING_ID),
        )

    return build


def _login(world: World, caller: str, scope: str) -> Request:
    """Own: the caller's own credentials (anonymous: the patient's); other: another's email
    with the caller's password, as someone guessing would."""
    me = "patient" if caller == "anonymous" else caller
    email = world.users[me if scope == "own" else OTHER_USER[me]]["email"]
    return Request("/api/users/token", {"email": email, "password": PASSWORDS[me]})


def _password_change(caller: str, scope: str) -> dict[str, str]:
    """The caller's own current password, except for an operator setting someone else's."""
    if caller == "operator" and scope == "other":
        return {"new_password": NEW_PASSWORD}
    current = PASSWORDS.get(caller, "a guessed passphrase")  # anonymous can only guess
    return {"current_password": current, "new_password": NEW_PASSWORD}


def _booking(world: World, caller: str, scope: str) -> Request:
    """Own: a patient books for themselves, a therapist with themselves; other: for another."""
    patient, therapist = "patient", "therapist"
    if caller in ("patient", "other_patient"):
        patient = caller if scope == "own" else OTHER_USER[caller]
    elif caller in ("therapist", "other_therapist"):
        therapist = caller if scope == "own" else OTHER_THERAPIST[caller]
        # A therapist books with a patient they already see (their session of SESSIONS).
        patient = {"therapist": "patient", "other_therapist": "other_patient"}[caller]
    body = {
        "patient_id": world.users[patient]["id"],
        "therapist_id": world.users[therapist]["id"],
        "scheduled_at": _days_ahead(5),
    }
    return Request("/api/mentalhealth/sessions", body)


def _subscription(world: World, caller: str, scope: str) -> Request:
    return Request(
        "/api/billing/subscriptions", {"user_id": world.user_id(caller, scope), "plan": "basic"}
    )


def _start_both_sessions(world: World) -> None:
    setup = world.client.as_operator("matrix-setup")
    for session_id in world.sessions.values():
        started = setup.post(f"/api/mentalhealth/sessions/{session_id}/start")
        assert started.status_code == 200, started.text


NEW_USER = {"email": "new@example.com", "name": "New Person", "role": "patient"}
REQUESTS: dict[Route, Build] = {
    ("GET", "/health"): _plain("/health"),
    ("HEAD", "/health"): _plain("/health"),
    ("GET", "/api/_modules"): _plain("/api/_modules"),
    ("GET", "/metrics"): _plain("/metrics"),
    ("GET", "/openapi.json"): _plain("/openapi.json"),
    ("POST", "/api/users/token"): _login,
    ("POST", "/api/users/users"): _plain("/api/users/users", NEW_USER),
    ("GET", "/api/users/users/{user_id}"): _of_user("/api/users/users/{user_id}"),
    ("PATCH", "/api/users/users/{user_id}"): _of_user(
        "/api/users/users/{user_id}", lambda caller, scope: {"name": "Renamed Person"}
    ),
    ("PATCH", "/api/users/users/{user_id}/password"): _of_user(
        "/api/users/users/{user_id}/password", _password_change
    ),
    ("POST", "/api/v1/users/users"): _plain(
        "/api/v1/users/users",
        {"full_name" if key == "name" else key: value for key, value in NEW_USER.items()},
    ),
    ("GET", "/api/v1/users/users/{user_id}"): _of_user("/api/v1/users/users/{user_id}"),
    ("PATCH", "/api/v1/users/users/{user_id}"): _of_user(
        "/api/v1/users/users/{user_id}", lambda caller, scope: {"full_name": "Renamed Person"}
    ),
    ("POST", "/api/users/users/{user_id}/deactivate"): _of_user(
        "/api/users/users/{user_id}/deactivate"
    ),
    ("POST", "/api/mentalhealth/sessions"): _booking,
    ("GET", "/api/mentalhealth/sessions/{session_id}"): _of_session(
        "/api/mentalhealth/sessions/{session_id}"
    ),
    ("GET", "/api/mentalhealth/users/{user_id}/sessions"): _of_user(
        "/api/mentalhealth/users/{user_id}/sessions"
    ),
    ("POST", "/api/mentalhealth/sessions/{session_id}/start"): _of_session(
        "/api/mentalhealth/sessions/{session_id}/start"
    ),
    ("POST", "/api/mentalhealth/sessions/{session_id}/complete"): _of_session(
        "/api/mentalhealth/sessions/{session_id}/complete"
    ),
    ("POST", "/api/mentalhealth/sessions/{session_id}/cancel"): _of_session(
        "/api/mentalhealth/sessions/{session_id}/cancel", {"reason": "patient request"}
    ),
    ("GET", "/api/mentalhealth/therapists/{therapist_id}/patients"): _of_therapist(
        "/api/mentalhealth/therapists/{therapist_id}/patients"
    ),
    ("GET", "/api/notifications/users/{user_id}/notifications"): _of_user(
        "/api/notifications/users/{user_id}/notifications"
    ),
    ("GET", "/api/billing/patients/{patient_id}/charges"): _of_user(
        "/api/billing/patients/{patient_id}/charges"
    ),
    ("POST", "/api/billing/subscriptions"): _subscription,
}
"""How each route is called for a cell."""

PREPARE: dict[Route, Callable[[World], None]] = {
    ("POST", "/api/mentalhealth/sessions/{session_id}/complete"): _start_both_sessions,
}
"""What a route needs beyond the common data (only a started session can be completed)."""
NEEDS_PASSWORDS = {("POST", "/api/users/token"), ("PATCH", "/api/users/users/{user_id}/password")}


# --- the tests -----------------------------------------------------------------------------------


def served_routes(gateway: Gateway) -> set[Route]:
    """Every (method, path) the gateway answers: its OpenAPI schema and its other routes."""
    schema = gateway.app.openapi()
    routes = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
    }
    for route in gateway.app.routes:
        for method in getattr(route, "methods", None) or ():
            routes.add((method, route.path))  # type: ignore[attr-defined]
    return routes


def rows_missing(gateway: Gateway) -> list[Route]:
    """The routes ``gateway`` serves that :data:`EXPECTED` has no row for."""
    return sorted(served_routes(gateway) - EXPECTED.keys())


def test_every_served_route_has_a_row_and_every_row_a_route(aura_gateway: GatewayClient) -> None:
    missing = rows_missing(aura_gateway.gateway)
    assert not missing, (
        f"Routes without a row in EXPECTED: {missing}. Give each an access rule and write what "
        "every caller gets, own object and another's, in tests/integration/test_access_matrix.py."
    )
    stale = sorted(EXPECTED.keys() - served_routes(aura_gateway.gateway))
    assert not stale, f"Rows for routes the gateway no longer serves: {stale}."
    assert REQUESTS.keys() == EXPECTED.keys()


def test_a_new_route_without_a_row_is_caught(aura_platform: Platform) -> None:
    extra = Module("extra")

    @extra.route("GET", "/reports/{report_id}", allow=role("operator"))
    def report(report_id: int) -> dict[str, int]:
        return {"id": report_id}

    @extra.route("POST", "/hidden", allow=role("operator"), include_in_schema=False)
    def hidden() -> None:
        """Out of the schema, still served: the matrix sees it too."""

    with Platform([*aura_platform.modules.values(), extra]) as platform:
        client = GatewayClient(platform)
        try:
            assert rows_missing(client.gateway) == [
                ("GET", "/api/extra/reports/{report_id}"),
                ("POST", "/api/extra/hidden"),
            ]
        finally:
            client.close()


@pytest.mark.parametrize("route", list(EXPECTED), ids=" ".join)
def test_each_row_names_every_caller_once(route: Route) -> None:
    cells = EXPECTED[route]
    for caller in CALLERS:
        bare = caller in cells
        paired = f"{caller}:own" in cells and f"{caller}:other" in cells
        assert bare != paired, f"{' '.join(route)}: give {caller} one cell, or :own and :other"
    named = {cell.partition(":")[0] for cell in cells}
    assert named == set(CALLERS), f"{' '.join(route)}: unknown callers {named - set(CALLERS)}"


CELLS = [(route, cell) for route, cells in EXPECTED.items() for cell in cells]


@pytest.mark.parametrize(
    ("route", "cell"), CELLS, ids=[f"{' '.join(route)} as {cell}" for route, cell in CELLS]
)
def test_the_route_answers_the_caller_as_the_table_says(
    aura_gateway: GatewayClient, route: Route, cell: str
) -> None:
    world = build_world(aura_gateway, passwords=route in NEEDS_PASSWORDS)
    if route in PREPARE:
        PREPARE[route](world)
    caller, _, scope = cell.partition(":")
    # One cell for the caller: anonymous reaches for the patient's object, anyone else their own.
    request = REQUESTS[route](world, caller, scope or ("other" if caller == "anonymous" else "own"))
    method = route[0]
    response = world.caller(caller).request(method, request.path, json=request.json)
    expected = EXPECTED[route][cell]
    assert response.status_code == expected, (
        f"{method} {request.path} as {cell}: expected {expected}, got {response.status_code}: "
        f"{response.text}"
    )
    if expected >= 400:
        assert response.headers["content-type"] == "application/problem+json", response.text
    if expected == 401:
        assert response.headers["www-authenticate"].startswith('Bearer realm="aura"')
    if expected == 404 and request.missing is not None:
        _assert_indistinguishable(world.caller(caller), method, request, response)


def _assert_indistinguishable(
    caller: Caller, method: str, request: Request, hidden: httpx.Response
) -> None:
    """Another's object answers exactly as a missing one does (but for the path itself)."""
    assert request.missing is not None
    missing = caller.request(method, request.missing, json=request.json)
    assert missing.status_code == 404, missing.text

    def comparable(response: httpx.Response) -> dict[str, Any]:
        body: dict[str, Any] = response.json()
        return {k: v for k, v in body.items() if k not in ("instance", "correlation_id")}

    assert comparable(hidden) == comparable(missing)
    assert comparable(hidden)["detail"] == (
        "Nothing here that you may see: it does not exist, or it is not yours."
    )
