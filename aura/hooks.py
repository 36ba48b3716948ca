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
registry keeps one start per kind of work (:func:`compose`), and with none attached the work
pays one ``is None`` check. The start runs in the caller's context (the publisher's, the
handler's module, the caller of the service) and the end in the same context, so a context
variable set at the start (``opentelemetry.context.attach``) is reset at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from aura.exceptions import ConfigurationError

if TYPE_CHECKING:
    from aura.events import Event

__all__ = [
    "Finish",
    "Interceptor",
    "PublishFinish",
    "Start",
    "compose",
    "end",
    "finish_failed",
    "split",
    "start_failed",
    "started",
]

logger = logging.getLogger("aura.hooks")

Finish = Callable[[BaseException | None], None]
"""Called once when the work ends: with its exception, or ``None`` when it succeeded."""

PublishFinish = Callable[["Event | None", BaseException | None], None]
"""Called once when a publish was accepted (with its envelope) or refused (with the error)."""

Start = Callable[..., Callable[..., None] | None]
"""Every attached hook of one kind, started at once (see :func:`compose`)."""


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


def compose(hooks: tuple[Callable[..., Any], ...]) -> Start | None:
    """One start for ``hooks``, built when an interceptor is attached or detached: it starts
    each hook and returns one finish for those that asked to hear of the end (``None`` when
    none did); ``None`` when there are no hooks, so the work pays one ``is None`` check.

    The usual case, one interceptor, is its hook itself: no list of finishes is made per call.
    Callers guard the start they call, and the finish it returns: an interceptor that raises is
    logged on ``aura.hooks`` (:func:`start_failed`, :func:`finish_failed`) and left out, since
    watching the work must never stop it.
    """
    if not hooks:
        return None
    if len(hooks) == 1:
        return hooks[0]

    def start_each(*args: Any) -> Callable[..., None] | None:
        finishes: list[Callable[..., None]] = []
        for hook in hooks:
            try:
                finish = hook(*args)
            except Exception:
                start_failed(hook)
                continue
            if finish is not None:
                finishes.append(finish)
        if not finishes:
            return None
        if len(finishes) == 1:
            return finishes[0]
        finishes.reverse()  # they nest: the last started ends first

        def finish_each(*outcome: Any) -> None:
            for finish in finishes:
                end(finish, *outcome)

        return finish_each

    return start_each


def started(start: Start, *args: Any) -> Callable[..., None] | None:
    """Call ``start`` with ``args``; its finish, or ``None`` when it wants none or raised (then
    logged: the work goes on)."""
    try:
        return start(*args)
    except Exception:
        start_failed(start)
        return None


def start_failed(start: Start) -> None:
    """Log that an interceptor raised at the start (the work goes on without its finish)."""
    logger.exception("Interceptor %r failed at the start; the work goes on.", start)


def finish_failed(finish: Callable[..., None]) -> None:
    """Log that an interceptor's finish raised (the work goes on)."""
    logger.exception("Interceptor finish %r failed; the work goes on.", finish)


def end(finish: Callable[..., None], *outcome: Any) -> None:
    """Call a finish with ``outcome``; log what it raises (the work goes on)."""
    try:
        finish(*outcome)
    except Exception:
        finish_failed(finish)
