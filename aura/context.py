"""The ambient context of a call: correlation id, current module and the event being handled.

Values live in :mod:`contextvars`, so each thread and each asyncio task sees its own. The bus sets
the current module to a subscriber while its handler runs, and the registry sets it to a provider
while one of its services runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from aura.exceptions import ConfigurationError
from aura.ids import new_id

if TYPE_CHECKING:
    from aura.events import Event

__all__ = [
    "CORRELATION_HEADER",
    "correlation_scope",
    "current_event",
    "current_module",
    "current_user_id",
    "event_scope",
    "get_correlation_id",
    "invalid_correlation_id",
    "is_valid_correlation_id",
    "module_scope",
    "new_correlation_id",
    "user_scope",
]

CORRELATION_HEADER = "X-Correlation-ID"
"""The HTTP header that carries a request's correlation id in, and echoes it out."""

# One rule for every HTTP entry point (the gateway, the FastAPI and Django integrations).
_CORRELATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

_correlation_id: ContextVar[str | None] = ContextVar("aura_correlation_id", default=None)
_current_module: ContextVar[str | None] = ContextVar("aura_current_module", default=None)
_current_event: ContextVar[Event | None] = ContextVar("aura_current_event", default=None)
# The user on whose behalf code runs (set with the principal by aura.access.principal_scope);
# events published meanwhile carry it as their metadata's user_id.
_user_id: ContextVar[str | int | None] = ContextVar("aura_user_id", default=None)


def new_correlation_id() -> str:
    """Return a fresh correlation id (a UUID4 string)."""
    return new_id()


def get_correlation_id() -> str | None:
    """Return the correlation id of the current flow, or ``None`` outside any flow."""
    return _correlation_id.get()


def current_module() -> str | None:
    """Return the name of the module whose code is running, or ``None`` when unknown."""
    return _current_module.get()


def current_user_id() -> str | int | None:
    """Return the id of the user on whose behalf the running code acts, when known."""
    return _user_id.get()


def current_event() -> Event | None:
    """Return the event whose handler is running, or ``None`` outside a handler."""
    return _current_event.get()


@contextmanager
def correlation_scope(correlation_id: str | None = None) -> Iterator[str]:
    """Run a block under ``correlation_id`` (a new one when omitted); yield the id in force."""
    cid = correlation_id if correlation_id is not None else new_correlation_id()
    token = _correlation_id.set(cid)
    try:
        yield cid
    finally:
        _correlation_id.reset(token)


def is_valid_correlation_id(given: str) -> bool:
    """Whether ``given`` (a request's ``X-Correlation-ID``) may be a correlation id: 1 to 128
    letters, digits or ``. _ : -``, starting with a letter or digit."""
    return _CORRELATION_ID.fullmatch(given) is not None


def invalid_correlation_id(given: str) -> str:
    """The message answering an invalid ``X-Correlation-ID`` (what was sent, what is wanted)."""
    shown = given if len(given) <= 60 else f"{given[:57]}..."
    return (
        f"Invalid X-Correlation-ID {shown!r}: expected 1 to 128 letters, digits or . _ : - "
        "(starting with a letter or digit). Send a UUID, or leave the header out to get a new "
        "id."
    )


@contextmanager
def user_scope(user_id: str | int | None) -> Iterator[None]:
    """Run a block on behalf of the user ``user_id`` (``None``: nobody): events published
    meanwhile carry it as ``metadata["user_id"]``, and so do those their handlers publish."""
    if user_id is not None and (isinstance(user_id, bool) or not isinstance(user_id, int | str)):
        raise ConfigurationError(
            f"A user id is an int or a str (or None for nobody), got {type(user_id).__name__} "
            f"({user_id!r}). Pass the user's primary key."
        )
    token = _user_id.set(user_id)
    try:
        yield
    finally:
        _user_id.reset(token)


@contextmanager
def module_scope(module_name: str | None) -> Iterator[None]:
    """Run a block with ``module_name`` as the current module."""
    token = _current_module.set(module_name)
    try:
        yield
    finally:
        _current_module.reset(token)


@contextmanager
def event_scope(event: Event) -> Iterator[None]:
    """Run a block as the handling of ``event``: its correlation id and causation apply."""
    event_token = _current_event.set(event)
    cid_token = _correlation_id.set(event.correlation_id)
    try:
        yield
    finally:
        _correlation_id.reset(cid_token)
        _current_event.reset(event_token)
