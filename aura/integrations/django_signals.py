"""Django signals as event sources: each send recorded as an event of the test's trace.

``bridge_signal(post_save, "order.saved", sender=Order)`` records every save of an ``Order`` in
the current test's bridge as an ``order.saved`` event whose data is :func:`model_data` of the
instance (``{"model": "shop.Order", "pk": 7, "created": true}``) and whose source module is the
model's app label; any :class:`django.dispatch.Signal` of the project's own works the same way,
its data then the send's keyword arguments. The receiver is connected strongly (Django holds
receivers weakly by default, and this one has no other owner) and disconnected when the bridge
closes, at the end of the test; the function returned disconnects it sooner.

Django is imported by the code that made the signal, never by this module: an object can be a
Django signal only once ``django.dispatch`` is loaded.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from aura.exceptions import ConfigurationError
from aura.testing.bridge import Bridge, bridge_for

__all__ = ["bridge_signal", "model_data"]

# Django's own signals, named in errors by the name they are imported under.
_DJANGO_SIGNALS = ("django.db.models.signals", "django.core.signals")


def bridge_signal(
    signal: object,
    event_type: str,
    source_module: str | Callable[[Any], str] | None = None,
    *,
    data: Callable[..., Mapping[str, Any]] | None = None,
    sender: object = None,
    bridge: Bridge | None = None,
) -> Callable[[], None]:
    """Record each send of the Django ``signal`` as an ``event_type`` event; return a disconnect.

    ``source_module`` is the publishing module's name, or a function of the sender returning
    it; by default, the app label of the sender (a model class, as for ``post_save``). ``data``
    maps a send, ``(sender, **kwargs)`` without Django's ``signal`` argument, to the event's
    JSON data; by default :func:`model_data`. ``sender`` limits the bridge to that sender, as
    ``Signal.connect`` does (``None``: every sender). ``bridge`` defaults to the bridge in force
    (the test's ``aura_bridge``), which disconnects the signal when it closes.
    """
    dispatch = sys.modules.get("django.dispatch")
    if dispatch is None or not isinstance(signal, dispatch.Signal):
        raise ConfigurationError(
            f"bridge_signal needs a Django signal (django.dispatch.Signal), got "
            f"{type(signal).__name__} ({signal!r}). Pass the signal itself, e.g. "
            "django.db.models.signals.post_save."
        )
    target = bridge_for(bridge, "bridge_signal")
    origin = _describe(signal)
    source = source_module if source_module is not None else _app_label_of(origin, event_type)
    inner = target.signal_receiver(
        event_type, source, data=data if data is not None else model_data, origin=origin
    )

    def receive(sender: Any, **kwargs: Any) -> None:
        kwargs.pop("signal", None)  # Django passes the signal itself; the bridge knows it
        inner(sender, **kwargs)

    signal.connect(receive, sender=sender, weak=False)
    return target.until_closed(lambda: signal.disconnect(receive, sender=sender))


def model_data(sender: Any, /, **kwargs: Any) -> Mapping[str, Any]:
    """The data of a model signal's send: the instance's model label and pk, and ``created``.

    ``{"model": "shop.Order", "pk": 7, "created": True}`` for ``post_save``; a pk that is not a
    JSON number or string (a UUID) is sent as its text. A send without a model ``instance``
    gives its keyword arguments unchanged.
    """
    instance = kwargs.get("instance")
    meta = getattr(instance, "_meta", None)
    if meta is None:
        return kwargs
    pk = getattr(instance, "pk", None)
    found: dict[str, Any] = {
        "model": str(meta.label),
        "pk": pk if pk is None or type(pk) in (int, str) else str(pk),
    }
    if "created" in kwargs:
        found["created"] = bool(kwargs["created"])
    return found


def _app_label_of(origin: str, event_type: str) -> Callable[[Any], str]:
    def app_label(sender: Any) -> str:
        label = getattr(getattr(sender, "_meta", None), "app_label", None)
        if isinstance(label, str):
            return label
        raise ConfigurationError(
            f"Cannot record a send of {origin} as {event_type!r}: its sender {sender!r} is not "
            "a model, so no app label names the source module. Pass source_module=...: a "
            "module name, or a function of the sender returning one."
        )

    return app_label


def _describe(signal: object) -> str:
    for module_name in _DJANGO_SIGNALS:
        module = sys.modules.get(module_name)
        for name, value in vars(module).items() if module is not None else ():
            if value is signal:
                return f"Django's {name} signal"
    return "a Django signal"
