"""Blinker signals as event sources: each send of a signal recorded as an event of the trace.

``bridge_signal(order_placed, "order.placed", "orders")`` connects a receiver to the signal that
records every ``order_placed.send(sender, **kwargs)`` in the current test's bridge as an
``order.placed`` event from ``orders``, its data the send's keyword arguments (or what ``data``
maps them to). The receiver is connected strongly (blinker holds receivers weakly by default,
and this one has no other owner) and disconnected when the bridge closes, at the end of the
test; the function returned disconnects it sooner.

blinker is imported by the code that made the signal, never by this module: an object can be a
blinker signal only once blinker is loaded.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from aura.exceptions import ConfigurationError
from aura.testing.bridge import Bridge, bridge_for

__all__ = ["bridge_signal"]


def bridge_signal(
    signal: object,
    event_type: str,
    source_module: str | Callable[[Any], str],
    *,
    data: Callable[..., Mapping[str, Any]] | None = None,
    sender: object = None,
    bridge: Bridge | None = None,
) -> Callable[[], None]:
    """Record each send of the blinker ``signal`` as an ``event_type`` event; return a disconnect.

    ``source_module`` is the publishing module's name, or a function of the send's sender
    returning it. ``data`` maps a send, ``(sender, **kwargs)``, to the event's JSON data; by
    default the data is the keyword arguments. ``sender`` limits the bridge to sends by that
    sender (``None``: every sender). ``bridge`` defaults to the bridge in force (the test's
    ``aura_bridge``), which disconnects the signal when it closes.
    """
    blinker = sys.modules.get("blinker")
    if blinker is None or not isinstance(signal, blinker.Signal):
        raise ConfigurationError(
            f"bridge_signal needs a blinker signal (blinker.Signal), got "
            f"{type(signal).__name__} ({signal!r}). Pass the signal itself, e.g. "
            "blinker.signal('order-placed')."
        )
    target = bridge_for(bridge, "bridge_signal")
    name = getattr(signal, "name", None)
    origin = f"the blinker signal {name!r}" if isinstance(name, str) else "a blinker signal"
    receiver = target.signal_receiver(event_type, source_module, data=data, origin=origin)
    chosen = blinker.ANY if sender is None else sender
    signal.connect(receiver, sender=chosen, weak=False)
    return target.until_closed(lambda: signal.disconnect(receiver, sender=chosen))
