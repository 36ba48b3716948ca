"""Around-the-call hooks: code that runs when a publish, a delivery or a cross-module call
starts, and again when it ends, in the context the work runs in.

Observers (``bus.add_observer``, ``registry.add_observer``) hear of a call after it ended; an
:class:`Interceptor` surrounds it, so it can open a tracing span that the handler's or the
service's own spans nest under, measure it, or log it. Subclass it and override the methods you
need; each returns the function to call when the work ends (with the exception it raised, or
``None``), or ``None`` when it does not need to hear of the end::

    class Timing(Interceptor):
        def delivering(self, event, subscriber_module, handler_name):
            started = time.perf_counter()
            return lambda error: print(handler_name, time.perf_counter() - started, error)

    platform.add_interceptor(Timing())

Which methods an interceptor overrides is decided once, when it is attached: a bus or
registry keeps one tuple per kind of work, and with none attached the work pays one empty
tuple check. The start runs in the caller's context (the publisher's, the handler's module, the
caller of the service) and the end in the same context, so a context variable set at the start
(``opentelemetry.context.attach``) is reset at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from aura.exceptions import ConfigurationError

if TYPE_CHECKING:
    from aura.events import Event

__all__ = ["Finish", "Interceptor", "PublishFinish", "finish_all", "split", "start_all"]

logger = logging.getLogger("aura.hooks")

Finish = Callable[[BaseException | None], None]
"""Called once when the work ends: with its exception, or ``None`` when it succeeded."""

PublishFinish = Callable[["Event | None", BaseException | None], None]
"""Called once when a publish was accepted (with its envelope) or refused (with the error)."""


class Interceptor:
    """Surrounds publishes, deliveries and cross-module calls; override what you need."""

    def publishing(
        self, event_id: str, event_type: str, source_module: str, metadata: MutableMapping[str, Any]
    ) -> PublishFinish | None:
        """An event is about to be built and accepted (validated, stored, announced).

        ``metadata`` becomes the envelope's metadata: add to it what must travel with the
        event (a trace context). The finish is called once the event is accepted, before its
        handlers run, or with the error that refused it.
        """
        return None

    def delivering(self, event: Event, subscriber_module: str, handler_name: str) -> Finish | None:
        """``event`` is about to be handed to one subscriber; the finish gets its outcome."""
        return None

    def calling(
        self, caller_module: str | None, provider_module: str, service_name: str, method: str
    ) -> Finish | None:
        """A cross-module service call is about to run (past its breaker and timeout)."""
        return None


_KINDS = ("publishing", "delivering", "calling")


def split(interceptor: object) -> dict[str, Callable[..., Any]]:
    """The bound methods ``interceptor`` overrides, by kind; refuse what is not an interceptor."""
    if not isinstance(interceptor, Interceptor):
        raise ConfigurationError(
            f"An interceptor must be an aura.hooks.Interceptor, got {interceptor!r}. Subclass "
            "Interceptor and override publishing(), delivering() or calling()."
        )
    kinds = {
        kind: getattr(interceptor, kind)
        for kind in _KINDS
        if getattr(type(interceptor), kind) is not getattr(Interceptor, kind)
    }
    if not kinds:
        raise ConfigurationError(
            f"{type(interceptor).__qualname__} overrides none of publishing(), delivering() "
            "and calling(), so attaching it would do nothing. Override at least one."
        )
    return kinds


def start_all(hooks: tuple[Callable[..., Any], ...], *args: Any) -> list[Callable[..., None]]:
    """Start each hook; return the finishes to call at the end.

    An interceptor that raises is logged on ``aura.hooks`` and left out: watching the work
    must never stop it.
    """
    finishes = []
    for hook in hooks:
        try:
            finish = hook(*args)
        except Exception:
            logger.exception("Interceptor %r failed at the start; the work goes on.", hook)
            continue
        if finish is not None:
            finishes.append(finish)
    return finishes


def finish_all(finishes: list[Callable[..., None]], *outcome: Any) -> None:
    """Call each finish with ``outcome``, last started first (they nest); log what raises."""
    for finish in reversed(finishes):
        try:
            finish(*outcome)
        except Exception:
            logger.exception("Interceptor finish %r failed; the work goes on.", finish)
