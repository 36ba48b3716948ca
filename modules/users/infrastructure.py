"""The users module's storage: the ``users_users`` table in the platform's SQLite database."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from aura.database import Database
from modules.users.domain import Registration, Role, User, UserRepository, UserUnitOfWork

__all__ = ["SqliteUserRepository", "create_tables", "unit_of_work"]

# AUTOINCREMENT so that a user id, once handed to other modules, never names someone else.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS users_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('patient', 'therapist')),
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    registered_at TEXT NOT NULL,
    deactivated_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS users_users_email ON users_users (email);
"""

_COLUMNS = "id, email, name, role, active, registered_at, deactivated_at"


def create_tables(database: Database) -> None:
    """Create the module's tables and indexes if they do not exist (a start hook)."""
    database.executescript(_SCHEMA)


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
