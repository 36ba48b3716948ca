"""Notifications storage and email backends on the platform's SQLite database."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime
from typing import Any

from aura.database import Database
from aura.registry import ServiceRegistry
from contracts.users import UserServiceContract
from modules.notifications.domain import (
    EmailBackend,
    Notification,
    NotificationRepository,
    NotificationStatus,
    NotificationUnitOfWork,
    Recipients,
)

__all__ = [
    "FailingEmailBackend",
    "OutboxEmailBackend",
    "RegistryRecipients",
    "SqliteNotificationRepository",
    "create_tables",
    "unit_of_work",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications_notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient_id INTEGER NOT NULL,
    channel TEXT NOT NULL,
    template TEXT NOT NULL,
    reference TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sent', 'failed')),
    error TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notifications_notifications_recipient
    ON notifications_notifications (recipient_id);
-- A redelivered event must not send twice: at most one sent row per recipient and message.
CREATE UNIQUE INDEX IF NOT EXISTS notifications_notifications_sent_once
    ON notifications_notifications (recipient_id, template, reference)
    WHERE status = 'sent';
CREATE TABLE IF NOT EXISTS notifications_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""


def create_tables(database: Database) -> None:
    """Create the module's tables (start hook); safe to run on an existing database."""
    database.executescript(SCHEMA)


def unit_of_work(database: Database) -> NotificationUnitOfWork:
    """Return the module's unit of work: the platform's database, which holds the events too."""
    return database


class RegistryRecipients(Recipients):
    """Finds recipients by asking the users module's ``UserService`` in the registry, per call.

    Never kept between calls, so a users service replaced later (a test's stub) is the one asked,
    through the registry's proxy for this module (breaker, recorded calls).
    """

    def __init__(self, registry: ServiceRegistry) -> None:
        self.registry = registry

    def get_user_by_id(self, user_id: int) -> dict[str, Any] | None:
        """Return the user, or ``None``."""
        users: UserServiceContract = self.registry.get_service("users", "UserService")
        return users.get_user_by_id(user_id)


class SqliteNotificationRepository(NotificationRepository):
    """Stores notification attempts in ``notifications_notifications``."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def add(self, notification: Notification) -> Notification:
        """Insert a notification; return it with its new id."""
        cursor = self.database.execute(
            "INSERT INTO notifications_notifications "
            "(recipient_id, channel, template, reference, status, error, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                notification.recipient_id,
                notification.channel,
                notification.template,
                notification.reference,
                notification.status.value,
                notification.error,
                notification.created_at.isoformat(),
            ),
        )
        return dataclasses.replace(notification, id=cursor.lastrowid)

    def find_sent(self, recipient_id: int, template: str, reference: str) -> Notification | None:
        """Return the sent notification for this recipient, template and reference, if any."""
        row = self.database.query_one(
            "SELECT * FROM notifications_notifications WHERE recipient_id = ? AND template = ? "
            "AND reference = ? AND status = 'sent'",
            (recipient_id, template, reference),
        )
        return _from_row(row) if row is not None else None

    def for_recipient(self, recipient_id: int) -> list[Notification]:
        """Return a user's notifications, oldest first."""
        rows = self.database.query(
            "SELECT * FROM notifications_notifications WHERE recipient_id = ? ORDER BY id",
            (recipient_id,),
        )
        return [_from_row(row) for row in rows]


def _from_row(row: sqlite3.Row) -> Notification:
    return Notification(
        recipient_id=row["recipient_id"],
        template=row["template"],
        reference=row["reference"],
        status=NotificationStatus(row["status"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        error=row["error"],
        channel=row["channel"],
        id=row["id"],
    )


# --- email backends ------------------------------------------------------------------------------


class OutboxEmailBackend(EmailBackend):
    """The default backend: writes each email to ``notifications_outbox`` for a relay to send.

    Writing to a table inside the caller's transaction means an email is queued exactly when
    its notification record commits (the transactional outbox pattern).
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    def send(self, to: str, subject: str, body: str) -> None:
        """Queue one email in the outbox."""
        self.database.execute(
            "INSERT INTO notifications_outbox (recipient, subject, body, created_at) "
            "VALUES (?, ?, ?, ?)",
            (to, subject, body, datetime.now(UTC).isoformat()),
        )


class FailingEmailBackend(EmailBackend):
    """A test double that refuses every email with ``ConnectionError(error)``, and records it.

    Swap it in with ``platform.container.override(EmailBackend, FailingEmailBackend())``.
    """

    def __init__(self, error: str = "smtp down") -> None:
        self.error = error
        self.attempts: list[tuple[str, str, str]] = []

    def send(self, to: str, subject: str, body: str) -> None:
        """Record the attempt, then fail as an unreachable mail server would."""
        self.attempts.append((to, subject, body))
        raise ConnectionError(self.error)
