"""The users module's use cases: register, look up, update and deactivate users; set their
passwords and check them at login."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aura.bus import EventBus
from aura.exceptions import AuthenticationError
from contracts.events import UserDeactivatedEvent, UserRegisteredEvent, UserUpdatedEvent
from contracts.users import UserServiceContract
from modules.users.domain import (
    STALE_TOKEN,
    Attempts,
    KnownAddresses,
    PasswordHasher,
    Registration,
    User,
    UserRepository,
    UserUnitOfWork,
    check_password,
    credential_stamp,
    email_taken,
    invalid_credentials,
    try_normalise_email,
    user_not_found,
    wrong_current_password,
)

__all__ = ["UserService"]


class UserService(UserServiceContract):
    """Registers users, checks their passwords, and answers other modules' questions about them.

    Each change is validated first, written in one transaction, and announced on the bus only
    after it committed; a refusal writes and publishes nothing. Its ports (the repository, the
    password hasher, the unit of work) come through the constructor: the module's ``__init__``
    wires the adapters. Passwords are hashed before a transaction opens (hashing is slow on
    purpose), and no method returns or logs a hash.
    """

    def __init__(
        self,
        repository: UserRepository,
        unit_of_work: UserUnitOfWork,
        bus: EventBus,
        passwords: PasswordHasher,
        login_attempts: Attempts,
        known_addresses: KnownAddresses,
    ) -> None:
        self.repository = repository
        self.unit_of_work = unit_of_work
        self.bus = bus
        self.passwords = passwords
        self.login_attempts = login_attempts
        self.known_addresses = known_addresses

    # --- queries: called by every other module, so each is one primary-key lookup -------------

    def get_user_by_id(self, user_id: int) -> dict[str, Any] | None:
        """Get user by ID, or ``None`` when there is no such user."""
        user = self._find(user_id)
        return _as_dict(user) if user is not None else None

    def get_user_profile(self, user_id: int) -> dict[str, Any]:
        """Return a user's profile; raise ``NotFoundError`` for an unknown user."""
        return _as_dict(self._get(user_id))

    def is_user_active(self, user_id: int) -> bool:
        """Check if user is active (an unknown user is not)."""
        user = self._find(user_id)
        return user is not None and user.active

    # --- commands -----------------------------------------------------------------------------

    def register_user(
        self, email: str, name: str, role: str, *, password: str | None = None
    ) -> dict[str, Any]:
        """Register a user; return them and publish user.registered.

        With ``password`` they can log in; without, not until one is set for them.
        """
        registration = Registration.create(email, name, role, datetime.now(UTC))
        password_hash = None if password is None else self.passwords.hash(check_password(password))
        with self.unit_of_work.transaction():
            self._check_email_free(registration.email, owner_id=None)
            user = self.repository.add(registration)
            if password_hash is not None:
                self.repository.set_password_hash(user.id, password_hash)
            # Published inside the transaction: recorded with the user, delivered on commit.
            self.bus.publish(
                UserRegisteredEvent(
                    user_id=user.id,
                    email=user.email,
                    name=user.name,
                    role=user.role.value,
                    registered_at=user.registered_at,
                )
            )
        return _as_dict(user)

    def update_profile(
        self, user_id: int, *, name: str | None = None, email: str | None = None
    ) -> dict[str, Any]:
        """Change a user's name or email; publish user.updated only if something changed."""
        with self.unit_of_work.transaction():
            updated, changed = self._get(user_id).with_profile(name=name, email=email)
            if "email" in changed:
                self._check_email_free(updated.email, owner_id=updated.id)
            if changed:
                self.repository.save(updated)
                self.bus.publish(
                    UserUpdatedEvent(
                        user_id=updated.id, changed_fields=changed, updated_at=datetime.now(UTC)
                    )
                )
        return _as_dict(updated)

    def deactivate_user(self, user_id: int) -> dict[str, Any]:
        """Deactivate a user's account; publish user.deactivated."""
        now = datetime.now(UTC)
        with self.unit_of_work.transaction():
            user = self._get(user_id).deactivated(now)
            self.repository.save(user)
            self.bus.publish(
                UserDeactivatedEvent(user_id=user.id, role=user.role.value, deactivated_at=now)
            )
        return _as_dict(user)

    # --- passwords ----------------------------------------------------------------------------

    def log_in(self, email: str, password: str, *, address: str | None = None) -> dict[str, Any]:
        """Return the active user with this email and password; refuse anything else alike.

        An unknown (or invalid) email, a user without a password, a wrong password and a
        deactivated user all raise the same ``AuthenticationError``, after one password
        verification each, so neither the answer nor its timing says which it was.

        Attempts are counted per email, registered or not, before the password is verified (so
        concurrent guesses cannot all pass): past ``login_attempts``' limit every login for it
        is refused with ``RateLimitedError`` (429) until the window moves on, whichever
        ``address`` (the client's) it comes from — except from an address the account logged
        in from lately (``known_addresses``), so that whoever exhausts the limit does not lock
        the owner out. A successful login clears the count. A hash made with older parameters
        is replaced by one made with today's.
        """
        normal = try_normalise_email(email)
        key = normal if normal is not None else str(email).strip().casefold()
        if address is None or not self.known_addresses.knows(key, address):
            self.login_attempts.attempt(key, "failed logins for this email")
        user = self.repository.find_by_email(normal) if normal is not None else None
        stored = self.repository.get_password_hash(user.id) if user is not None else None
        if user is None or stored is None:
            self.passwords.verify_dummy(password)
            raise invalid_credentials()
        if not self.passwords.verify(stored, password) or not user.active:
            raise invalid_credentials()
        self.login_attempts.clear(key)
        if address is not None:
            self.known_addresses.remember(key, address)
        if self.passwords.needs_rehash(stored):
            renewed = self.passwords.hash(password)
            with self.unit_of_work.transaction():
                self.repository.set_password_hash(user.id, renewed)
        return _as_dict(user)

    def credential_stamp(self, user_id: int) -> str | None:
        """The stamp of the user's current password (see :func:`credential_stamp`), which a
        login puts in the token; ``None`` for a user without a password."""
        stored = self.repository.get_password_hash(self._get(user_id).id)
        return credential_stamp(stored) if stored is not None else None

    def check_token(self, user_id: int, stamp: object = None) -> None:
        """Refuse a token of a user who is gone or deactivated, or whose password changed.

        ``stamp`` is the token's credential stamp: when given it must be the current
        password's. A token without one (issued by an operator's ``aura token issue``) is
        checked for the user only. One answer, :data:`STALE_TOKEN`, for every refusal.
        """
        user = self._find(user_id)
        if user is None or not user.active:
            raise AuthenticationError(STALE_TOKEN)
        if stamp is not None:
            stored = self.repository.get_password_hash(user.id)
            if stored is None or credential_stamp(stored) != stamp:
                raise AuthenticationError(STALE_TOKEN)

    def change_password(
        self, user_id: int, current_password: str, new_password: str
    ) -> dict[str, Any]:
        """Replace a user's password, given their current one; return the user.

        A wrong current password (or none set yet) is refused with ``AccessDeniedError``, and
        counts as a failed login of the account.
        """
        user = self._get(user_id)
        check_password(new_password)
        # Guesses of the current password (a stolen token) count with the login's.
        self.login_attempts.attempt(user.email, "failed logins for this email")
        stored = self.repository.get_password_hash(user.id)
        if stored is None or not self.passwords.verify(stored, current_password):
            raise wrong_current_password()
        self.login_attempts.clear(user.email)
        return self._store_password(user, new_password)

    def reset_password(self, user_id: int, new_password: str) -> dict[str, Any]:
        """Set a user's password without their current one (an operator's act); return them."""
        user = self._get(user_id)
        check_password(new_password)
        return self._store_password(user, new_password)

    # --- helpers ------------------------------------------------------------------------------

    def _store_password(self, user: User, password: str) -> dict[str, Any]:
        password_hash = self.passwords.hash(password)
        with self.unit_of_work.transaction():
            self.repository.set_password_hash(user.id, password_hash)
        return _as_dict(user)

    def _find(self, user_id: int) -> User | None:
        # Ids are ints; anything else ("7", 7.0, True) names no user rather than being coerced.
        if type(user_id) is not int:
            return None
        return self.repository.get(user_id)

    def _get(self, user_id: int) -> User:
        user = self._find(user_id)
        if user is None:
            raise user_not_found(user_id)
        return user

    def _check_email_free(self, email: str, *, owner_id: int | None) -> None:
        holder = self.repository.find_by_email(email)
        if holder is not None and holder.id != owner_id:
            raise email_taken(email)


def _as_dict(user: User) -> dict[str, Any]:
    """Return the JSON-friendly user dict that the contract's methods hand out."""
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role.value,
        "active": user.active,
        "registered_at": user.registered_at.isoformat(),
    }
