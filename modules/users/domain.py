"""The users domain: patients and therapists, their profile rules and the repository port."""

from __future__ import annotations

import dataclasses
import enum
import re
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Protocol

from contracts.errors import BusinessRuleError, NotFoundError
from contracts.unit_of_work import UnitOfWork

__all__ = [
    "Registration",
    "Role",
    "User",
    "UserRepository",
    "UserUnitOfWork",
    "check_name",
    "check_role",
    "email_taken",
    "normalise_email",
    "user_not_found",
]

# Pragmatic, not RFC 5322: a local part, then dot-separated domain labels ending in a TLD of
# letters. It refuses what is surely a typo ("ann@example", "ann@@x.com") and nothing plausible.
_EMAIL = re.compile(
    r"[a-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
_MAX_EMAIL_LENGTH = 254  # the longest address SMTP can carry (RFC 5321)


class Role(enum.StrEnum):
    """What a user is on the platform."""

    PATIENT = "patient"
    THERAPIST = "therapist"


_ROLES = frozenset(role.value for role in Role)


def normalise_email(email: object) -> str:
    """Return ``email`` stripped and lower-cased, or refuse it if it is not an address."""
    normal = email.strip().lower() if isinstance(email, str) else ""
    if len(normal) > _MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(normal):
        raise BusinessRuleError(
            f"Email {email!r} is not a valid address: expected name@domain.tld."
        )
    return normal


def check_name(name: object) -> str:
    """Return ``name`` stripped, or refuse it when it is empty."""
    if not isinstance(name, str) or not name.strip():
        raise BusinessRuleError(
            f"Name {name!r} is empty: give the user's name, for example 'Ann Lee'."
        )
    return name.strip()


def check_role(role: object) -> Role:
    """Return ``role`` as a :class:`Role`, or refuse an unknown one."""
    if isinstance(role, str) and role in _ROLES:
        return Role(role)
    raise BusinessRuleError(f"Role {role!r} is not known: expected 'patient' or 'therapist'.")


def email_taken(email: str, owner_id: int) -> BusinessRuleError:
    """Return the refusal for an email that another user already has."""
    return BusinessRuleError(
        f"A user with email {email!r} already exists (user {owner_id}). Use another email, or "
        "update that user."
    )


def user_not_found(user_id: object) -> NotFoundError:
    """Return the refusal for a user id that names nobody."""
    return NotFoundError(f"User {user_id!r} does not exist.")


@dataclasses.dataclass(frozen=True, slots=True)
class Registration:
    """A validated request to register a user, not yet stored (so without an id)."""

    email: str
    name: str
    role: Role
    registered_at: datetime

    @classmethod
    def create(cls, email: str, name: str, role: str, at: datetime) -> Registration:
        """Validate and normalise the fields of a new user, in the order they are given."""
        return cls(normalise_email(email), check_name(name), check_role(role), at)


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    """A registered patient or therapist."""

    id: int
    email: str
    name: str
    role: Role
    active: bool
    registered_at: datetime
    deactivated_at: datetime | None = None

    def with_profile(self, *, name: str | None, email: str | None) -> tuple[User, list[str]]:
        """Return the user with a new name and/or email, and the fields that really changed.

        ``None`` leaves a field as it is. Values are validated and normalised first, so an
        email differing only in case or spaces is no change.
        """
        new_name = self.name if name is None else check_name(name)
        new_email = self.email if email is None else normalise_email(email)
        changed = [
            field
            for field, old, new in (("name", self.name, new_name), ("email", self.email, new_email))
            if old != new
        ]
        return dataclasses.replace(self, name=new_name, email=new_email), changed

    def deactivated(self, at: datetime) -> User:
        """Return the user deactivated at ``at``; refuse when they already are."""
        if not self.active:
            raise BusinessRuleError(f"User {self.id} is already deactivated.")
        return dataclasses.replace(self, active=False, deactivated_at=at)


class UserRepository(ABC):
    """Where users are kept."""

    @abstractmethod
    def add(self, registration: Registration) -> User:
        """Store a new user and return it with its id."""

    @abstractmethod
    def get(self, user_id: int) -> User | None:
        """Return the user with ``user_id``, or ``None``."""

    @abstractmethod
    def find_by_email(self, email: str) -> User | None:
        """Return the user with this (normalised) email, or ``None``."""

    @abstractmethod
    def save(self, user: User) -> None:
        """Store the changed profile and activity of an existing user."""


class UserUnitOfWork(UnitOfWork, Protocol):
    """The transactions the users module's use cases run in (its ``__init__`` wires them)."""
