"""Matching recorded data against what a test expects: subsets, ``ANY`` and predicates.

The result of a match is data — a list of :class:`Mismatch` — that the assertion helpers render.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

__all__ = ["ANY", "Mismatch", "describe_value", "matches", "mismatches", "where"]


class _Any:
    """Matches any value, including a missing one's absence being checked elsewhere."""

    def __repr__(self) -> str:
        return "ANY"

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


ANY: Any = _Any()
"""Matches any value of a field that is present."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Predicate:
    test: Callable[[Any], bool]
    label: str

    def __repr__(self) -> str:
        return self.label


def where(test: Callable[[Any], bool], label: str | None = None) -> Any:
    """Match values for which ``test(value)`` is true; ``label`` names it in failure messages."""
    name = label or getattr(test, "__name__", "predicate")
    return _Predicate(test, f"<{name}>")


_MISSING = object()


@dataclasses.dataclass(frozen=True, slots=True)
class Mismatch:
    """One field whose recorded value differs from the expected one."""

    path: str
    expected: Any
    actual: Any

    @property
    def missing(self) -> bool:
        """Whether the field was absent altogether."""
        return self.actual is _MISSING

    def render(self) -> str:
        """Render as ``path=actual (≠ expected)`` or ``path missing (expected …)``."""
        if self.missing:
            return f"{self.path} missing (expected {describe_value(self.expected)})"
        return f"{self.path}={describe_value(self.actual)} (≠ {describe_value(self.expected)})"


def describe_value(value: Any) -> str:
    """Render a value compactly for failure messages."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def mismatches(actual: Any, expected: Any, path: str = "") -> list[Mismatch]:
    """Compare ``actual`` with ``expected`` (a nested subset); return every difference."""
    if expected is ANY:
        return []
    if isinstance(expected, _Predicate):
        try:
            ok = bool(expected.test(actual))
        except Exception:  # a predicate that cannot judge the value does not match it
            ok = False
        return [] if ok else [Mismatch(path, expected, actual)]
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [Mismatch(path, expected, actual)]
        found: list[Mismatch] = []
        for key, wanted in expected.items():
            child = f"{path}.{key}" if path else str(key)
            if key not in actual:
                found.append(Mismatch(child, wanted, _MISSING))
            else:
                found.extend(mismatches(actual[key], wanted, child))
        return found
    if isinstance(expected, list | tuple) and isinstance(actual, Sequence):
        if isinstance(actual, str) or len(actual) != len(expected):
            return [Mismatch(path, expected, actual)]
        found = []
        for index, (item, wanted) in enumerate(zip(actual, expected, strict=True)):
            found.extend(mismatches(item, wanted, f"{path}[{index}]"))
        return found
    if isinstance(expected, datetime) and isinstance(actual, str):
        try:
            return (
                []
                if datetime.fromisoformat(actual) == expected
                else [Mismatch(path, expected, actual)]
            )
        except ValueError:
            return [Mismatch(path, expected, actual)]
    if actual != expected or (
        # JSON tells true from 1 and 1.0 from 1; so does a spec.
        (isinstance(actual, bool) or isinstance(expected, bool))
        and type(actual) is not type(expected)
    ):
        return [Mismatch(path, expected, actual)]
    return []


def matches(actual: Any, expected: Any) -> bool:
    """Tell whether ``actual`` matches the subset ``expected``."""
    return not mismatches(actual, expected)
