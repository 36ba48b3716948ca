"""The users module's adapters: the ``users_users`` table in the platform's SQLite database,
password hashing with Argon2id (argon2-cffi), and failed attempts counted in memory (limits)."""

from __future__ import annotations

import math
import secrets
import sqlite3
import threading
import time
from datetime import datetime

import argon2
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from aura.database import Database
from aura.exceptions import ConfigurationError, RateLimitedError
from modules.users.domain import (
    Attempts,
    KnownAddresses,
    PasswordHasher,
    Registration,
    Role,
    User,
    UserRepository,
    UserUnitOfWork,
)

__all__ = [
    "Argon2PasswordHasher",
    "MemoryAttempts",
    "MemoryKnownAddresses",
    "SqliteUserRepository",
    "create_tables",
    "owasp_argon2id",
    "unit_of_work",
]

# AUTOINCREMENT so that a user id, once handed to other modules, never names someone else.
# password_hash is NULL for a user who cannot log in (registered without a password).
_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('patient', 'therapist', 'operator')),
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    registered_at TEXT NOT NULL,
    deactivated_at TEXT,
    password_hash TEXT
)
"""
_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS users_users_email ON users_users (email)"
_SCHEMA = f"{_TABLE.format(name='users_users')};\n{_INDEX};\n"

# The columns of a profile: the password hash is read only by get_password_hash.
_COLUMNS = "id, email, name, role, active, registered_at, deactivated_at"


def create_tables(database: Database) -> None:
    """Create the module's tables and indexes if they do not exist (a start hook).

    A table made by an earlier version (no ``password_hash``, roles patient and therapist
    only) is rebuilt in one transaction with every row, id and the id sequence kept.
    """
    database.executescript(_SCHEMA)
    columns = {row["name"] for row in database.query("PRAGMA table_info(users_users)")}
    if "password_hash" not in columns:
        _upgrade_from_profiles_only(database)


def _upgrade_from_profiles_only(database: Database) -> None:
    """Rebuild ``users_users`` with today's schema (SQLite cannot alter a CHECK constraint)."""
    with database.transaction():
        database.execute(_TABLE.format(name="users_users_upgrade"))
        database.execute(
            f"INSERT INTO users_users_upgrade ({_COLUMNS}) SELECT {_COLUMNS} FROM users_users"
        )
        sequence = database.query_one("SELECT seq FROM sqlite_sequence WHERE name = 'users_users'")
        database.execute("DROP TABLE users_users")
        database.execute("ALTER TABLE users_users_upgrade RENAME TO users_users")
        if sequence is not None:  # ids handed out and rolled back stay used
            database.execute(
                "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'users_users'",
                (sequence["seq"],),
            )
        database.execute(_INDEX)


def unit_of_work(database: Database) -> UserUnitOfWork:
    """Return the module's unit of work: the platform's database, which holds the events too."""
    return database


class SqliteUserRepository(UserRepository):
    """Keeps users in ``users_users``; the email column is unique (stored normalised)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def add(self, registration: Registration) -> User:
        """Insert a new, active user and return it with its id."""
        cursor = self.database.execute(
            "INSERT INTO users_users (email, name, role, active, registered_at) "
            "VALUES (?, ?, ?, 1, ?)",
            (
                registration.email,
                registration.name,
                registration.role.value,
                registration.registered_at.isoformat(),
            ),
        )
        assert cursor.lastrowid is not None  # always set after a one-row INSERT
        return User(
            id=cursor.lastrowid,
            email=registration.email,
            name=registration.name,
            role=registration.role,
            active=True,
            registered_at=registration.registered_at,
        )

    def get(self, user_id: int) -> User | None:
        """Return the user with ``user_id``, or ``None``."""
        row = self.database.query_one(
            f"SELECT {_COLUMNS} FROM users_users WHERE id = ?", (user_id,)
        )
        return _user(row) if row is not None else None

    def find_by_email(self, email: str) -> User | None:
        """Return the user with this normalised email, or ``None``."""
        row = self.database.query_one(
            f"SELECT {_COLUMNS} FROM users_users WHERE email = ?", (email,)
        )
        return _user(row) if row is not None else None

    def save(self, user: User) -> None:
        """Write back an existing user's name, email and activity."""
        self.database.execute(
            "UPDATE users_users SET email = ?, name = ?, active = ?, deactivated_at = ? "
            "WHERE id = ?",
            (
                user.email,
                user.name,
                int(user.active),
                user.deactivated_at.isoformat() if user.deactivated_at else None,
                user.id,
            ),
        )

    def get_password_hash(self, user_id: int) -> str | None:
        """Return the user's password hash, or ``None`` (no password, or no such user)."""
        row = self.database.query_one(
            "SELECT password_hash FROM users_users WHERE id = ?", (user_id,)
        )
        return row["password_hash"] if row is not None else None

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Store a new password hash for the user."""
        self.database.execute(
            "UPDATE users_users SET password_hash = ? WHERE id = ?", (password_hash, user_id)
        )


def _user(row: sqlite3.Row) -> User:
    deactivated_at = row["deactivated_at"]
    return User(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        role=Role(row["role"]),
        active=bool(row["active"]),
        registered_at=datetime.fromisoformat(row["registered_at"]),
        deactivated_at=datetime.fromisoformat(deactivated_at) if deactivated_at else None,
    )


def owasp_argon2id() -> argon2.PasswordHasher:
    """Argon2id with OWASP's first recommended parameters: 19 MiB, 2 passes, 1 lane.

    Cheaper than argon2-cffi's default (64 MiB, 3 passes, 4 lanes), which takes a core for a
    third of a second on a small server: every login would cost that, and so would every
    attempt of a brute force the rate limit lets through.
    """
    return argon2.PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


class Argon2PasswordHasher(PasswordHasher):
    """Hashes with Argon2id through argon2-cffi (salted, memory-hard; the PHC string format).

    ``hasher`` sets the parameters (:func:`owasp_argon2id` unless given); a hash made with
    other parameters verifies, and :meth:`needs_rehash` says it should be replaced.
    """

    def __init__(self, hasher: argon2.PasswordHasher | None = None) -> None:
        self._argon2 = hasher if hasher is not None else owasp_argon2id()
        self._dummy: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        argon = self._argon2
        return (
            f"Argon2PasswordHasher(time_cost={argon.time_cost}, memory_cost={argon.memory_cost}, "
            f"parallelism={argon.parallelism})"
        )

    def hash(self, password: str) -> str:
        """Return a new Argon2id hash of ``password`` with a random salt."""
        return self._argon2.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """Tell whether ``password`` matches; a hash that is not Argon2's matches nothing."""
        try:
            return self._argon2.verify(password_hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Tell whether ``password_hash`` was made with other parameters than today's."""
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except argon2.exceptions.InvalidHashError:
            return True

    def verify_dummy(self, password: str) -> None:
        """Verify ``password`` against a hash of a random secret, so that a login for an
        unknown email costs what a real one does.

        The secret's hash is made with today's parameters on the first such login (which costs
        one hash more), not at start-up, so a platform that serves no login pays nothing.
        """
        with self._lock:
            if self._dummy is None:
                self._dummy = self.hash(secrets.token_urlsafe(32))
            dummy = self._dummy
        self.verify(dummy, password)


class MemoryAttempts(Attempts):
    """Failed attempts in this process's memory, in a moving window of the ``limits`` library.

    ``limit`` is how many failures a key may have in the window ("10 per 15 minutes"). One
    process's memory: behind several processes, give each the same store (``limits`` has
    Redis and Memcached ones) or the limit is per process.
    """

    def __init__(self, limit: str) -> None:
        try:
            self.limit = parse(limit)
        except (ValueError, TypeError):
            raise ConfigurationError(
                f"{limit!r} is not an attempts limit. Write e.g. '10 per 15 minutes'."
            ) from None
        self._written = limit  # "10 per 15 minutes", where limits would say "15 minute"
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def __repr__(self) -> str:
        return f"MemoryAttempts({self._written!r})"

    def attempt(self, key: str, what: str) -> None:
        """Count one attempt for ``key`` now (atomically); refuse when none is left."""
        if not self._limiter.hit(self.limit, key):
            self._refuse(key, what)

    def check(self, key: str, what: str) -> None:
        """Raise :exc:`~aura.exceptions.RateLimitedError` while ``key`` has no attempts left."""
        if not self._limiter.test(self.limit, key):
            self._refuse(key, what)

    def _refuse(self, key: str, what: str) -> None:
        reset_at, _ = self._limiter.get_window_stats(self.limit, key)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimitedError(
            f"Too many {what}: the limit is {self._written}. Try again in {retry_after} s.",
            retry_after=retry_after,
        )

    def failed(self, key: str) -> None:
        """Count one failed attempt for ``key``."""
        self._limiter.hit(self.limit, key)

    def clear(self, key: str) -> None:
        """Forget ``key``'s failures."""
        self._limiter.clear(self.limit, key)


class MemoryKnownAddresses(KnownAddresses):
    """The addresses each account logged in from in the last ``days``, in this process's memory
    (at most ``per_account`` per account, the most recent kept)."""

    def __init__(self, days: float = 30, per_account: int = 20) -> None:
        self.window = days * 86_400
        self.per_account = per_account
        self._seen: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryKnownAddresses(days={self.window / 86_400:g})"

    def remember(self, account: str, address: str) -> None:
        """Note a successful login of ``account`` from ``address`` now."""
        with self._lock:
            seen = self._seen.setdefault(account, {})
            seen.pop(address, None)
            seen[address] = time.time()
            while len(seen) > self.per_account:
                del seen[next(iter(seen))]  # the least recent

    def knows(self, account: str, address: str) -> bool:
        """Whether ``account`` logged in from ``address`` within the window."""
        with self._lock:
            at = self._seen.get(account, {}).get(address)
        return at is not None and time.time() - at <= self.window
