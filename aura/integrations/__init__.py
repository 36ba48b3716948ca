"""Adapters between Aura and the libraries an existing codebase already uses.

Each adapter lives in a module of its own and imports its library only when it is used, so
``aura.integrations`` loads with Aura's core alone:

- :mod:`aura.integrations.blinker`: a blinker signal's sends recorded as events of the test's
  trace (:func:`aura.integrations.blinker.bridge_signal`);
- :mod:`aura.integrations.django_signals`: the same for Django signals, ``post_save`` and its
  model instances included (:func:`aura.integrations.django_signals.bridge_signal`).

Both feed an :class:`aura.testing.bridge.Bridge`, the current test's by default, and are
disconnected when it closes.
"""

from __future__ import annotations

__all__: list[str] = []
