"""The users module: registration, profile updates, deactivation, lookups and their events;
passwords, the login and its HTTP routes."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import argon2
import pytest

from aura.bus import EventBus
from aura.context import module_scope
from aura.database import Database
from aura.events import Event, thaw_json
from aura.exceptions import AccessDeniedError, AuthenticationError
from aura.platform import Platform
from aura.testing import FrozenClock, PublishedEvents, Trace
from aura.testing.http import GatewayClient
from contracts.errors import BusinessRuleError, NotFoundError
from modules.users import module as users_module
from modules.users.application import UserService
from modules.users.domain import PasswordHasher, Registration, User, UserRepository
from modules.users.infrastructure import (
    Argon2PasswordHasher,
    MemoryAttempts,
    MemoryKnownAddresses,
)

REGISTERED_AT = "2030-01-07T10:00:00+00:00"
LATER = "2030-01-08T09:30:00+00:00"


pytestmark = pytest.mark.aura_platform("users", mode="standalone")


@pytest.fixture
def platform(aura_platform: Platform) -> Platform:
    """The harness's platform of this test: the users module alone, on an in-memory database."""
    return aura_platform


@pytest.fixture
def clock(frozen_time: FrozenClock) -> FrozenClock:
    """Time frozen at REGISTERED_AT, for the tests that compare registration or change stamps.

    The tests over HTTP leave time alone: nothing they assert depends on it.
    """
    frozen_time.move_to(REGISTERED_AT)
    return frozen_time


def plain(events: Iterable[Event]) -> list[tuple[str, dict[str, Any]]]:
    """The events as (type, plain data), to compare whole."""
    return [(event.event_type, thaw_json(event.data)) for event in events]


@pytest.fixture
def users(platform: Platform) -> Any:
    return platform.registry.get_service("users", "UserService")


def register_ann(users: Any) -> dict[str, Any]:
    return dict(users.register_user("ann@example.com", "Ann Lee", "patient"))


def rows(platform: Platform) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in platform.database.query(
            "SELECT id, email, name, role, active, registered_at, deactivated_at "
            "FROM users_users ORDER BY id"
        )
    ]


ANN = {
    "id": 1,
    "email": "ann@example.com",
    "name": "Ann Lee",
    "role": "patient",
    "active": True,
    "registered_at": REGISTERED_AT,
}
ANN_ROW = (1, "ann@example.com", "Ann Lee", "patient", 1, REGISTERED_AT, None)
TAKEN = "Email 'ann@example.com' cannot be used for this account: choose another."


# --- the declaration ------------------------------------------------------------------------------


def test_the_module_depends_on_nothing_and_declares_its_three_events() -> None:
    assert users_module.name == "users"
    assert users_module.depends_on == ()
    assert users_module.published == ["user.registered", "user.updated", "user.deactivated"]


def test_other_modules_see_only_the_contract(platform: Platform) -> None:
    users = platform.registry.get_service("users", "UserService")
    with pytest.raises(AttributeError):
        _ = users.repository


# --- registration ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("clock")
def test_registering_a_patient_stores_returns_and_announces_them(
    platform: Platform, users: Any, published_events: PublishedEvents
) -> None:
    assert register_ann(users) == ANN
    assert rows(platform) == [ANN_ROW]
    assert plain(published_events) == [
        (
            "user.registered",
            {
                "user_id": 1,
                "email": "ann@example.com",
                "name": "Ann Lee",
                "role": "patient",
                "registered_at": REGISTERED_AT,
            },
        )
    ]


def test_registering_a_therapist_gives_the_next_id(
    users: Any, published_events: PublishedEvents, clock: FrozenClock
) -> None:
    register_ann(users)
    clock.move_to(LATER)
    bob = users.register_user("bob@clinic.org", "Dr Bob", "therapist")
    assert bob == {
        "id": 2,
        "email": "bob@clinic.org",
        "name": "Dr Bob",
        "role": "therapist",
        "active": True,
        "registered_at": LATER,
    }
    assert plain(published_events)[-1] == (
        "user.registered",
        {
            "user_id": 2,
            "email": "bob@clinic.org",
            "name": "Dr Bob",
            "role": "therapist",
            "registered_at": LATER,
        },
    )


def test_email_and_name_are_normalised(users: Any) -> None:
    user = users.register_user("  Ann.Lee+Care@Example.CO.uk ", "  Ann Lee ", "patient")
    assert (user["email"], user["name"]) == ("ann.lee+care@example.co.uk", "Ann Lee")


@pytest.mark.parametrize(
    "email",
    ["ann@example", "ann", "", "   ", "ann@@example.com", "ann@.com", "a n@example.com", "@x.io"],
)
def test_an_invalid_email_is_refused(
    platform: Platform, users: Any, published_events: PublishedEvents, email: str
) -> None:
    with pytest.raises(BusinessRuleError) as caught:
        users.register_user(email, "Ann Lee", "patient")
    assert str(caught.value) == f"Email {email!r} is not a valid address: expected name@domain.tld."
    assert rows(platform) == []
    assert plain(published_events) == []


def test_the_exact_invalid_email_message(users: Any) -> None:
    with pytest.raises(BusinessRuleError) as caught:
        users.register_user("ann@example", "Ann Lee", "patient")
    assert str(caught.value) == (
        "Email 'ann@example' is not a valid address: expected name@domain.tld."
    )


@pytest.mark.usefixtures("clock")
def test_a_taken_email_is_refused_whatever_its_case(
    platform: Platform, users: Any, published_events: PublishedEvents
) -> None:
    register_ann(users)
    announced = len(published_events)
    with pytest.raises(BusinessRuleError) as caught:
        users.register_user(" ANN@example.com", "Another Ann", "therapist")
    assert str(caught.value) == TAKEN
    assert rows(platform) == [ANN_ROW]
    assert plain(published_events.since(announced)) == []


@pytest.mark.parametrize("role", ["admin", "Patient", "", " therapist", "Operator"])
def test_an_unknown_role_is_refused(
    platform: Platform, users: Any, published_events: PublishedEvents, role: str
) -> None:
    with pytest.raises(BusinessRuleError) as caught:
        users.register_user("ann@example.com", "Ann Lee", role)
    assert str(caught.value) == (
        f"Role {role!r} is not known: expected 'patient', 'therapist' or 'operator'."
    )
    assert rows(platform) == []
    assert plain(published_events) == []


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_name_is_refused(
    platform: Platform, users: Any, published_events: PublishedEvents, name: str
) -> None:
    with pytest.raises(BusinessRuleError) as caught:
        users.register_user("ann@example.com", name, "patient")
    assert str(caught.value) == (
        f"Name {name!r} is empty: give the user's name, for example 'Ann Lee'."
    )
    assert rows(platform) == []
    assert plain(published_events) == []


@pytest.mark.parametrize(
    ("name", "code"),
    [("Ann\nLee", "000A"), ("Ann\x00", "0000"), ("\u202eeeL nnA", "202E"), ("Ann\u200b", "200B")],
)
def test_a_name_with_a_control_character_is_refused(
    platform: Platform, users: Any, published_events: PublishedEvents, name: str, code: str
) -> None:
    with pytest.raises(BusinessRuleError) as caught:
        users.register_user("ann@example.com", name, "patient")
    assert str(caught.value) == (
        f"Name {name.strip()!r} holds the control character U+{code}: a name is printable text "
        "on one line; remove it."
    )
    assert rows(platform) == []
    assert plain(published_events) == []


@pytest.mark.parametrize("name", ["Ann Lee\n", "\u0645\u06cc\u200c\u0631\u0627"])
def test_a_name_is_stored_stripped_and_keeps_the_joiners_of_real_spelling(
    users: Any, name: str
) -> None:
    assert users.register_user("ann@example.com", name, "patient")["name"] == name.strip()


def test_the_email_column_is_unique_in_the_table(platform: Platform, users: Any) -> None:
    register_ann(users)
    with pytest.raises(sqlite3.IntegrityError):
        platform.database.execute(
            "INSERT INTO users_users (email, name, role, registered_at) VALUES (?, ?, ?, ?)",
            ("ann@example.com", "Copy", "patient", REGISTERED_AT),
        )


# --- lookups --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("clock")
def test_get_user_by_id_returns_the_user_or_none(users: Any) -> None:
    register_ann(users)
    assert users.get_user_by_id(1) == ANN
    assert users.get_user_by_id(42) is None


@pytest.mark.usefixtures("clock")
def test_get_user_profile_returns_the_user(users: Any) -> None:
    register_ann(users)
    assert users.get_user_profile(1) == ANN


def test_get_user_profile_of_an_unknown_user_is_not_found(users: Any) -> None:
    with pytest.raises(NotFoundError) as caught:
        users.get_user_profile(42)
    assert str(caught.value) == "User 42 does not exist."


def test_is_user_active_is_true_for_a_new_user_and_false_for_an_unknown(users: Any) -> None:
    register_ann(users)
    assert users.is_user_active(1) is True
    assert users.is_user_active(42) is False


@pytest.mark.parametrize("user_id", ["1", 1.0, True, None])
def test_an_id_that_is_not_an_int_names_no_user(users: Any, user_id: object) -> None:
    register_ann(users)
    assert users.get_user_by_id(user_id) is None
    assert users.is_user_active(user_id) is False
    with pytest.raises(NotFoundError) as caught:
        users.get_user_profile(user_id)
    assert str(caught.value) == f"User {user_id!r} does not exist."


def test_returned_dicts_are_copies(users: Any) -> None:
    register_ann(users)
    users.get_user_by_id(1)["name"] = "Mallory"
    assert users.get_user_by_id(1)["name"] == "Ann Lee"


@pytest.mark.usefixtures("clock")
def test_users_survive_a_restart_of_the_platform(tmp_path: Path) -> None:
    path = tmp_path / "aura.db"
    with Platform([users_module], database=path) as first:
        register_ann(first.registry.get_service("users", "UserService"))
    with Platform([users_module], database=path) as second:
        users = second.registry.get_service("users", "UserService")
        assert users.get_user_by_id(1) == ANN
        assert users.register_user("bob@clinic.org", "Dr Bob", "therapist")["id"] == 2


# --- profile updates ------------------------------------------------------------------------------


def test_changing_the_name_announces_only_the_name(
    platform: Platform, users: Any, published_events: PublishedEvents, clock: FrozenClock
) -> None:
    register_ann(users)
    announced = len(published_events)
    clock.move_to(LATER)
    updated = users.update_profile(1, name=" Ann Smith ")
    assert updated == {**ANN, "name": "Ann Smith"}
    assert rows(platform) == [(*ANN_ROW[:2], "Ann Smith", *ANN_ROW[3:])]
    assert plain(published_events.since(announced)) == [
        ("user.updated", {"user_id": 1, "changed_fields": ["name"], "updated_at": LATER})
    ]


def test_changing_the_email_normalises_it_and_announces_only_the_email(
    platform: Platform, users: Any, published_events: PublishedEvents, clock: FrozenClock
) -> None:
    register_ann(users)
    announced = len(published_events)
    clock.move_to(LATER)
    updated = users.update_profile(1, email=" Ann@Clinic.org", name="Ann Lee")
    assert updated == {**ANN, "email": "ann@clinic.org"}
    assert rows(platform)[0][1] == "ann@clinic.org"
    assert plain(published_events.since(announced)) == [
        ("user.updated", {"user_id": 1, "changed_fields": ["email"], "updated_at": LATER})
    ]


def test_changing_both_lists_both_fields(
    users: Any, published_events: PublishedEvents, clock: FrozenClock
) -> None:
    register_ann(users)
    announced = len(published_events)
    clock.move_to(LATER)
    updated = users.update_profile(1, email="ann@clinic.org", name="Ann Smith")
    assert updated == {**ANN, "email": "ann@clinic.org", "name": "Ann Smith"}
    assert plain(published_events.since(announced)) == [
        (
            "user.updated",
            {"user_id": 1, "changed_fields": ["name", "email"], "updated_at": LATER},
        )
    ]


@pytest.mark.parametrize(
    "changes",
    [{}, {"name": "Ann Lee"}, {"email": " ANN@example.com "}, {"name": None, "email": None}],
)
@pytest.mark.usefixtures("clock")
def test_an_update_that_changes_nothing_publishes_nothing(
    platform: Platform, users: Any, published_events: PublishedEvents, changes: dict[str, Any]
) -> None:
    register_ann(users)
    announced = len(published_events)
    assert users.update_profile(1, **changes) == ANN
    assert rows(platform) == [ANN_ROW]
    assert plain(published_events.since(announced)) == []


def test_an_email_taken_by_another_user_is_refused_on_update(
    platform: Platform, users: Any, published_events: PublishedEvents, clock: FrozenClock
) -> None:
    register_ann(users)
    users.register_user("bob@clinic.org", "Dr Bob", "therapist")
    before = rows(platform)
    announced = len(published_events)
    with pytest.raises(BusinessRuleError) as caught:
        users.update_profile(2, name="Dr Robert", email="Ann@Example.com")
    assert str(caught.value) == TAKEN
    assert rows(platform) == before
    assert plain(published_events.since(announced)) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"email": "ann@example"},
            "Email 'ann@example' is not a valid address: expected name@domain.tld.",
        ),
        (
            {"name": " ", "email": "ann@clinic.org"},
            "Name ' ' is empty: give the user's name, for example 'Ann Lee'.",
        ),
    ],
)
@pytest.mark.usefixtures("clock")
def test_an_invalid_update_is_refused(
    platform: Platform,
    users: Any,
    published_events: PublishedEvents,
    changes: dict[str, Any],
    message: str,
) -> None:
    register_ann(users)
    announced = len(published_events)
    with pytest.raises(BusinessRuleError) as caught:
        users.update_profile(1, **changes)
    assert str(caught.value) == message
    assert rows(platform) == [ANN_ROW]
    assert plain(published_events.since(announced)) == []


def test_updating_an_unknown_user_is_not_found(
    users: Any, published_events: PublishedEvents
) -> None:
    with pytest.raises(NotFoundError) as caught:
        users.update_profile(42, name="Nobody")
    assert str(caught.value) == "User 42 does not exist."
    assert plain(published_events) == []


# --- deactivation ---------------------------------------------------------------------------------


def test_deactivating_a_user_stores_returns_and_announces_it(
    platform: Platform, users: Any, published_events: PublishedEvents, clock: FrozenClock
) -> None:
    register_ann(users)
    announced = len(published_events)
    clock.move_to(LATER)
    deactivated = users.deactivate_user(1)
    assert deactivated == {**ANN, "active": False}
    assert rows(platform) == [(*ANN_ROW[:4], 0, REGISTERED_AT, LATER)]
    assert users.is_user_active(1) is False
    assert users.get_user_by_id(1) == {**ANN, "active": False}
    assert plain(published_events.since(announced)) == [
        ("user.deactivated", {"user_id": 1, "role": "patient", "deactivated_at": LATER})
    ]


def test_deactivating_twice_is_refused(
    platform: Platform, users: Any, published_events: PublishedEvents, clock: FrozenClock
) -> None:
    register_ann(users)
    clock.move_to(LATER)
    users.deactivate_user(1)
    before = rows(platform)
    announced = len(published_events)
    with pytest.raises(BusinessRuleError) as caught:
        users.deactivate_user(1)
    assert str(caught.value) == "User 1 is already deactivated."
    assert rows(platform) == before
    assert plain(published_events.since(announced)) == []


def test_deactivating_an_unknown_user_is_not_found(
    platform: Platform, users: Any, published_events: PublishedEvents
) -> None:
    with pytest.raises(NotFoundError) as caught:
        users.deactivate_user(42)
    assert str(caught.value) == "User 42 does not exist."
    assert rows(platform) == []
    assert plain(published_events) == []


def test_a_deactivated_user_keeps_their_email(users: Any) -> None:
    register_ann(users)
    users.deactivate_user(1)
    with pytest.raises(BusinessRuleError) as caught:
        users.register_user("ann@example.com", "Ann Again", "patient")
    assert str(caught.value) == TAKEN


# --- passwords ------------------------------------------------------------------------------------

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase"
TODAYS_PARAMETERS = "$argon2id$v=19$m=19456,t=2,p=1$"
INVALID_LOGIN = "Invalid email or password."


def password_hash(platform: Platform, user_id: int = 1) -> str | None:
    row = platform.database.query_one(
        "SELECT password_hash FROM users_users WHERE id = ?", (user_id,)
    )
    assert row is not None
    value: str | None = row["password_hash"]
    return value


@pytest.fixture
def accounts(platform: Platform) -> Iterator[UserService]:
    """The module's own service, called as the module's routes call it (its login and password
    use cases are not in the contract other modules see)."""
    with module_scope("users"):
        yield platform.container.resolve(UserService)


def register_ann_with_password(users: Any) -> dict[str, Any]:
    return dict(users.register_user("ann@example.com", "Ann Lee", "patient", password=PASSWORD))


@pytest.mark.usefixtures("clock")
def test_a_password_given_at_registration_is_stored_as_an_argon2id_hash(
    platform: Platform, accounts: UserService, published_events: PublishedEvents
) -> None:
    assert register_ann_with_password(accounts) == ANN
    stored = password_hash(platform)
    assert stored is not None
    assert stored.startswith(TODAYS_PARAMETERS)
    assert PASSWORD not in stored
    assert argon2.PasswordHasher().verify(stored, PASSWORD)
    assert rows(platform) == [ANN_ROW]
    assert plain(published_events)[0][1] == {
        "user_id": 1,
        "email": "ann@example.com",
        "name": "Ann Lee",
        "role": "patient",
        "registered_at": REGISTERED_AT,
    }


def test_two_users_with_one_password_get_different_hashes(platform: Platform, users: Any) -> None:
    users.register_user("ann@example.com", "Ann Lee", "patient", password=PASSWORD)
    users.register_user("bob@clinic.org", "Dr Bob", "therapist", password=PASSWORD)
    assert password_hash(platform, 1) != password_hash(platform, 2)  # salted


def test_a_user_registered_without_a_password_has_none(platform: Platform, users: Any) -> None:
    register_ann(users)
    assert password_hash(platform) is None


def test_an_operator_can_be_registered(platform: Platform, accounts: UserService) -> None:
    operator = accounts.register_user("ops@clinic.org", "Olga Ops", "operator", password=PASSWORD)
    assert operator["role"] == "operator"
    assert accounts.log_in("ops@clinic.org", PASSWORD)["role"] == "operator"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        (
            "eleven char",
            "The password is too short: use at least 12 characters (a few words make a good one).",
        ),
        (
            "",
            "The password is too short: use at least 12 characters (a few words make a good one).",
        ),
        ("x" * 257, "The password is too long: use at most 256 characters."),
        (
            123456789012,
            "A password must be text, got int: give a passphrase of 12 to 256 characters.",
        ),
    ],
)
def test_a_password_out_of_bounds_is_refused_without_being_echoed(
    platform: Platform, users: Any, published_events: PublishedEvents, password: Any, message: str
) -> None:
    with pytest.raises(BusinessRuleError) as caught:
        users.register_user("ann@example.com", "Ann Lee", "patient", password=password)
    assert str(caught.value) == message
    assert rows(platform) == []
    assert plain(published_events) == []


def test_the_bounds_themselves_are_accepted(platform: Platform, accounts: UserService) -> None:
    accounts.register_user("ann@example.com", "Ann Lee", "patient", password="x" * 12)
    accounts.register_user("bob@clinic.org", "Dr Bob", "therapist", password="y" * 256)
    assert accounts.log_in("ann@example.com", "x" * 12)["id"] == 1
    assert accounts.log_in("bob@clinic.org", "y" * 256)["id"] == 2


def test_no_hash_and_no_password_reach_the_logs(
    platform: Platform, accounts: UserService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    register_ann_with_password(accounts)
    accounts.log_in("ann@example.com", PASSWORD)
    with pytest.raises(AuthenticationError):
        accounts.log_in("ann@example.com", "not the password at all")
    accounts.change_password(1, PASSWORD, NEW_PASSWORD)
    stored = password_hash(platform)
    assert stored is not None
    assert "$argon2" not in caplog.text
    assert PASSWORD not in caplog.text
    assert NEW_PASSWORD not in caplog.text


# --- the login use case ---------------------------------------------------------------------------


@pytest.mark.usefixtures("clock")
def test_logging_in_returns_the_user(accounts: UserService) -> None:
    register_ann_with_password(accounts)
    assert accounts.log_in("ann@example.com", PASSWORD) == ANN


def test_the_login_email_is_normalised_like_the_registered_one(accounts: UserService) -> None:
    register_ann_with_password(accounts)
    assert accounts.log_in("  ANN@Example.com ", PASSWORD)["id"] == 1


def test_the_password_is_not_normalised(accounts: UserService) -> None:
    register_ann_with_password(accounts)
    for near_miss in (PASSWORD.upper(), f" {PASSWORD}", f"{PASSWORD} "):
        with pytest.raises(AuthenticationError) as caught:
            accounts.log_in("ann@example.com", near_miss)
        assert str(caught.value) == INVALID_LOGIN


class FakeUserRepository(UserRepository):
    """The repository port in memory: profiles and password hashes kept in dicts."""

    def __init__(self) -> None:
        self.users: dict[int, User] = {}
        self.password_hashes: dict[int, str] = {}
        self._last_id = 0

    def add(self, registration: Registration) -> User:
        self._last_id += 1  # ids are never reused, as with SQLite's AUTOINCREMENT
        user = User(
            id=self._last_id,
            email=registration.email,
            name=registration.name,
            role=registration.role,
            active=True,
            registered_at=registration.registered_at,
        )
        self.users[user.id] = user
        return user

    def get(self, user_id: int) -> User | None:
        return self.users.get(user_id)

    def find_by_email(self, email: str) -> User | None:
        return next((user for user in self.users.values() if user.email == email), None)

    def save(self, user: User) -> None:
        assert user.id in self.users, f"save() of user {user.id}, who was never added"
        self.users[user.id] = user

    def get_password_hash(self, user_id: int) -> str | None:
        return self.password_hashes.get(user_id)

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        self.password_hashes[user_id] = password_hash


class FakeUnitOfWork:
    """The unit-of-work port over a FakeUserRepository, counting the transactions it commits.

    A block that raises leaves the repository as it was. Events published in a block go out at
    once (the real one delivers them on commit): the tests using it publish in no failing block.
    """

    def __init__(self, repository: FakeUserRepository) -> None:
        self.repository = repository
        self.committed = 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        users = dict(self.repository.users)
        hashes = dict(self.repository.password_hashes)
        try:
            yield
        except BaseException:
            self.repository.users, self.repository.password_hashes = users, hashes
            raise
        self.committed += 1


class RecordingHasher(PasswordHasher):
    """Argon2 at its cheapest, recording every verification (real or dummy) it is asked for."""

    def __init__(self) -> None:
        self.real = Argon2PasswordHasher(
            argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)
        )
        self.verified: list[str] = []

    def hash(self, password: str) -> str:
        return self.real.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified.append("verify")
        return self.real.verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self.real.needs_rehash(password_hash)

    def verify_dummy(self, password: str) -> None:
        self.verified.append("dummy")
        self.real.verify_dummy(password)


@pytest.fixture
def hasher() -> RecordingHasher:
    return RecordingHasher()


@pytest.fixture
def repository() -> FakeUserRepository:
    return FakeUserRepository()


@pytest.fixture
def unit_of_work(repository: FakeUserRepository) -> FakeUnitOfWork:
    return FakeUnitOfWork(repository)


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def bus_events(bus: EventBus) -> Iterator[PublishedEvents]:
    """What the service under test publishes on its own bus."""
    trace = Trace().attach(bus)
    yield PublishedEvents(trace)
    trace.detach()


@pytest.fixture
def service(
    repository: FakeUserRepository,
    unit_of_work: FakeUnitOfWork,
    bus: EventBus,
    hasher: RecordingHasher,
) -> Iterator[UserService]:
    """The users service on fakes of its ports (no SQL, no platform), with a recording hasher."""
    with module_scope("users"):
        yield UserService(
            repository,
            unit_of_work,
            bus,
            passwords=hasher,
            login_attempts=MemoryAttempts("10 per 15 minutes"),
            known_addresses=MemoryKnownAddresses(),
        )


@pytest.mark.parametrize(
    ("email", "password", "verifications"),
    [
        pytest.param("ann@example.com", "the wrong password", ["verify"], id="wrong password"),
        pytest.param("nobody@example.com", PASSWORD, ["dummy"], id="unknown email"),
        pytest.param("not an address", PASSWORD, ["dummy"], id="invalid email"),
        pytest.param("bob@clinic.org", PASSWORD, ["dummy"], id="no password set"),
        pytest.param("cy@example.com", PASSWORD, ["verify"], id="deactivated user"),
    ],
)
def test_every_failed_login_is_the_same_refusal_after_one_verification(
    service: UserService,
    hasher: RecordingHasher,
    bus_events: PublishedEvents,
    email: str,
    password: str,
    verifications: list[str],
) -> None:
    service.register_user("ann@example.com", "Ann Lee", "patient", password=PASSWORD)
    service.register_user("bob@clinic.org", "Dr Bob", "therapist")
    service.register_user("cy@example.com", "Cy Young", "patient", password=PASSWORD)
    service.deactivate_user(3)
    announced = len(bus_events)
    hasher.verified.clear()
    with pytest.raises(AuthenticationError) as caught:
        service.log_in(email, password)
    assert str(caught.value) == INVALID_LOGIN
    assert caught.value.reason is None  # no token was sent: the challenge carries no error
    assert hasher.verified == verifications  # one Argon2 verification each: alike in time too
    assert plain(bus_events.since(announced)) == []


def test_a_hash_with_older_parameters_is_replaced_at_login(
    service: UserService,
    repository: FakeUserRepository,
    unit_of_work: FakeUnitOfWork,
    bus: EventBus,
) -> None:
    service.register_user("ann@example.com", "Ann Lee", "patient")
    older = argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST).hash(PASSWORD)
    repository.set_password_hash(1, older)
    service = UserService(  # with today's parameters
        repository,
        unit_of_work,
        bus,
        Argon2PasswordHasher(),
        MemoryAttempts("10 per 15 minutes"),
        MemoryKnownAddresses(),
    )
    with pytest.raises(AuthenticationError):
        service.log_in("ann@example.com", "the wrong password")
    assert repository.get_password_hash(1) == older  # only a successful login may rehash
    assert service.log_in("ann@example.com", PASSWORD)["id"] == 1
    renewed = repository.get_password_hash(1)
    assert renewed is not None
    assert renewed.startswith(TODAYS_PARAMETERS)
    assert service.log_in("ann@example.com", PASSWORD)["id"] == 1
    assert repository.get_password_hash(1) == renewed  # today's hash is kept
    assert unit_of_work.committed == 2  # the registration, then the one rehash


# --- changing a password --------------------------------------------------------------------------


@pytest.mark.usefixtures("clock")
def test_a_user_changes_their_password_with_the_current_one(accounts: UserService) -> None:
    register_ann_with_password(accounts)
    assert accounts.change_password(1, PASSWORD, NEW_PASSWORD) == ANN
    assert accounts.log_in("ann@example.com", NEW_PASSWORD)["id"] == 1
    with pytest.raises(AuthenticationError):
        accounts.log_in("ann@example.com", PASSWORD)


WRONG_CURRENT = "The current password is not correct, so the password was not changed."


def test_a_wrong_current_password_changes_nothing(
    platform: Platform, accounts: UserService
) -> None:
    register_ann_with_password(accounts)
    before = password_hash(platform)
    with pytest.raises(AccessDeniedError) as caught:
        accounts.change_password(1, "not my password", NEW_PASSWORD)
    assert str(caught.value) == WRONG_CURRENT
    assert password_hash(platform) == before


def test_without_a_password_yet_no_current_one_can_match(
    platform: Platform, accounts: UserService
) -> None:
    register_ann(accounts)
    with pytest.raises(AccessDeniedError) as caught:
        accounts.change_password(1, "", NEW_PASSWORD)
    assert str(caught.value) == WRONG_CURRENT
    assert password_hash(platform) is None


def test_the_new_password_is_checked_before_the_current_one(
    service: UserService, hasher: RecordingHasher
) -> None:
    service.register_user("ann@example.com", "Ann Lee", "patient", password=PASSWORD)
    hasher.verified.clear()
    with pytest.raises(BusinessRuleError) as caught:
        service.change_password(1, PASSWORD, "short")
    assert str(caught.value) == (
        "The password is too short: use at least 12 characters (a few words make a good one)."
    )
    assert hasher.verified == []


@pytest.mark.usefixtures("clock")
def test_an_operator_resets_a_password_without_the_current_one(accounts: UserService) -> None:
    register_ann(accounts)
    assert accounts.reset_password(1, NEW_PASSWORD) == ANN
    assert accounts.log_in("ann@example.com", NEW_PASSWORD)["id"] == 1


@pytest.mark.parametrize(
    "change",
    [
        lambda accounts: accounts.change_password(42, PASSWORD, NEW_PASSWORD),
        lambda accounts: accounts.reset_password(42, NEW_PASSWORD),
    ],
    ids=["change", "reset"],
)
def test_the_password_of_an_unknown_user_is_not_found(
    accounts: UserService, change: Callable[[UserService], object]
) -> None:
    with pytest.raises(NotFoundError) as caught:
        change(accounts)
    assert str(caught.value) == "User 42 does not exist."


# --- the Argon2id adapter -------------------------------------------------------------------------


def test_the_hasher_uses_owasp_parameters_and_says_so() -> None:
    hasher = Argon2PasswordHasher()
    assert repr(hasher) == "Argon2PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)"
    assert hasher.hash(PASSWORD).startswith(TODAYS_PARAMETERS)


@pytest.mark.parametrize("stored", ["", "not a hash", "$argon2id$v=19$garbage", "$2b$12$bcrypt"])
def test_a_hash_that_is_not_argon2s_matches_nothing_and_needs_replacing(stored: str) -> None:
    hasher = Argon2PasswordHasher()
    assert hasher.verify(stored, PASSWORD) is False
    assert hasher.needs_rehash(stored) is True


class CountingArgon2(argon2.PasswordHasher):
    """argon2-cffi's hasher, counting what it is asked to do."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.calls.append("hash")
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.calls.append("verify")
        return super().verify(hash, password)


def test_the_dummy_verification_is_one_real_verification_of_a_hash_made_once() -> None:
    cheapest = argon2.profiles.CHEAPEST
    counting = CountingArgon2(
        time_cost=cheapest.time_cost,
        memory_cost=cheapest.memory_cost,
        parallelism=cheapest.parallelism,
    )
    hasher = Argon2PasswordHasher(counting)
    hasher.verify_dummy(PASSWORD)
    hasher.verify_dummy("")
    assert counting.calls == ["hash", "verify", "verify"]


# --- the table of an earlier version --------------------------------------------------------------

_EARLIER_SCHEMA = """
CREATE TABLE users_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('patient', 'therapist')),
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    registered_at TEXT NOT NULL,
    deactivated_at TEXT
);
CREATE UNIQUE INDEX users_users_email ON users_users (email);
"""


def test_a_table_without_passwords_is_upgraded_keeping_rows_and_ids(tmp_path: Path) -> None:
    path = tmp_path / "aura.db"
    with Database(path) as earlier:
        earlier.executescript(_EARLIER_SCHEMA)
        earlier.execute(
            "INSERT INTO users_users (email, name, role, registered_at) VALUES (?, ?, ?, ?)",
            ("ann@example.com", "Ann Lee", "patient", REGISTERED_AT),
        )
        for email in ("gone1@example.com", "gone2@example.com"):  # ids 2 and 3, then removed
            earlier.execute(
                "INSERT INTO users_users (email, name, role, registered_at) VALUES (?, ?, ?, ?)",
                (email, "Gone", "patient", REGISTERED_AT),
            )
        earlier.execute("DELETE FROM users_users WHERE id > 1")
    with Platform([users_module], database=path) as platform:
        users = platform.registry.get_service("users", "UserService")
        assert users.get_user_by_id(1) == ANN
        assert password_hash(platform) is None
        operator = users.register_user("ops@clinic.org", "Olga Ops", "operator", password=PASSWORD)
        assert operator["id"] == 4  # ids once handed out are never reused
        with pytest.raises(BusinessRuleError) as caught:
            users.register_user("ANN@example.com", "Copy", "patient")
        assert str(caught.value) == TAKEN
    with Platform([users_module], database=path) as again:  # the upgrade runs once
        accounts: UserService = again.container.resolve(UserService)
        with module_scope("users"):
            assert accounts.log_in("ops@clinic.org", PASSWORD)["id"] == 4


# --- over HTTP ------------------------------------------------------------------------------------


@pytest.fixture
def http(aura_gateway: GatewayClient) -> GatewayClient:
    """The platform over HTTP, its domain errors those of [tool.aura.web] (404 and 409)."""
    return aura_gateway


def test_an_operator_registers_a_user_with_a_password_who_then_logs_in(
    http: GatewayClient,
) -> None:
    created = http.as_operator().post(
        "/api/users/users",
        json={
            "email": "ann@example.com",
            "name": "Ann Lee",
            "role": "patient",
            "password": PASSWORD,
        },
    )
    assert created.status_code == 201
    assert "password" not in created.text
    assert "$argon2" not in created.text
    response = http.anonymous().post(
        "/api/users/token", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert (body["token_type"], body["expires_in"]) == ("bearer", 900)
    principal = http.authority.authenticate(body["access_token"])
    assert (principal.subject, principal.roles, principal.user_id) == (
        "user:1",
        frozenset({"patient"}),
        1,
    )
    me = http.with_token(body["access_token"])
    assert me.get("/api/users/users/1").json()["email"] == "ann@example.com"


@pytest.mark.parametrize(
    "credentials",
    [
        {"email": "ann@example.com", "password": "the wrong password"},
        {"email": "nobody@example.com", "password": PASSWORD},
        {"email": "not an address", "password": PASSWORD},
        {"email": "ann@example.com", "password": ""},
    ],
    ids=["wrong password", "unknown email", "invalid email", "empty password"],
)
def test_a_failed_login_is_one_401_whatever_was_wrong(
    platform: Platform, http: GatewayClient, credentials: dict[str, str]
) -> None:
    register_ann_with_password(platform.registry.get_service("users", "UserService"))
    response = http.anonymous().post(
        "/api/users/token", json=credentials, headers={"X-Correlation-ID": "login-1"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="aura"'
    assert response.json() == {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": INVALID_LOGIN,
        "instance": "/api/users/token",
        "correlation_id": "login-1",
    }


def test_a_user_changes_their_own_password_over_http(
    platform: Platform, http: GatewayClient
) -> None:
    ann = register_ann_with_password(platform.registry.get_service("users", "UserService"))
    me = http.as_user(ann)
    refused = me.patch("/api/users/users/1/password", json={"new_password": NEW_PASSWORD})
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "Give your current password as current_password to change it; only an operator may set "
        "a password without it."
    )
    wrong = me.patch(
        "/api/users/users/1/password",
        json={"current_password": "not my password", "new_password": NEW_PASSWORD},
    )
    assert (wrong.status_code, wrong.json()["detail"]) == (403, WRONG_CURRENT)
    changed = me.patch(
        "/api/users/users/1/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200
    assert changed.json()["id"] == 1
    login = {"email": "ann@example.com", "password": NEW_PASSWORD}
    assert http.anonymous().post("/api/users/token", json=login).status_code == 200


def test_an_operator_sets_a_password_without_the_current_one(
    platform: Platform, http: GatewayClient
) -> None:
    register_ann(platform.registry.get_service("users", "UserService"))
    response = http.as_operator().patch(
        "/api/users/users/1/password", json={"new_password": NEW_PASSWORD}
    )
    assert response.status_code == 200
    login = {"email": "ann@example.com", "password": NEW_PASSWORD}
    assert http.anonymous().post("/api/users/token", json=login).status_code == 200


def test_a_taken_email_over_http_names_no_other_account(
    platform: Platform, http: GatewayClient
) -> None:
    users = platform.registry.get_service("users", "UserService")
    register_ann(users)
    bob = users.register_user("bob@clinic.org", "Dr Bob", "therapist")
    response = http.as_user(bob).patch("/api/users/users/2", json={"email": "ann@example.com"})
    assert response.status_code == 409
    assert response.json()["detail"] == TAKEN
