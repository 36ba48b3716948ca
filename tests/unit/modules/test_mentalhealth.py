"""The mentalhealth module: scheduling, running and cancelling therapy sessions.

The platform is the harness's: mentalhealth alone, its users dependency a recording stand-in,
overridden by the FakeUserService declared here, which keeps users in a dict and records every call
the mentalhealth module makes to it through the registry. Time is frozen at NOW for every test.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from aura.events import Event, thaw_json
from aura.platform import Platform
from aura.testing import FrozenClock, Overrides, PublishedEvents
from contracts.errors import BusinessRuleError, NotFoundError
from contracts.mentalhealth import TherapySessionContract
from contracts.users import UserServiceContract
from modules import mentalhealth
from modules.mentalhealth.application import TherapySessionService
from modules.mentalhealth.domain import ParticipantError

NOW = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
AT_TEN = datetime(2030, 1, 7, 10, 0, tzinfo=UTC)
PATIENT, OTHER_PATIENT, INACTIVE_PATIENT = 7, 8, 9
THERAPIST, OTHER_THERAPIST, INACTIVE_THERAPIST = 3, 4, 5


def _user(user_id: int, role: str, *, active: bool = True) -> dict[str, Any]:
    return {
        "id": user_id,
        "email": f"user{user_id}@example.com",
        "name": f"User {user_id}",
        "role": role,
        "active": active,
    }


USERS = [
    _user(PATIENT, "patient"),
    _user(OTHER_PATIENT, "patient"),
    _user(INACTIVE_PATIENT, "patient", active=False),
    _user(THERAPIST, "therapist"),
    _user(OTHER_THERAPIST, "therapist"),
    _user(INACTIVE_THERAPIST, "therapist", active=False),
]


class FakeUserService(UserServiceContract):
    """The users module's service, in memory; ``calls`` records what was asked of it."""

    def __init__(self, users: list[dict[str, Any]]) -> None:
        self.users = {user["id"]: dict(user) for user in users}
        self.calls: list[tuple[str, int]] = []

    def register_user(self, email: str, name: str, role: str) -> dict[str, Any]:
        user = {"id": max(self.users) + 1, "email": email, "name": name, "role": role}
        self.users[user["id"]] = {**user, "active": True}
        return self.users[user["id"]]

    def get_user_by_id(self, user_id: int) -> dict[str, Any] | None:
        self.calls.append(("get_user_by_id", user_id))
        return self.users.get(user_id)

    def get_user_profile(self, user_id: int) -> dict[str, Any]:
        self.calls.append(("get_user_profile", user_id))
        return self.users[user_id]

    def is_user_active(self, user_id: int) -> bool:
        self.calls.append(("is_user_active", user_id))
        user = self.users.get(user_id)
        return user is not None and bool(user["active"])

    def update_profile(
        self, user_id: int, *, name: str | None = None, email: str | None = None
    ) -> dict[str, Any]:
        changes = {"name": name, "email": email}
        self.users[user_id].update({k: v for k, v in changes.items() if v is not None})
        return self.users[user_id]

    def deactivate_user(self, user_id: int) -> dict[str, Any]:
        self.users[user_id]["active"] = False
        return self.users[user_id]


pytestmark = pytest.mark.aura_platform("mentalhealth", mode="standalone")


@pytest.fixture(autouse=True)
def clock(frozen_time: FrozenClock) -> FrozenClock:
    """Time frozen at NOW, before anything else of the test is built."""
    frozen_time.move_to(NOW)
    return frozen_time


@pytest.fixture
def users() -> FakeUserService:
    return FakeUserService(USERS)


@pytest.fixture
def platform(aura_platform: Platform, override: Overrides, users: FakeUserService) -> Platform:
    """The harness's platform of mentalhealth, whose users service is ``users``."""
    override("users", "UserService", users)
    return aura_platform


@pytest.fixture
def service(platform: Platform) -> TherapySessionContract:
    service: TherapySessionContract = platform.registry.get_service(
        "mentalhealth", "TherapySessionService"
    )
    return service


def plain(events: Iterable[Event]) -> list[tuple[str, dict[str, Any]]]:
    """The events as (type, plain data), to compare whole."""
    return [(event.event_type, thaw_json(event.data)) for event in events]


def _rows(platform: Platform) -> list[dict[str, Any]]:
    rows = platform.database.query("SELECT * FROM mentalhealth_sessions ORDER BY id")
    return [dict(row) for row in rows]


def _book(
    service: TherapySessionContract,
    at: datetime = AT_TEN,
    *,
    patient_id: int = PATIENT,
    therapist_id: int = THERAPIST,
) -> dict[str, Any]:
    return service.schedule_session(patient_id, therapist_id, at)


def _deactivate(platform: Platform, user_id: int, role: str) -> None:
    data = {"user_id": user_id, "role": role, "deactivated_at": NOW.isoformat()}
    platform.bus.publish("user.deactivated", data, "users")


# --- the module's declaration --------------------------------------------------------------------


def test_the_module_depends_on_users_and_declares_its_events() -> None:
    module = mentalhealth.module
    assert (module.name, module.depends_on) == ("mentalhealth", ("users",))
    assert module.published == [
        "therapy_session.scheduled",
        "therapy_session.started",
        "therapy_session.completed",
        "therapy_session.cancelled",
    ]


def test_starting_the_platform_creates_the_sessions_table(platform: Platform) -> None:
    assert _rows(platform) == []


# --- scheduling ----------------------------------------------------------------------------------


def test_scheduling_stores_and_returns_the_session(
    platform: Platform, service: TherapySessionContract
) -> None:
    session = service.schedule_session(PATIENT, THERAPIST, AT_TEN, "couples")

    assert session == {
        "id": 1,
        "patient_id": PATIENT,
        "therapist_id": THERAPIST,
        "scheduled_at": "2030-01-07T10:00:00+00:00",
        "session_type": "couples",
        "status": "scheduled",
        "cancel_reason": None,
    }
    assert _rows(platform) == [session]
    assert service.get_session(1) == session


def test_scheduling_publishes_the_seeds_event_with_the_session_type_and_duration(
    service: TherapySessionContract, published_events: PublishedEvents
) -> None:
    _book(service)

    assert plain(published_events) == [
        (
            "therapy_session.scheduled",
            {
                "session_id": 1,
                "patient_id": PATIENT,
                "therapist_id": THERAPIST,
                "scheduled_at": "2030-01-07T10:00:00+00:00",
                "duration_minutes": 50,  # version 2 of the contract
                "session_type": "individual",
            },
        )
    ]
    assert published_events[0].source_module == "mentalhealth"
    assert published_events[0].version == 2


def test_scheduling_asks_the_user_service_about_both_users(
    service: TherapySessionContract, users: FakeUserService
) -> None:
    _book(service)

    assert users.calls == [
        ("get_user_by_id", PATIENT),
        ("is_user_active", PATIENT),
        ("get_user_by_id", THERAPIST),
        ("is_user_active", THERAPIST),
    ]


def test_the_users_service_is_looked_up_per_booking_so_a_later_replacement_is_asked(
    platform: Platform, service: TherapySessionContract, users: FakeUserService
) -> None:
    _book(service)
    stand_in = FakeUserService(USERS)

    with platform.registry.override("users", "UserService", stand_in):
        _book(service, AT_TEN + timedelta(hours=2))

    assert len(users.calls) == 4
    assert [name for name, _ in stand_in.calls] == [
        "get_user_by_id",
        "is_user_active",
        "get_user_by_id",
        "is_user_active",
    ]


@pytest.mark.parametrize("session_type", ["individual", "couples", "group"])
def test_each_session_type_can_be_booked(
    service: TherapySessionContract, session_type: str
) -> None:
    session = service.schedule_session(PATIENT, THERAPIST, AT_TEN, session_type)
    assert session["session_type"] == session_type


def test_a_time_in_another_zone_is_stored_in_utc(service: TherapySessionContract) -> None:
    noon_in_paris = datetime(2030, 1, 7, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert _book(service, noon_in_paris)["scheduled_at"] == "2030-01-07T10:00:00+00:00"


REFUSALS = [
    pytest.param(
        {"patient_id": 99}, NotFoundError, "Patient 99 does not exist.", id="unknown-patient"
    ),
    pytest.param(
        {"therapist_id": 99}, NotFoundError, "Therapist 99 does not exist.", id="unknown-therapist"
    ),
    # A user of another role is answered as nobody: the booker learns nothing of the account.
    pytest.param(
        {"patient_id": THERAPIST}, NotFoundError, "Patient 3 does not exist.", id="not-patient"
    ),
    pytest.param(
        {"therapist_id": PATIENT}, NotFoundError, "Therapist 7 does not exist.", id="not-therapist"
    ),
    pytest.param(
        {"patient_id": INACTIVE_PATIENT},
        BusinessRuleError,
        "Patient is not active",
        id="inactive-patient",
    ),
    pytest.param(
        {"therapist_id": INACTIVE_THERAPIST},
        BusinessRuleError,
        "Therapist is not active",
        id="inactive-therapist",
    ),
    pytest.param(
        {"scheduled_at": datetime(2020, 1, 1, 10, 0, tzinfo=UTC)},
        BusinessRuleError,
        "Sessions must be scheduled in the future; 2020-01-01T10:00:00+00:00 is in the past.",
        id="past",
    ),
    pytest.param(
        {"scheduled_at": NOW},
        BusinessRuleError,
        "Sessions must be scheduled in the future; 2030-01-01T09:00:00+00:00 is in the past.",
        id="now",
    ),
    pytest.param(
        {"scheduled_at": datetime(2030, 1, 7, 10, 0)},
        BusinessRuleError,
        "scheduled_at must include a timezone, e.g. 2030-01-07T10:00:00+00:00.",
        id="naive",
    ),
    pytest.param(
        {"session_type": "family"},
        BusinessRuleError,
        "Unknown session type 'family'; choose one of: individual, couples, group.",
        id="unknown-type",
    ),
    pytest.param(
        {"scheduled_at": "2030-01-07T10:00:00+00:00"},
        TypeError,
        "scheduled_at must be a datetime, got str ('2030-01-07T10:00:00+00:00'). Pass e.g. "
        "datetime.fromisoformat('2030-01-07T10:00:00+00:00').",
        id="not-a-datetime",
    ),
]


@pytest.mark.parametrize(("change", "error", "message"), REFUSALS)
def test_a_refused_booking_writes_and_publishes_nothing(
    platform: Platform,
    service: TherapySessionContract,
    published_events: PublishedEvents,
    change: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    request: dict[str, Any] = {
        "patient_id": PATIENT,
        "therapist_id": THERAPIST,
        "scheduled_at": AT_TEN,
        "session_type": "individual",
    }

    with pytest.raises(error) as caught:
        service.schedule_session(**{**request, **change})

    assert str(caught.value) == message
    assert _rows(platform) == []
    assert published_events.types() == []


@pytest.mark.parametrize(
    ("change", "error", "role", "user_id"),
    [
        ({"therapist_id": 99}, NotFoundError, "therapist", 99),
        ({"therapist_id": PATIENT}, NotFoundError, "therapist", PATIENT),
        ({"therapist_id": INACTIVE_THERAPIST}, BusinessRuleError, "therapist", INACTIVE_THERAPIST),
        ({"patient_id": INACTIVE_PATIENT}, BusinessRuleError, "patient", INACTIVE_PATIENT),
    ],
    ids=["unknown", "another-role", "inactive", "inactive-patient"],
)
def test_a_participant_refusal_says_whose_it_is(
    service: TherapySessionContract,
    change: dict[str, int],
    error: type[Exception],
    role: str,
    user_id: int,
) -> None:
    """The HTTP route reads who failed to hide another person's account from the booker."""
    request: dict[str, Any] = {
        "patient_id": PATIENT,
        "therapist_id": THERAPIST,
        "scheduled_at": AT_TEN,
    }

    with pytest.raises(ParticipantError) as caught:
        service.schedule_session(**{**request, **change})

    assert isinstance(caught.value, error)
    assert (caught.value.role, caught.value.user_id) == (role, user_id)


def test_the_request_is_checked_before_the_user_service_is_asked(
    service: TherapySessionContract, users: FakeUserService
) -> None:
    with pytest.raises(BusinessRuleError):
        service.schedule_session(PATIENT, THERAPIST, AT_TEN, "family")
    assert users.calls == []


def test_an_unknown_patient_stops_before_the_therapist_is_looked_up(
    service: TherapySessionContract, users: FakeUserService
) -> None:
    with pytest.raises(NotFoundError):
        _book(service, patient_id=99)
    assert users.calls == [("get_user_by_id", 99)]


# --- double booking ------------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", [-49, 0, 30, 49])
def test_an_overlapping_session_of_the_same_therapist_is_refused(
    platform: Platform,
    service: TherapySessionContract,
    published_events: PublishedEvents,
    minutes: int,
) -> None:
    first = _book(service)
    asked = AT_TEN + timedelta(minutes=minutes)

    with pytest.raises(BusinessRuleError) as caught:
        _book(service, asked, patient_id=OTHER_PATIENT)

    assert str(caught.value) == (
        f"Therapist 3 is not free at {asked.isoformat()}: another session is booked less than "
        "50 minutes before or after it (sessions last 50 minutes). Choose another time."
    )
    assert _rows(platform) == [first]
    assert [name for name, _ in plain(published_events)] == ["therapy_session.scheduled"]


@pytest.mark.parametrize("minutes", [-50, 50])
def test_back_to_back_sessions_are_allowed(service: TherapySessionContract, minutes: int) -> None:
    _book(service)
    later = _book(service, AT_TEN + timedelta(minutes=minutes), patient_id=OTHER_PATIENT)
    assert later["status"] == "scheduled"


def test_another_therapist_can_be_booked_at_the_same_time(service: TherapySessionContract) -> None:
    _book(service)
    assert _book(service, therapist_id=OTHER_THERAPIST)["id"] == 2


def test_a_cancelled_session_frees_the_therapist(service: TherapySessionContract) -> None:
    service.cancel_session(_book(service)["id"], "patient request")
    assert _book(service, patient_id=OTHER_PATIENT)["id"] == 2


def test_a_session_in_progress_keeps_the_therapist_busy(service: TherapySessionContract) -> None:
    service.start_session(_book(service)["id"])

    with pytest.raises(BusinessRuleError) as caught:
        _book(service, AT_TEN + timedelta(minutes=20), patient_id=OTHER_PATIENT)

    assert str(caught.value).startswith("Therapist 3 is not free at 2030-01-07T10:20:00+00:00: ")


def test_an_overlap_names_neither_the_other_session_nor_its_time(
    service: TherapySessionContract,
) -> None:
    """The session in the way is another patient's: its id and time are theirs."""
    theirs = _book(service, AT_TEN + timedelta(minutes=7), patient_id=OTHER_PATIENT)

    with pytest.raises(BusinessRuleError) as caught:
        _book(service, AT_TEN + timedelta(minutes=30))

    assert f"session {theirs['id']}" not in str(caught.value)
    assert "10:07" not in str(caught.value)


# --- running a session ---------------------------------------------------------------------------


def test_starting_a_scheduled_session_publishes_started(
    platform: Platform,
    service: TherapySessionContract,
    published_events: PublishedEvents,
    clock: FrozenClock,
) -> None:
    session_id = _book(service)["id"]
    clock.move_to(AT_TEN)

    started = service.start_session(session_id)

    assert started["status"] == "in_progress"
    assert _rows(platform)[0]["status"] == "in_progress"
    assert plain(published_events)[-1] == (
        "therapy_session.started",
        {
            "session_id": 1,
            "patient_id": PATIENT,
            "therapist_id": THERAPIST,
            "started_at": "2030-01-07T10:00:00+00:00",
        },
    )


def test_completing_a_session_in_progress_publishes_completed(
    platform: Platform,
    service: TherapySessionContract,
    published_events: PublishedEvents,
    clock: FrozenClock,
) -> None:
    session_id = _book(service)["id"]
    service.start_session(session_id)
    clock.move_to(AT_TEN + timedelta(minutes=50))

    completed = service.complete_session(session_id)

    assert completed["status"] == "completed"
    assert _rows(platform)[0]["status"] == "completed"
    assert plain(published_events)[-1] == (
        "therapy_session.completed",
        {
            "session_id": 1,
            "patient_id": PATIENT,
            "therapist_id": THERAPIST,
            "completed_at": "2030-01-07T10:50:00+00:00",
        },
    )


def test_cancelling_a_scheduled_session_records_the_reason(
    platform: Platform, service: TherapySessionContract, published_events: PublishedEvents
) -> None:
    session_id = _book(service)["id"]

    cancelled = service.cancel_session(session_id, "  patient request ")

    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "patient request")
    assert _rows(platform) == [cancelled]
    assert plain(published_events)[-1] == (
        "therapy_session.cancelled",
        {
            "session_id": 1,
            "patient_id": PATIENT,
            "therapist_id": THERAPIST,
            "reason": "patient request",
            "cancelled_at": "2030-01-01T09:00:00+00:00",
        },
    )


def _into(service: TherapySessionContract, status: str) -> int:
    session_id = int(_book(service)["id"])
    if status == "cancelled":
        service.cancel_session(session_id, "patient request")
    if status in ("in_progress", "completed"):
        service.start_session(session_id)
    if status == "completed":
        service.complete_session(session_id)
    return session_id


@pytest.mark.parametrize(
    ("status", "action", "message"),
    [
        ("completed", "start", "Session 1 is completed; only a scheduled session can be started."),
        (
            "in_progress",
            "start",
            "Session 1 is in progress; only a scheduled session can be started.",
        ),
        ("cancelled", "start", "Session 1 is cancelled; only a scheduled session can be started."),
        (
            "scheduled",
            "complete",
            "Session 1 is scheduled; only an in-progress session can be completed.",
        ),
        (
            "completed",
            "complete",
            "Session 1 is completed; only an in-progress session can be completed.",
        ),
        (
            "in_progress",
            "cancel",
            "Session 1 is in progress; only a scheduled session can be cancelled.",
        ),
        (
            "cancelled",
            "cancel",
            "Session 1 is cancelled; only a scheduled session can be cancelled.",
        ),
    ],
)
def test_an_invalid_transition_changes_and_publishes_nothing(
    platform: Platform,
    service: TherapySessionContract,
    published_events: PublishedEvents,
    status: str,
    action: str,
    message: str,
) -> None:
    session_id = _into(service, status)
    rows, published = _rows(platform), len(published_events)
    attempts = {
        "start": lambda: service.start_session(session_id),
        "complete": lambda: service.complete_session(session_id),
        "cancel": lambda: service.cancel_session(session_id, "changed my mind"),
    }

    with pytest.raises(BusinessRuleError) as caught:
        attempts[action]()

    assert str(caught.value) == message
    assert _rows(platform) == rows
    assert len(published_events) == published


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_cancellation_needs_a_reason(
    platform: Platform,
    service: TherapySessionContract,
    published_events: PublishedEvents,
    reason: str,
) -> None:
    session = _book(service)

    with pytest.raises(BusinessRuleError) as caught:
        service.cancel_session(session["id"], reason)

    assert str(caught.value) == (
        f"Cancelling session 1 needs a reason, e.g. 'patient request'; got {reason!r}."
    )
    assert _rows(platform) == [session]
    assert len(published_events) == 1


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("sorry.\n\nURGENT: pay now at http://evil.example/pay", "000A"),
        ("ill\u202eevil", "202E"),
        ("ill\x00", "0000"),
    ],
)
def test_a_reason_with_a_control_character_is_refused(
    platform: Platform,
    service: TherapySessionContract,
    published_events: PublishedEvents,
    reason: str,
    code: str,
) -> None:
    session = _book(service)

    with pytest.raises(BusinessRuleError) as caught:
        service.cancel_session(session["id"], reason)

    assert str(caught.value) == (
        f"The reason for cancelling session 1 holds the control character U+{code}: a reason "
        "is printable text on one line; remove it."
    )
    assert _rows(platform) == [session]
    assert len(published_events) == 1  # the booking's alone: no cancellation, no e-mail


@pytest.mark.parametrize("action", ["start_session", "complete_session", "cancel_session"])
def test_an_unknown_session_is_not_found(
    service: TherapySessionContract, published_events: PublishedEvents, action: str
) -> None:
    arguments = (42, "patient request") if action == "cancel_session" else (42,)

    with pytest.raises(NotFoundError) as caught:
        getattr(service, action)(*arguments)

    assert str(caught.value) == "Session 42 does not exist."
    assert published_events.types() == []


def test_getting_an_unknown_session_returns_none(service: TherapySessionContract) -> None:
    assert service.get_session(42) is None


# --- listing -------------------------------------------------------------------------------------


def test_a_users_sessions_are_listed_oldest_first(service: TherapySessionContract) -> None:
    later = _book(service, AT_TEN + timedelta(days=1))
    earlier = _book(service, AT_TEN, therapist_id=OTHER_THERAPIST)
    _book(service, AT_TEN, patient_id=OTHER_PATIENT)

    assert service.list_sessions(PATIENT) == [earlier, later]
    assert [s["id"] for s in service.list_sessions(THERAPIST)] == [3, 1]
    assert service.list_sessions(99) == []


# --- a therapist's patients ---------------------------------------------------------------------


@pytest.fixture
def therapy(platform: Platform) -> TherapySessionService:
    """The service itself, for listing patients: the module's own use case, not the contract's.

    Bookings still go through ``service``, the registry's proxy, which publishes as the module.
    """
    service: TherapySessionService = platform.container.resolve(TherapySessionService)
    return service


def _patient(user_id: int, *, active: bool = True) -> dict[str, Any]:
    return {
        "id": user_id,
        "name": f"User {user_id}",
        "email": f"user{user_id}@example.com",
        "active": active,
    }


def test_a_therapists_patients_are_those_of_their_sessions_once_each_by_id(
    service: TherapySessionContract, therapy: TherapySessionService
) -> None:
    _book(service, AT_TEN, patient_id=OTHER_PATIENT)
    _book(service, AT_TEN + timedelta(hours=2))
    _book(service, AT_TEN + timedelta(hours=4), patient_id=OTHER_PATIENT)

    assert therapy.list_patients(THERAPIST) == [_patient(PATIENT), _patient(OTHER_PATIENT)]


def test_a_therapists_patients_leave_out_another_therapists(
    service: TherapySessionContract, therapy: TherapySessionService
) -> None:
    _book(service)
    _book(service, patient_id=OTHER_PATIENT, therapist_id=OTHER_THERAPIST)

    assert therapy.list_patients(THERAPIST) == [_patient(PATIENT)]
    assert therapy.list_patients(OTHER_THERAPIST) == [_patient(OTHER_PATIENT)]


def test_a_patient_of_any_session_status_is_listed_as_they_are_now(
    service: TherapySessionContract, therapy: TherapySessionService, users: FakeUserService
) -> None:
    service.cancel_session(_book(service)["id"], "patient request")
    users.update_profile(PATIENT, name="Pat Renamed")
    users.deactivate_user(PATIENT)

    assert therapy.list_patients(THERAPIST) == [
        {**_patient(PATIENT, active=False), "name": "Pat Renamed"}
    ]


def test_a_patient_the_users_module_no_longer_knows_is_left_out(
    service: TherapySessionContract, therapy: TherapySessionService, users: FakeUserService
) -> None:
    _book(service)
    _book(service, AT_TEN + timedelta(hours=2), patient_id=OTHER_PATIENT)
    del users.users[PATIENT]

    assert therapy.list_patients(THERAPIST) == [_patient(OTHER_PATIENT)]


def test_an_id_without_sessions_as_therapist_has_no_patients(
    service: TherapySessionContract, therapy: TherapySessionService
) -> None:
    _book(service)

    assert therapy.list_patients(PATIENT) == []
    assert therapy.list_patients(99) == []


# --- user.deactivated ----------------------------------------------------------------------------


@pytest.mark.parametrize(("user_id", "role"), [(PATIENT, "patient"), (THERAPIST, "therapist")])
def test_deactivating_a_user_cancels_their_future_sessions(
    platform: Platform,
    service: TherapySessionContract,
    published_events: PublishedEvents,
    user_id: int,
    role: str,
) -> None:
    first = _book(service)["id"]
    second = _book(service, AT_TEN + timedelta(days=7))["id"]
    unrelated = _book(service, patient_id=OTHER_PATIENT, therapist_id=OTHER_THERAPIST)

    _deactivate(platform, user_id, role)

    statuses = {row["id"]: (row["status"], row["cancel_reason"]) for row in _rows(platform)}
    assert statuses == {
        first: ("cancelled", "user deactivated"),
        second: ("cancelled", "user deactivated"),
        unrelated["id"]: ("scheduled", None),
    }
    assert plain(published_events)[-2:] == [
        (
            "therapy_session.cancelled",
            {
                "session_id": session_id,
                "patient_id": PATIENT,
                "therapist_id": THERAPIST,
                "reason": "user deactivated",
                "cancelled_at": "2030-01-01T09:00:00+00:00",
            },
        )
        for session_id in (first, second)
    ]
    assert platform.bus.dead_letter_store.list() == []


def test_deactivation_leaves_started_finished_and_past_sessions_alone(
    platform: Platform,
    service: TherapySessionContract,
    published_events: PublishedEvents,
    clock: FrozenClock,
) -> None:
    completed = _into(service, "completed")
    running = _book(service, AT_TEN + timedelta(hours=2))["id"]
    service.start_session(running)
    missed = _book(service, AT_TEN + timedelta(hours=4))["id"]
    clock.move_to(AT_TEN + timedelta(hours=5))
    rows, published = _rows(platform), len(published_events)

    _deactivate(platform, PATIENT, "patient")

    assert (completed, missed) == (1, 3)
    assert _rows(platform) == rows
    assert len(published_events) == published + 1  # only user.deactivated itself
    assert platform.bus.dead_letter_store.list() == []


def test_a_redelivered_deactivation_cancels_nothing_twice(
    platform: Platform, service: TherapySessionContract, published_events: PublishedEvents
) -> None:
    _book(service)

    _deactivate(platform, PATIENT, "patient")
    _deactivate(platform, PATIENT, "patient")

    cancelled = [name for name, _ in plain(published_events) if name == "therapy_session.cancelled"]
    assert cancelled == ["therapy_session.cancelled"]
    assert platform.bus.dead_letter_store.list() == []
