"""The notifications use cases: render, send through the backend, record and announce."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aura.bus import EventBus
from contracts.notifications import EmailServiceContract
from modules.notifications.domain import (
    EmailBackend,
    Message,
    Notification,
    NotificationRepository,
    NotificationUnitOfWork,
    Recipients,
    Template,
    parse_time,
    payment_failed_message,
    payment_reference,
    session_cancelled_message,
    session_confirmation_message,
    session_notification_message,
    session_reference,
    unknown_user_error,
)

__all__ = ["EmailService"]

User = dict[str, Any]


class EmailService(EmailServiceContract):
    """Sends the platform's emails through a pluggable backend and records every attempt.

    A failed send is recorded and announced with ``notification.failed``, never raised: what
    caused the notification (a booking, a cancellation) stands. A message already sent to a
    recipient for the same template and reference is not sent again. Its ports (repository,
    unit of work, email backend, recipients) come through the constructor; the module's
    ``__init__`` wires the adapters.
    """

    def __init__(
        self,
        repository: NotificationRepository,
        unit_of_work: NotificationUnitOfWork,
        bus: EventBus,
        backend: EmailBackend,
        recipients: Recipients,
    ) -> None:
        self.repository = repository
        self.unit_of_work = unit_of_work
        self.bus = bus
        self.backend = backend
        self.recipients = recipients

    # --- use cases driven by other modules' events ----------------------------------------------

    def notify_session_scheduled(
        self,
        session_id: int,
        patient_id: int,
        therapist_id: int,
        scheduled_at: datetime | str | None = None,
    ) -> list[dict[str, Any]]:
        """Confirm a booked session to its patient and tell its therapist (the seed's flow)."""
        patient = self.recipients.get_user_by_id(patient_id)
        therapist = self.recipients.get_user_by_id(therapist_id)
        reference = session_reference(session_id)
        return [
            self.send_session_confirmation(patient, session_id, scheduled_at=scheduled_at)
            if patient is not None
            else self._unknown_recipient(patient_id, Template.SESSION_CONFIRMATION, reference),
            self.send_session_notification(therapist, session_id, scheduled_at=scheduled_at)
            if therapist is not None
            else self._unknown_recipient(therapist_id, Template.SESSION_NOTIFICATION, reference),
        ]

    def notify_session_cancelled(
        self, session_id: int, patient_id: int, therapist_id: int, reason: str
    ) -> list[dict[str, Any]]:
        """Tell a cancelled session's patient and therapist."""
        reference = session_reference(session_id)
        sent = []
        for user_id in (patient_id, therapist_id):
            user = self.recipients.get_user_by_id(user_id)
            sent.append(
                self.send_session_cancellation(user, session_id, reason)
                if user is not None
                else self._unknown_recipient(user_id, Template.SESSION_CANCELLED, reference)
            )
        return sent

    def notify_payment_failed(
        self,
        payment_id: int,
        patient_id: int,
        amount_cents: int,
        currency: str,
        reason: str,
        session_id: int | None = None,
    ) -> dict[str, Any]:
        """Tell a patient that their payment could not be taken."""
        patient = self.recipients.get_user_by_id(patient_id)
        if patient is None:
            return self._unknown_recipient(
                patient_id, Template.PAYMENT_FAILED, payment_reference(payment_id)
            )
        return self.send_payment_failure(
            patient, payment_id, amount_cents, currency, reason, session_id=session_id
        )

    # --- messages -------------------------------------------------------------------------------

    def send_session_confirmation(
        self, patient: User | int, session_id: int, *, scheduled_at: datetime | str | None = None
    ) -> dict[str, Any]:
        """Confirm a booked session to its patient (a user, or a user id as the seed passes)."""
        reference = session_reference(session_id)
        found = self._recipient(patient)
        if isinstance(found, int):
            return self._unknown_recipient(found, Template.SESSION_CONFIRMATION, reference)
        message = session_confirmation_message(
            found.get("name"), session_id, parse_time(scheduled_at)
        )
        return self._send(found, Template.SESSION_CONFIRMATION, message, reference)

    def send_session_notification(
        self, therapist: User | int, session_id: int, *, scheduled_at: datetime | str | None = None
    ) -> dict[str, Any]:
        """Tell a therapist (a user, or a user id) about a session booked with them."""
        reference = session_reference(session_id)
        found = self._recipient(therapist)
        if isinstance(found, int):
            return self._unknown_recipient(found, Template.SESSION_NOTIFICATION, reference)
        message = session_notification_message(
            found.get("name"), session_id, parse_time(scheduled_at)
        )
        return self._send(found, Template.SESSION_NOTIFICATION, message, reference)

    def _recipient(self, user: User | int) -> User | int:
        """The user given, or the one a user id names; the id itself when it names no one."""
        if isinstance(user, int):
            return self.recipients.get_user_by_id(user) or user
        return user

    def send_session_cancellation(
        self,
        user: User,
        session_id: int,
        reason: str,
        *,
        scheduled_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Tell a patient or therapist that a session was cancelled, and why."""
        message = session_cancelled_message(
            user.get("name"), session_id, reason, parse_time(scheduled_at)
        )
        return self._send(user, Template.SESSION_CANCELLED, message, session_reference(session_id))

    def send_payment_failure(
        self,
        patient: User,
        payment_id: int,
        amount_cents: int,
        currency: str,
        reason: str,
        *,
        session_id: int | None = None,
    ) -> dict[str, Any]:
        """Tell a patient that a payment failed, and why."""
        message = payment_failed_message(
            patient.get("name"), payment_id, amount_cents, currency, reason, session_id
        )
        return self._send(patient, Template.PAYMENT_FAILED, message, payment_reference(payment_id))

    def send_email(
        self, recipient: User, template: str, subject: str, body: str, reference: str
    ) -> dict[str, Any]:
        """Send one email unless already sent; record it and announce it; never raise on failure.

        Returns the notification record; for a message already sent, the earlier record (and
        nothing is published).
        """
        with self.unit_of_work.transaction():
            already = self.repository.find_sent(recipient["id"], template, reference)
            if already is not None:
                return already.to_dict()
            error = self._try_backend(recipient["email"], subject, body)
            now = datetime.now(UTC)
            attempt = (
                Notification.sent(recipient["id"], template, reference, now)
                if error is None
                else Notification.failed(recipient["id"], template, reference, error, now)
            )
            notification = self.repository.add(attempt)
            # Announced inside the transaction: recorded with the attempt, delivered on commit.
            return self._announce(notification)

    # --- queries --------------------------------------------------------------------------------

    def notifications_for(self, user_id: int) -> list[dict[str, Any]]:
        """Return every notification sent or attempted to a user, oldest first."""
        return [notification.to_dict() for notification in self.repository.for_recipient(user_id)]

    # --- internals ------------------------------------------------------------------------------

    def _send(
        self, recipient: User, template: Template, message: Message, reference: str
    ) -> dict[str, Any]:
        return self.send_email(recipient, template.value, message.subject, message.body, reference)

    def _try_backend(self, to: str, subject: str, body: str) -> str | None:
        """Hand the email to the backend; return why it failed, or ``None`` when it was sent."""
        try:
            # A savepoint: a backend failing half-way leaves nothing in the outbox.
            with self.unit_of_work.transaction():
                self.backend.send(to, subject, body)
        except Exception as error:  # any backend failure is recorded, never raised to the caller
            return str(error) or type(error).__name__
        return None

    def _unknown_recipient(
        self, user_id: int, template: Template, reference: str
    ) -> dict[str, Any]:
        """Record and announce a notification whose recipient is not a user."""
        failure = Notification.failed(
            user_id, template.value, reference, unknown_user_error(user_id), datetime.now(UTC)
        )
        with self.unit_of_work.transaction():
            notification = self.repository.add(failure)
            return self._announce(notification)

    def _announce(self, notification: Notification) -> dict[str, Any]:
        self.bus.publish(notification.event())
        return notification.to_dict()
