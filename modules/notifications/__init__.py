"""The notifications module: emails patients and therapists about sessions and payments.

Every attempt is recorded in ``notifications_notifications`` and announced with
``notification.sent`` or ``notification.failed``; a failed email never undoes what caused it.
The email backend is a port the service receives when it is built: ``OutboxEmailBackend`` by
default, swapped in tests with ``platform.container.override(EmailBackend, FailingEmailBackend())``
entered before the service is first used (a service built inside the block is rebuilt after it).
"""

from __future__ import annotations

from aura.module import Module
from contracts.notifications import EmailServiceContract
from modules.notifications.api import add_routes
from modules.notifications.application import EmailService
from modules.notifications.domain import (
    EmailBackend,
    NotificationRepository,
    NotificationUnitOfWork,
    Recipients,
)
from modules.notifications.handlers import (
    on_payment_failed,
    on_session_cancelled,
    on_session_scheduled,
)
from modules.notifications.infrastructure import (
    OutboxEmailBackend,
    RegistryRecipients,
    SqliteNotificationRepository,
    create_tables,
    unit_of_work,
)

__all__ = ["module"]

module = Module(
    "notifications",
    depends_on=["users"],
    description="Emails patients and therapists about their sessions and payments.",
)
module.publishes("notification.sent", "notification.failed")
module.provide(NotificationRepository, SqliteNotificationRepository)
# Transient: the unit of work is the platform's database, which the container must not dispose.
module.provide(NotificationUnitOfWork, unit_of_work, lifetime="transient")
module.provide(EmailBackend, OutboxEmailBackend)
module.provide(Recipients, RegistryRecipients)
# The seed resolves this service as both 'email_service' and 'notification_service'.
module.add_service(
    "EmailService",
    EmailService,
    contract=EmailServiceContract,
    aliases=["notification_service"],
)
module.on_start(create_tables)
module.subscribe("therapy_session.scheduled")(on_session_scheduled)
module.subscribe("therapy_session.cancelled")(on_session_cancelled)
module.subscribe("payment.failed")(on_payment_failed)
add_routes(module)
