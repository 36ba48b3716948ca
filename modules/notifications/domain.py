"""The notifications domain: notification records, message templates and the ports they use."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypedDict

from contracts.events import NotificationFailedEvent, NotificationSentEvent
from contracts.unit_of_work import UnitOfWork

__all__ = [
    "EMAIL",
    "EmailBackend",
    "Message",
    "Notification",
    "NotificationRepository",
    "NotificationStatus",
    "NotificationUnitOfWork",
    "Recipients",
    "Template",
    "format_money",
    "format_time",
    "parse_time",
    "payment_failed_message",
    "payment_reference",
    "session_cancelled_message",
    "session_confirmation_message",
    "session_notification_message",
    "session_reference",
    "unknown_user_error",
]

EMAIL = "email"
"""The only channel so far; kept on each record so SMS or push can join without a migration."""


class NotificationStatus(StrEnum):
    """The outcome of one attempt to send a notification."""

    SENT = "sent"
    FAILED = "failed"


class Template(StrEnum):
    """The messages the platform sends, by the name recorded on each notification."""

    SESSION_CONFIRMATION = "session_confirmation"
    SESSION_NOTIFICATION = "session_notification"
    SESSION_CANCELLED = "session_cancelled"
    PAYMENT_FAILED = "payment_failed"


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """A rendered email: its subject and body."""

    subject: str
    body: str


@dataclasses.dataclass(frozen=True, slots=True)
class Notification:
    """One attempt to notify a user, sent or failed; ``id`` is set once it is stored."""

    recipient_id: int
    template: str
    reference: str
    status: NotificationStatus
    created_at: datetime
    error: str | None = None
    channel: str = EMAIL
    id: int | None = None

    @classmethod
    def sent(cls, recipient_id: int, template: str, reference: str, now: datetime) -> Notification:
        """Record a notification that left the platform."""
        return cls(recipient_id, template, reference, NotificationStatus.SENT, now)

    @classmethod
    def failed(
        cls, recipient_id: int, template: str, reference: str, error: str, now: datetime
    ) -> Notification:
        """Record a notification that could not be sent, and why."""
        return cls(recipient_id, template, reference, NotificationStatus.FAILED, now, error)

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-friendly data (the service's return value)."""
        return {
            "id": self.id,
            "recipient_id": self.recipient_id,
            "channel": self.channel,
            "template": self.template,
            "reference": self.reference,
            "status": self.status.value,
            "error": self.error,
            "created_at": self.created_at.isoformat(),
        }

    def event(self) -> NotificationSentEvent | NotificationFailedEvent:
        """Return the event announcing this stored attempt: ``notification.sent`` or ``.failed``."""
        assert self.id is not None  # only a stored attempt is announced
        attempt: _Attempt = {
            "notification_id": self.id,
            "recipient_id": self.recipient_id,
            "channel": self.channel,
            "template": self.template,
            "reference": self.reference,
        }
        if self.status is NotificationStatus.SENT:
            return NotificationSentEvent(**attempt, sent_at=self.created_at)
        return NotificationFailedEvent(**attempt, error=self.error or "", failed_at=self.created_at)


class _Attempt(TypedDict):
    """The fields both ``notification.*`` events start with."""

    notification_id: int
    recipient_id: int
    channel: str
    template: str
    reference: str


# --- ports ---------------------------------------------------------------------------------------


class EmailBackend(ABC):
    """Delivers an email somewhere: the outbox table by default, SMTP or a provider later."""

    @abstractmethod
    def send(self, to: str, subject: str, body: str) -> None:
        """Send one email; raise (``ConnectionError``, ...) when it cannot be sent."""


class Recipients(Protocol):
    """Who notifications go to: the users module answers, through its contract.

    Any ``UserServiceContract`` satisfies it (a test may pass a fake of the users service).
    """

    def get_user_by_id(self, user_id: int) -> dict[str, Any] | None:
        """Return the user (its ``id``, ``email`` and ``name``), or ``None``."""
        ...


class NotificationUnitOfWork(UnitOfWork, Protocol):
    """The transactions notifications are recorded in (the module's ``__init__`` wires them)."""


class NotificationRepository(ABC):
    """Stores every notification attempt."""

    @abstractmethod
    def add(self, notification: Notification) -> Notification:
        """Store a notification; return it with its new id."""

    @abstractmethod
    def find_sent(self, recipient_id: int, template: str, reference: str) -> Notification | None:
        """Return the notification already sent for this recipient, template and reference."""

    @abstractmethod
    def for_recipient(self, recipient_id: int) -> list[Notification]:
        """Return every notification attempted to a user, oldest first."""


# --- references and errors -----------------------------------------------------------------------


def session_reference(session_id: int) -> str:
    """Return what a session's notifications are about, as recorded: ``session:12``."""
    return f"session:{session_id}"


def payment_reference(payment_id: int) -> str:
    """Return what a payment's notifications are about, as recorded: ``payment:5``."""
    return f"payment:{payment_id}"


def unknown_user_error(user_id: int) -> str:
    """Return the error recorded when a recipient is not a user: ``Unknown user 99``."""
    return f"Unknown user {user_id}"


# --- formatting ----------------------------------------------------------------------------------


def parse_time(value: datetime | str | None) -> datetime | None:
    """Return an event's ISO-8601 time as a datetime; ``None`` stays ``None``."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def format_time(when: datetime) -> str:
    """Return a time as people read it: ``Monday 10 March 2025 at 15:00 UTC``."""
    zone = f" {when.tzname()}" if when.tzname() else ""
    return f"{when:%A} {when.day} {when:%B %Y at %H:%M}{zone}"


def format_money(amount_cents: int, currency: str) -> str:
    """Return an amount as people read it: ``80.00 EUR``."""
    sign = "-" if amount_cents < 0 else ""
    units, cents = divmod(abs(amount_cents), 100)
    return f"{sign}{units}.{cents:02d} {currency}"


# --- templates -----------------------------------------------------------------------------------


def _greeting(name: str | None) -> str:
    return f"Hello {name}," if name else "Hello,"


def _at(when: datetime | None) -> str:
    return f" on {format_time(when)}" if when is not None else ""


def session_confirmation_message(
    name: str | None, session_id: int, scheduled_at: datetime | None
) -> Message:
    """Render the confirmation a patient gets when their session is booked."""
    return Message(
        subject=f"Your therapy session{_at(scheduled_at)} is confirmed",
        body=(
            f"{_greeting(name)}\n\n"
            f"Your therapy session (#{session_id}){_at(scheduled_at)} is confirmed.\n"
            "If you cannot attend, please cancel it ahead of time.\n"
        ),
    )


def session_notification_message(
    name: str | None, session_id: int, scheduled_at: datetime | None
) -> Message:
    """Render the notice a therapist gets when a session is booked with them."""
    return Message(
        subject=f"New therapy session{_at(scheduled_at)}",
        body=(
            f"{_greeting(name)}\n\n"
            f"A patient booked a therapy session (#{session_id}) with you{_at(scheduled_at)}.\n"
        ),
    )


def session_cancelled_message(
    name: str | None, session_id: int, reason: str, scheduled_at: datetime | None = None
) -> Message:
    """Render the notice a patient or therapist gets when a session is cancelled."""
    because = f" Reason: {reason}." if reason else ""
    return Message(
        subject=f"Therapy session{_at(scheduled_at)} cancelled",
        body=(
            f"{_greeting(name)}\n\n"
            f"The therapy session (#{session_id}){_at(scheduled_at)} was cancelled.{because}\n"
        ),
    )


def payment_failed_message(
    name: str | None,
    payment_id: int,
    amount_cents: int,
    currency: str,
    reason: str,
    session_id: int | None = None,
) -> Message:
    """Render the notice a patient gets when their payment could not be taken."""
    what = f" for session #{session_id}" if session_id is not None else ""
    return Message(
        subject=f"Your payment of {format_money(amount_cents, currency)} failed",
        body=(
            f"{_greeting(name)}\n\n"
            f"We could not take your payment #{payment_id} of "
            f"{format_money(amount_cents, currency)}{what}: {reason}.\n"
            "Please check your payment method.\n"
        ),
    )
