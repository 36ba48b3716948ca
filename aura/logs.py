"""Logging of the platform's own traffic: one record per published event, per delivery and per
cross-module call, through the standard :mod:`logging` module.

Every :class:`~aura.platform.Platform` attaches a :class:`TrafficLog` (``Platform(...,
log_traffic=False)`` leaves it out). Its records go to three loggers a team tunes like any
other:

- ``aura.events`` — ``users published user.registered (evt_…)``, at INFO;
- ``aura.deliveries`` — ``billing:on_session_scheduled handled therapy_session.scheduled
  (evt_…): ok in 0.41 ms``, at INFO, and at WARNING when the handler raised (the failure itself,
  with its traceback, is logged at ERROR on ``aura.bus``);
- ``aura.calls`` — ``mentalhealth called users.UserService.get_user_by_id: ok in 0.12 ms``, at
  INFO, and at WARNING when the call raised.

Each record also carries its fields as attributes (``event_id``, ``event_type``,
``correlation_id``, ``caller_module``, ``provider_module``, ``subscriber_module``, ``handler``,
``service``, ``method``, ``outcome``, ``duration_ms``), for a JSON formatter. A record below its
logger's level costs one level check. :class:`ContextFilter` adds the running flow's
correlation id, module, event and user to *any* record, the application's own included.
"""

from __future__ import annotations

import logging

from aura import context as _context
from aura.delivery import Delivery, Subscription
from aura.events import Event
from aura.registry import ServiceCall

__all__ = ["ContextFilter", "TrafficLog"]

EVENTS = logging.getLogger("aura.events")
DELIVERIES = logging.getLogger("aura.deliveries")
CALLS = logging.getLogger("aura.calls")


class TrafficLog:
    """Logs each published event, delivery and cross-module call (see the module docs).

    It is a bus observer (``on_published``, ``on_delivered``) and a registry observer (called
    with each :class:`~aura.registry.ServiceCall`): it reports what ended, after it ended. It
    takes a successful delivery in the raw form (``raw_deliveries``), so a platform whose only
    other observer is raw as well (the test harness's recorder) builds nothing per delivery
    for it; a record below its logger's level then costs one level check.
    """

    raw_deliveries = True

    def on_published(self, event: Event) -> None:
        """Log an accepted event (after its transaction committed, if any)."""
        if EVENTS.isEnabledFor(logging.INFO):
            EVENTS.info(
                "%s published %s (%s)",
                event.source_module,
                event.event_type,
                event.event_id,
                extra={
                    "event_id": event.event_id,
                    "event_type": event.event_type,
                    "source_module": event.source_module,
                    "correlation_id": event.correlation_id,
                },
            )

    def on_delivered(self, delivery: Delivery | tuple[Event, Subscription, float]) -> None:
        """Log one handler's outcome and duration: a :class:`~aura.delivery.Delivery`, or the
        raw tuple of one that succeeded (see :class:`~aura.delivery.BusObserver`)."""
        if not isinstance(delivery, Delivery):  # raw: it succeeded, nothing was built
            if DELIVERIES.isEnabledFor(logging.INFO):
                event, subscription, duration = delivery
                _log_delivery(
                    logging.INFO,
                    event,
                    subscription.subscriber_module,
                    subscription.handler_name,
                    "ok",
                    duration,
                )
            return
        error = delivery.error
        level = logging.INFO if error is None else logging.WARNING
        if DELIVERIES.isEnabledFor(level):
            _log_delivery(
                level,
                delivery.event,
                delivery.subscriber_module,
                delivery.handler_name,
                "ok" if error is None else type(error).__name__,
                delivery.duration,
            )

    def __call__(self, call: ServiceCall) -> None:
        """Log one cross-module call's outcome and duration."""
        level = logging.INFO if call.error is None else logging.WARNING
        if not CALLS.isEnabledFor(level):
            return
        duration_ms = call.duration * 1000
        caller = call.caller_module or "code outside any module"
        CALLS.log(
            level,
            "%s called %s.%s.%s: %s in %.2f ms",
            caller,
            call.provider_module,
            call.service_name,
            call.method,
            call.outcome,
            duration_ms,
            extra={
                "caller_module": call.caller_module,
                "provider_module": call.provider_module,
                "service": call.service_name,
                "method": call.method,
                "outcome": call.outcome,
                "duration_ms": duration_ms,
                "correlation_id": call.correlation_id,
            },
        )


def _log_delivery(
    level: int, event: Event, module: str, handler: str, outcome: str, duration: float
) -> None:
    duration_ms = duration * 1000
    DELIVERIES.log(
        level,
        "%s:%s handled %s (%s): %s in %.2f ms",
        module,
        handler,
        event.event_type,
        event.event_id,
        outcome,
        duration_ms,
        extra={
            "event_id": event.event_id,
            "event_type": event.event_type,
            "correlation_id": event.correlation_id,
            "subscriber_module": module,
            "handler": handler,
            "outcome": outcome,
            "duration_ms": duration_ms,
        },
    )


class ContextFilter(logging.Filter):
    """Adds the running flow's context to every record it sees, for ``%(correlation_id)s``.

    ``correlation_id``, ``aura_module`` (the module whose code runs), ``event_id`` (the event
    being handled) and ``user_id`` (on whose behalf): each is ``"-"`` outside a flow, and a
    value the record already has (from ``extra=``) is kept. Attach it to a handler, so that
    records of every logger passing through it get the fields::

        handler.addFilter(ContextFilter())
        handler.setFormatter(logging.Formatter("%(correlation_id)s %(aura_module)s %(message)s"))
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the fields; never drop a record."""
        fields = record.__dict__
        if fields.get("correlation_id") is None:
            record.correlation_id = _context._correlation_id.get() or "-"
        if "aura_module" not in fields:
            record.aura_module = _context._current_module.get() or "-"
        if fields.get("event_id") is None:
            event = _context._current_event.get()
            record.event_id = event.event_id if event is not None else "-"
        if "user_id" not in fields:
            user_id = _context._user_id.get()
            record.user_id = user_id if user_id is not None else "-"
        return True
