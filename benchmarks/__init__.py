"""Aura side by side with the libraries a user would pick instead, as ratios measured in one run.

``python -m benchmarks`` (``make bench``) runs every area below in its own process, prints a
table and writes ``benchmarks/results/latest.json``. An area is a module of this package that
defines ``AREA`` (an :class:`benchmarks.core.Area`); adding one means writing that module and
naming it here.
"""

AREAS = (
    "bus",
    "container",
    "registry",
    "breaker",
    "harness",
    "store",
    "postgres",
    "architecture",
    "boundaries",
    "telemetry",
)
"""The areas, in the order they run and are reported."""
