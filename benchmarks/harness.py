"""The test harness: set up and tear down a fresh four-module platform, as each test gets one.

The platform is the reference one (``modules``: users, mentalhealth, notifications, billing) on
an in-memory SQLite database; discovery runs once, as the pytest plugin does once per session.
"""

from __future__ import annotations

from aura.platform import Platform
from aura.testing.recorders import Trace
from benchmarks.core import Area, Case, Namespace, Target

__all__ = ["AREA"]

_GROUP = "fresh platform per test"
_PLAIN = "Platform(...).start(); close()"
_FIXTURE = "+ Trace attached, defaults swapped (as aura_platform)"


def _setup() -> Namespace:
    return {"Platform": Platform, "Trace": Trace, "packages": Platform.discover("modules")}


AREA = Area(
    name="harness",
    title="Test harness: set-up and teardown of a fresh four-module platform",
    cases=(
        Case(
            _GROUP,
            _PLAIN,
            """
            platform = Platform(packages).start()
            platform.close()
            """,
            _setup,
        ),
        Case(
            _GROUP,
            _FIXTURE,
            """
            platform = Platform(packages)
            trace = Trace().attach(platform.bus, platform.registry)
            with platform.as_default():
                platform.start()
            trace.detach()
            platform.close()
            """,
            _setup,
        ),
    ),
    targets=(
        Target(f"{_GROUP} / {_PLAIN}", "≤ 1 ms", 1e6),
        Target(f"{_GROUP} / {_FIXTURE}", "≤ 1 ms", 1e6),
    ),
    notes=(
        "Each operation builds the container, registry, bus and in-memory SQLite database, "
        "applies the four modules, validates the container, runs the start hooks (creating the "
        "tables) and closes everything.",
    ),
    packages=("aura",),
)
