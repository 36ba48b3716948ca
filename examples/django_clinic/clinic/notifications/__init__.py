"""The notifications module: patients are told of their bookings and cancellations."""

import clinic.contracts  # noqa: F401  (registers the events' contracts)
from aura import Module
from clinic.notifications.sms import LoggedSms, SmsGateway

module = Module("notifications", description="What patients are told, and by SMS.")
module.provide(SmsGateway, LoggedSms)
# Its handlers are attached by NotificationsConfig.ready() (handlers.py uses the models).
