"""The naming rules of Aura: event types, subscription patterns and module names.

Names are checked once where they enter (publish, subscribe, register); valid ones are cached so
the check costs a set lookup afterwards.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from aura.exceptions import InvalidEventTypeError, InvalidNameError

__all__ = [
    "MAX_NAME_LENGTH",
    "MODULE_NAME_RULE",
    "check_event_type",
    "check_module_name",
    "check_pattern",
    "did_you_mean",
    "not_publishable",
    "pattern_matches",
    "patterns_overlap",
    "snake_case",
]

_WORD = r"[a-z][a-z0-9_]*"
_EVENT_TYPE = re.compile(rf"{_WORD}(?:\.{_WORD})+")
_PATTERN = re.compile(rf"\*|(?:{_WORD}|\*)(?:\.(?:{_WORD}|\*))+")
_MODULE_NAME = re.compile(_WORD)
_SHOWN = 60
MAX_NAME_LENGTH = 200
"""The longest event type, pattern or module name accepted."""
MODULE_NAME_RULE = "a lowercase identifier such as 'notifications' or 'mental_health'"

_CACHE_LIMIT = 10_000  # bounded: a flood of distinct names must not grow memory
_valid_types: set[str] = set()
_valid_modules: set[str] = set()
_valid_patterns: set[str] = set()


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 3]}...{text[-1]}"


def _check_length(name: object, what: str, error: type[ValueError]) -> None:
    if isinstance(name, str) and len(name) > MAX_NAME_LENGTH:
        raise error(
            f"Invalid {what} {_shown(name)} ({len(name)} characters): names are at most "
            f"{MAX_NAME_LENGTH} characters. Shorten it."
        )


def check_event_type(event_type: object) -> str:
    """Return ``event_type`` if it is dotted lowercase words, else raise InvalidEventTypeError."""
    if type(event_type) is str and event_type in _valid_types:
        return event_type
    _check_length(event_type, "event type", InvalidEventTypeError)
    if not isinstance(event_type, str) or not _EVENT_TYPE.fullmatch(event_type):
        raise InvalidEventTypeError(
            f"Invalid event type {_shown(event_type)}: expected dotted lowercase words such as "
            "'therapy_session.scheduled' (letters, digits and underscores, each word starting "
            "with a letter, at least two words). Rename the event type."
        )
    if len(_valid_types) < _CACHE_LIMIT:
        _valid_types.add(event_type)
    return event_type


def not_publishable(pattern: object, publisher: str) -> str | None:
    """Why ``pattern`` cannot be declared as published by ``publisher`` (a description such as
    ``"Module 'visits'"``), or ``None`` when it can: an event type or a pattern of them."""
    try:
        check_pattern(pattern)
    except InvalidEventTypeError:
        pass
    else:
        return None
    return (
        f"{publisher} declares it publishes {_shown(pattern)}, which is no event type: expected "
        "dotted lowercase words such as 'therapy_session.scheduled', or a pattern such as "
        "'therapy_session.*'. Rename it."
    )


def check_pattern(pattern: object) -> str:
    """Return a subscription pattern if valid: an event type, ``'*'``, or words with ``*``."""
    if type(pattern) is str and pattern in _valid_patterns:
        return pattern
    _check_length(pattern, "subscription pattern", InvalidEventTypeError)
    if not isinstance(pattern, str) or not _PATTERN.fullmatch(pattern):
        raise InvalidEventTypeError(
            f"Invalid subscription pattern {_shown(pattern)}: expected an event type such as "
            "'therapy_session.scheduled', a pattern such as 'therapy_session.*', or '*' for "
            "every event."
        )
    if len(_valid_patterns) < _CACHE_LIMIT:
        _valid_patterns.add(pattern)
    return pattern


def pattern_matches(pattern: str, event_type: str) -> bool:
    """Tell whether ``pattern`` selects ``event_type``.

    ``'*'`` alone selects every event; otherwise each ``*`` stands for exactly one word, so
    ``'therapy_session.*'`` selects ``'therapy_session.scheduled'``.
    """
    if pattern == "*" or pattern == event_type:
        return True
    wanted = pattern.split(".")
    words = event_type.split(".")
    if len(wanted) != len(words):
        return False
    return all(w in ("*", x) for w, x in zip(wanted, words, strict=True))


def check_module_name(module_name: object, *, role: str = "module") -> str:
    """Return ``module_name`` if it is a lowercase identifier, else raise a typed error."""
    if type(module_name) is str and module_name in _valid_modules:
        return module_name
    _check_length(module_name, f"{role} name", InvalidNameError)
    if isinstance(module_name, str) and _MODULE_NAME.fullmatch(module_name):
        if len(_valid_modules) < _CACHE_LIMIT:
            _valid_modules.add(module_name)
        return module_name
    raise InvalidNameError(
        f"Invalid {role} name {_shown(module_name)}: expected {MODULE_NAME_RULE}. "
        "Use the module's package name."
    )


def did_you_mean(given: str, candidates: Iterable[str]) -> str:
    """Return " Did you mean 'x'?" for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(given, sorted(candidates), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def patterns_overlap(first: str, second: str) -> bool:
    """Tell whether two event types or patterns can select a common event type."""
    if "*" in (first, second) or first == second:
        return True
    words, others = first.split("."), second.split(".")
    return len(words) == len(others) and all(
        "*" in (word, other) or word == other for word, other in zip(words, others, strict=True)
    )


def snake_case(name: str) -> str:
    """Return ``UserService`` as ``user_service`` (the seed's container names)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])|(?<=[A-Z])([A-Z])(?=[a-z])", r"_\1\2", name).lower()
