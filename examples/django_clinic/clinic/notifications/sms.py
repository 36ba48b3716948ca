"""How notifications reach a patient's phone: the module's SmsGateway."""

import logging
from typing import Protocol

logger = logging.getLogger("clinic.notifications")


class SmsGateway(Protocol):
    """Sends a text message to a patient; raises if it cannot."""

    def send(self, patient_id: int, text: str) -> None:
        """Send ``text`` to patient ``patient_id``'s phone."""
        ...


class LoggedSms:
    """The example's gateway: logs each message (a real clinic calls its SMS provider here)."""

    def send(self, patient_id: int, text: str) -> None:
        """Log ``text`` as sent to patient ``patient_id``."""
        logger.info("sms.sent patient=%s text=%r", patient_id, text)
