"""Aura's pytest harness: recorders, assertions, fakes, traces and factories.

The pytest plugin (``aura.testing.plugin``) is registered through the ``pytest11`` entry point.
"""

from __future__ import annotations

import pytest

# The assertion helpers raise plain AssertionErrors with rich messages; register the modules for
# pytest's assertion rewriting before they are imported.
pytest.register_assert_rewrite(
    "aura.testing.recorders", "aura.testing.matching", "aura.testing.bdd"
)

from aura.testing.fakes import FakeCall, RecordingFake, is_fake, stand_in_module  # noqa: E402
from aura.testing.matching import ANY, where  # noqa: E402
from aura.testing.plugin import FrozenClock, Overrides  # noqa: E402
from aura.testing.recorders import PublishedEvents, ServiceCalls, Trace  # noqa: E402

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
