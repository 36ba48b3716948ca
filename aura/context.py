"""The ambient context of a call: correlation id, current module and the event being handled.

Values live in :mod:`contextvars`, so each thread and each asyncio task sees its own. The bus sets
the current module to a subscriber while its handler runs, and the registry sets it to a provider
while one of its services runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from aura.ids import new_id

if TYPE_CHECKING:
    from aura.events import Event

__all__ = [
    "correlation_scope",
    "current_event",
    "current_module",
    "current_user_id",
    "event_scope",
    "get_correlation_id",
    "module_scope",
    "new_correlation_id",
]

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
