"""The users module: registration, profile updates, deactivation, lookups and their events."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from aura.bus import Delivery
from aura.events import Event, thaw_json
from aura.platform import Platform
from contracts.errors import BusinessRuleError, NotFoundError
from modules.users import module as users_module

REGISTERED_AT = "2030-01-07T10:00:00+00:00"
LATER = "2030-01-08T09:30:00+00:00"


class Recorder:
    """A bus observer that keeps every published event as (type, plain data)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def on_published(self, event: Event) -> None:
        self.events.append((event.event_type, thaw_json(event.data)))

    def on_delivered(self, delivery: Delivery) -> None:
        pass


@pytest.fixture
def platform() -> Iterator[Platform]:
    platform = Platform([users_module], database=":memory:").start()
    try:
        yield platform
    finally:
        platform.close()


@pytest.fixture
def published(platform: Platform) -> Recorder:
    recorder = Recorder()
    platform.bus.add_observer(recorder)
    return recorder


@pytest.fixture
def users(platform: Platform) -> Any:
    return platform.registry.get_service("users", "UserService")


def register_ann(users: Any) -> dict[str, Any]:
    with freeze_time(REGISTERED_AT):
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


def test_registering_a_patient_stores_returns_and_announces_them(
    platform: Platform, users: Any, published: Recorder
) -> None:
    assert register_ann(users) == ANN
    assert rows(platform) == [ANN_ROW]
    assert published.events == [
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


def test_registering_a_therapist_gives_the_next_id(users: Any, published: Recorder) -> None:
    register_ann(users)
    with freeze_time(LATER):
        bob = users.register_user("bob@clinic.org", "Dr Bob", "therapist")
    assert bob == {
        "id": 2,
        "email": "bob@clinic.org",
        "name": "Dr Bob",
        "role": "therapist",
        "active": True,
        "registered_at": LATER,
    }
    assert published.events[-1] == (
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
    platform: Platform, users: Any, published: Recorder, email: str
) -> None:
    with pytest.raises(BusinessRuleError) as caught:
        users.register_user(email, "Ann Lee", "patient")
    assert str(caught.value) == f"Email {email!r} is not a valid address: expected name@domain.tld."
    assert rows(platform) == []
    assert published.events == []


def test_the_exact_invalid_email_message(users: Any) -> None:
    with pytest.raises(BusinessRuleError) as caught:
        users.register_user("ann@example", "Ann Lee", "patient")
    assert str(caught.value) == (
        "Email 'ann@example' is not a valid address: expected name@domain.tld."
    )


def test_a_taken_email_is_refused_whatever_its_case(
    platform: Platform, users: Any, published: Recorder
) -> None:
    register_ann(users)
    published.events.clear()
    with pytest.raises(BusinessRuleError) as caught:
        users.register_user(" ANN@example.com", "Another Ann", "therapist")
    assert str(caught.value) == (
        "A user with email 'ann@example.com' already exists (user 1). Use another email, or "
        "update that user."
    )
    assert rows(platform) == [ANN_ROW]
    assert published.events == []


@pytest.mark.parametrize("role", ["admin", "Patient", "", " therapist"])
def test_an_unknown_role_is_refused(
    platform: Platform, users: Any, published: Recorder, role: str
) -> None:
    with pytest.raises(BusinessRuleError) as caught:
        users.register_user("ann@example.com", "Ann Lee", role)
    assert str(caught.value) == (f"Role {role!r} is not known: expected 'patient' or 'therapist'.")
    assert rows(platform) == []
    assert published.events == []


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_name_is_refused(
    platform: Platform, users: Any, published: Recorder, name: str
) -> None:
    with pytest.raises(BusinessRuleError) as caught:
        users.register_user("ann@example.com", name, "patient")
    assert str(caught.value) == (
        f"Name {name!r} is empty: give the user's name, for example 'Ann Lee'."
    )
    assert rows(platform) == []
    assert published.events == []


def test_the_email_column_is_unique_in_the_table(platform: Platform, users: Any) -> None:
    register_ann(users)
    with pytest.raises(sqlite3.IntegrityError):
        platform.database.execute(
            "INSERT INTO users_users (email, name, role, registered_at) VALUES (?, ?, ?, ?)",
            ("ann@example.com", "Copy", "patient", REGISTERED_AT),
        )


# --- lookups --------------------------------------------------------------------------------------


def test_get_user_by_id_returns_the_user_or_none(users: Any) -> None:
    register_ann(users)
    assert users.get_user_by_id(1) == ANN
    assert users.get_user_by_id(42) is None


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
    platform: Platform, users: Any, published: Recorder
) -> None:
    register_ann(users)
    published.events.clear()
    with freeze_time(LATER):
        updated = users.update_profile(1, name=" Ann Smith ")
    assert updated == {**ANN, "name": "Ann Smith"}
    assert rows(platform) == [(*ANN_ROW[:2], "Ann Smith", *ANN_ROW[3:])]
    assert published.events == [
        ("user.updated", {"user_id": 1, "changed_fields": ["name"], "updated_at": LATER})
    ]


def test_changing_the_email_normalises_it_and_announces_only_the_email(
    platform: Platform, users: Any, published: Recorder
) -> None:
    register_ann(users)
    published.events.clear()
    with freeze_time(LATER):
        updated = users.update_profile(1, email=" Ann@Clinic.org", name="Ann Lee")
    assert updated == {**ANN, "email": "ann@clinic.org"}
    assert rows(platform)[0][1] == "ann@clinic.org"
    assert published.events == [
        ("user.updated", {"user_id": 1, "changed_fields": ["email"], "updated_at": LATER})
    ]


def test_changing_both_lists_both_fields(users: Any, published: Recorder) -> None:
    register_ann(users)
    published.events.clear()
    with freeze_time(LATER):
        updated = users.update_profile(1, email="ann@clinic.org", name="Ann Smith")
    assert updated == {**ANN, "email": "ann@clinic.org", "name": "Ann Smith"}
    assert published.events == [
        (
            "user.updated",
            {"user_id": 1, "changed_fields": ["name", "email"], "updated_at": LATER},
        )
    ]


@pytest.mark.parametrize(
    "changes",
    [{}, {"name": "Ann Lee"}, {"email": " ANN@example.com "}, {"name": None, "email": None}],
)
def test_an_update_that_changes_nothing_publishes_nothing(
    platform: Platform, users: Any, published: Recorder, changes: dict[str, Any]
) -> None:
    register_ann(users)
    published.events.clear()
    assert users.update_profile(1, **changes) == ANN
    assert rows(platform) == [ANN_ROW]
    assert published.events == []


def test_an_email_taken_by_another_user_is_refused_on_update(
    platform: Platform, users: Any, published: Recorder
) -> None:
    register_ann(users)
    with freeze_time(REGISTERED_AT):
        users.register_user("bob@clinic.org", "Dr Bob", "therapist")
    before = rows(platform)
    published.events.clear()
    with pytest.raises(BusinessRuleError) as caught:
        users.update_profile(2, name="Dr Robert", email="Ann@Example.com")
    assert str(caught.value) == (
        "A user with email 'ann@example.com' already exists (user 1). Use another email, or "
        "update that user."
    )
    assert rows(platform) == before
    assert published.events == []


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
def test_an_invalid_update_is_refused(
    platform: Platform,
    users: Any,
    published: Recorder,
    changes: dict[str, Any],
    message: str,
) -> None:
    register_ann(users)
    published.events.clear()
    with pytest.raises(BusinessRuleError) as caught:
        users.update_profile(1, **changes)
    assert str(caught.value) == message
    assert rows(platform) == [ANN_ROW]
    assert published.events == []


def test_updating_an_unknown_user_is_not_found(users: Any, published: Recorder) -> None:
    with pytest.raises(NotFoundError) as caught:
        users.update_profile(42, name="Nobody")
    assert str(caught.value) == "User 42 does not exist."
    assert published.events == []


# --- deactivation ---------------------------------------------------------------------------------


def test_deactivating_a_user_stores_returns_and_announces_it(
    platform: Platform, users: Any, published: Recorder
) -> None:
    register_ann(users)
    published.events.clear()
    with freeze_time(LATER):
        deactivated = users.deactivate_user(1)
    assert deactivated == {**ANN, "active": False}
    assert rows(platform) == [(*ANN_ROW[:4], 0, REGISTERED_AT, LATER)]
    assert users.is_user_active(1) is False
    assert users.get_user_by_id(1) == {**ANN, "active": False}
    assert published.events == [
        ("user.deactivated", {"user_id": 1, "role": "patient", "deactivated_at": LATER})
    ]


def test_deactivating_twice_is_refused(platform: Platform, users: Any, published: Recorder) -> None:
    register_ann(users)
    with freeze_time(LATER):
        users.deactivate_user(1)
    before = rows(platform)
    published.events.clear()
    with pytest.raises(BusinessRuleError) as caught:
        users.deactivate_user(1)
    assert str(caught.value) == "User 1 is already deactivated."
    assert rows(platform) == before
    assert published.events == []


def test_deactivating_an_unknown_user_is_not_found(
    platform: Platform, users: Any, published: Recorder
) -> None:
    with pytest.raises(NotFoundError) as caught:
        users.deactivate_user(42)
    assert str(caught.value) == "User 42 does not exist."
    assert rows(platform) == []
    assert published.events == []


def test_a_deactivated_user_keeps_their_email(users: Any) -> None:
    register_ann(users)
    users.deactivate_user(1)
    with pytest.raises(BusinessRuleError) as caught:
        users.register_user("ann@example.com", "Ann Again", "patient")
    assert str(caught.value).startswith("A user with email 'ann@example.com' already exists")
