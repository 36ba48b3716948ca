"""The users domain: patients, therapists and operators, their profile and password rules, and
the ports the use cases need (the repository, the password hasher, the unit of work)."""

from __future__ import annotations

import base64
import dataclasses
import enum
import hashlib
import re
import threading
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from aura.exceptions import AccessDeniedError, AuthenticationError
from contracts.errors import BusinessRuleError, NotFoundError
from contracts.text import hidden_character
from contracts.unit_of_work import UnitOfWork

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "STALE_TOKEN",
    "Attempts",
    "EmailTakenError",
    "KnownAddresses",
    "PasswordHasher",
    "Registration",
    "Role",
    "User",
    "UserRepository",
    "UserUnitOfWork",
    "check_name",
    "check_password",
    "check_role",
    "credential_stamp",
    "email_taken",
    "invalid_credentials",
    "normalise_email",
    "try_normalise_email",
    "user_not_found",
    "wrong_current_password",
]

# Pragmatic, not RFC 5322: a local part, then dot-separated domain labels ending in a TLD of
# letters. It refuses what is surely a typo ("ann@example", "ann@@x.com") and nothing plausible.
_EMAIL = re.compile(
    r"[a-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
_MAX_EMAIL_LENGTH = 254  # the longest address SMTP can carry (RFC 5321)

MIN_PASSWORD_LENGTH = 12
"""The shortest password accepted, in characters (length is what makes a password strong)."""
MAX_PASSWORD_LENGTH = 256
"""The longest password accepted: long enough for any passphrase, short enough to hash cheaply."""


class Role(enum.StrEnum):
    """What a user is on the platform: operators are the people who administer it."""

    PATIENT = "patient"
    THERAPIST = "therapist"
    OPERATOR = "operator"


_ROLES = frozenset(role.value for role in Role)


def normalise_email(email: object) -> str:
    """Return ``email`` stripped and lower-cased, or refuse it if it is not an address."""
    normal = email.strip().lower() if isinstance(email, str) else ""
    if len(normal) > _MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(normal):
        raise BusinessRuleError(
            f"Email {email!r} is not a valid address: expected name@domain.tld."
        )
    return normal


def try_normalise_email(email: object) -> str | None:
    """Return ``email`` normalised, or ``None`` when it is not an address (no refusal)."""
    try:
        return normalise_email(email)
    except BusinessRuleError:
        return None


def check_name(name: object) -> str:
    """Return ``name`` stripped, or refuse it when it is empty or holds a control character.

    Control and format characters (a newline, a NUL, a right-to-left override) in a name would
    forge lines in logs and e-mails, or show a different name than the one stored."""
    if not isinstance(name, str) or not name.strip():
        raise BusinessRuleError(
            f"Name {name!r} is empty: give the user's name, for example 'Ann Lee'."
        )
    name = name.strip()
    hidden = hidden_character(name)
    if hidden is not None:
        raise BusinessRuleError(
            f"Name {name!r} holds the control character U+{ord(hidden):04X}: a name is printable "
            "text on one line; remove it."
        )
    return name


def check_role(role: object) -> Role:
    """Return ``role`` as a :class:`Role`, or refuse an unknown one."""
    if isinstance(role, str) and role in _ROLES:
        return Role(role)
    raise BusinessRuleError(
        f"Role {role!r} is not known: expected 'patient', 'therapist' or 'operator'."
    )


def check_password(password: object) -> str:
    """Return ``password`` as it is, or refuse one too short or too long (never echoing it)."""
    if not isinstance(password, str):
        raise BusinessRuleError(
            f"A password must be text, got {type(password).__name__}: give a passphrase of "
            f"{MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters."
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BusinessRuleError(
            f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters (a few "
            "words make a good one)."
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise BusinessRuleError(
            f"The password is too long: use at most {MAX_PASSWORD_LENGTH} characters."
        )
    return password


class EmailTakenError(BusinessRuleError):
    """An email that another user already has (a 409 like any broken business rule)."""


def email_taken(email: str) -> EmailTakenError:
    """Return the refusal for an email that another user already has.

    It names neither that user nor their id: the caller learns only that the address cannot be
    used, which is all a unique address must reveal (and the API limits how often a caller may
    hear it, see :class:`Attempts`).
    """
    return EmailTakenError(f"Email {email!r} cannot be used for this account: choose another.")


STALE_TOKEN = (
    "This token is no longer valid: its account was deactivated or its password changed. Log "
    "in again."
)
"""The one refusal of a token issued before its user's password changed or they left."""


def credential_stamp(password_hash: str) -> str:
    """A digest of a user's password hash, put in the tokens their login issues.

    It changes whenever the password does (each hash has a fresh salt), so a token carrying an
    older stamp is refused (:data:`STALE_TOKEN`), as Django's session auth hash does. It says
    nothing of the password: it is a one-way digest of a salted, memory-hard hash.
    """
    digest = hashlib.sha256(b"aura-users-credential:" + password_hash.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def invalid_credentials() -> AuthenticationError:
    """Return the one refusal of a login, whatever was wrong.

    An unknown email, a wrong password, a deactivated account and an account without a password
    all answer this, so a login tells nobody which addresses are registered.
    """
    return AuthenticationError("Invalid email or password.", reason=None)


def wrong_current_password() -> AccessDeniedError:
    """Return the refusal of a password change whose current password does not match."""
    return AccessDeniedError(
        "The current password is not correct, so the password was not changed."
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
    """A registered user's profile (the password hash is not part of it: see the repository)."""

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
    """Where users are kept, with their password hashes apart from their profiles."""

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

    @abstractmethod
    def get_password_hash(self, user_id: int) -> str | None:
        """Return the user's password hash, or ``None`` when they have no password."""

    @abstractmethod
    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Store a new password hash for an existing user."""


class PasswordHasher(ABC):
    """How passwords are hashed and checked (a slow, salted, memory-hard function)."""

    @abstractmethod
    def hash(self, password: str) -> str:
        """Return a new salted hash of ``password``."""

    @abstractmethod
    def verify(self, password_hash: str, password: str) -> bool:
        """Tell whether ``password`` is the one ``password_hash`` was made from."""

    @abstractmethod
    def needs_rehash(self, password_hash: str) -> bool:
        """Tell whether ``password_hash`` was made with weaker parameters than today's."""

    @abstractmethod
    def verify_dummy(self, password: str) -> None:
        """Spend as long as :meth:`verify` does, for a login that names no usable account."""


class UserUnitOfWork(UnitOfWork, Protocol):
    """The transactions the users module's use cases run in (its ``__init__`` wires them)."""


class Attempts(ABC):
    """Attempts counted per key, in a moving window (the port; infrastructure keeps it).

    Logins count per normalised email, whoever sends them, so guessing one account's password
    from many addresses is as slow as from one; the profile API counts "email taken" answers per
    caller, so nobody can test many addresses for an account.
    """

    @abstractmethod
    def attempt(self, key: str, what: str) -> None:
        """Count one attempt for ``key`` now, before it is tried, so that concurrent attempts
        cannot all pass; raise :exc:`~aura.exceptions.RateLimitedError` (counting nothing) when
        ``key`` has none left. ``what`` names them in the message ("failed logins...")."""

    @abstractmethod
    def check(self, key: str, what: str) -> None:
        """Raise :exc:`~aura.exceptions.RateLimitedError` while ``key`` has no attempts left."""

    @abstractmethod
    def failed(self, key: str) -> None:
        """Count one failed attempt for ``key`` after it was tried."""

    @abstractmethod
    def clear(self, key: str) -> None:
        """Forget ``key``'s attempts (a successful login)."""

    def exclusive(self, key: str) -> AbstractContextManager[Any]:
        """Hold this process's other callers with ``key`` until the block ends, so that a
        :meth:`check`, the attempt and its :meth:`failed` are one step: concurrent requests
        cannot all pass the check before the first failure is counted."""
        return _STRIPES[hash(key) % len(_STRIPES)]


_STRIPES = tuple(threading.Lock() for _ in range(64))
"""The locks of :meth:`Attempts.exclusive`: a key takes one by its hash (bounded, whatever the
number of keys; two keys sharing one only wait for each other)."""


class KnownAddresses(ABC):
    """The addresses each account logged in from lately (the port; infrastructure keeps it).

    A login from one of them is not held to the account's limit of failed logins, so an
    attacker who exhausts it locks out strangers, not the owner at their usual address.
    """

    @abstractmethod
    def remember(self, account: str, address: str) -> None:
        """Note a successful login of ``account`` from ``address``."""

    @abstractmethod
    def knows(self, account: str, address: str) -> bool:
        """Whether ``account`` logged in from ``address`` lately."""
