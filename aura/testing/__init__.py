"""Aura's pytest harness: recorders, assertions, fakes, traces and factories.

The pytest plugin (``aura.testing.plugin``) is registered through the ``pytest11`` entry point.
The names below are imported on first use: the plugin imports this package, and a test session
that never uses Aura's fixtures imports none of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import pytest

# The assertion helpers raise plain AssertionErrors with rich messages; register the modules for
# pytest's assertion rewriting before they are imported.
pytest.register_assert_rewrite(
    "aura.testing.recorders", "aura.testing.matching", "aura.testing.bdd"
)

if TYPE_CHECKING:
    from aura.testing.fakes import FakeCall, RecordingFake, is_fake, stand_in_module
    from aura.testing.matching import ANY, where
    from aura.testing.plugin import FrozenClock, Overrides
    from aura.testing.recorders import PublishedEvents, ServiceCalls, Trace

__all__ = [
    "ANY",
    "FakeCall",
    "FrozenClock",
    "Overrides",
    "PublishedEvents",
    "RecordingFake",
    "ServiceCalls",
    "Trace",
    "is_fake",
    "stand_in_module",
    "where",
]

_HOMES = {
    "ANY": "aura.testing.matching",
    "FakeCall": "aura.testing.fakes",
    "FrozenClock": "aura.testing.plugin",
    "Overrides": "aura.testing.plugin",
    "PublishedEvents": "aura.testing.recorders",
    "RecordingFake": "aura.testing.fakes",
    "ServiceCalls": "aura.testing.recorders",
    "Trace": "aura.testing.recorders",
    "is_fake": "aura.testing.fakes",
    "stand_in_module": "aura.testing.fakes",
    "where": "aura.testing.matching",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
