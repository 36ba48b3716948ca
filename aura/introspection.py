"""Signatures and type hints, read once per function or class and kept; the routes an ASGI
application serves (:func:`served_routes`).

Module declarations outlive platforms: every platform (every test) plans the same handlers,
providers and services. ``inspect.signature`` and ``typing.get_type_hints`` (which compiles
string annotations) were most of the cost of building one, so their results are cached, weakly,
per object. Failures are not cached: they raise each time, with the caller's own message.
"""

from __future__ import annotations

import inspect
import typing
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from typing import Any

__all__ = ["served_routes", "signature", "type_hints"]

_signatures: weakref.WeakKeyDictionary[Any, inspect.Signature] = weakref.WeakKeyDictionary()
_hints: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def signature(target: Callable[..., Any]) -> inspect.Signature:
    """``inspect.signature(target)``, cached per object."""
    with suppress(KeyError, TypeError):  # not seen yet, or not weakly referable / hashable
        return _signatures[target]
    found = inspect.signature(target)
    with suppress(TypeError):  # a bound method or an unhashable callable is not kept
        _signatures[target] = found
    return found


def type_hints(target: Any) -> dict[str, Any]:
    """``typing.get_type_hints(target)``, cached per object; the caller must not mutate it."""
    with suppress(KeyError, TypeError):
        return _hints[target]
    found = typing.get_type_hints(target)
    with suppress(TypeError):
        _hints[target] = found
    return found


def served_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Each route of ``routes`` (an application's) and, in place of an included router, each
    route it serves.

    FastAPI flattened an included ``APIRouter`` into the application's routes until 0.165;
    since then ``include_router`` adds one entry that holds the router and resolves its routes
    (with the include's prefix and dependencies) when first used, so code walking
    ``app.routes`` for ``APIRoute`` objects would skip every router's routes. Those come out
    as FastAPI's view of each: its full ``path``, ``methods``, ``matches(scope)``, the
    ``dependant`` with the include's dependencies, and the router's own route as
    ``original_route``; any other route of a router (a Starlette ``Route``, a websocket) comes
    as the route served, with its full path. Nothing here imports FastAPI.
    """
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if not callable(contexts):
            yield route
            continue
        for context in contexts():  # nested includes come flattened
            original = getattr(context, "original_route", None)
            if original is None or (
                hasattr(original, "dependant") and getattr(original, "methods", None)
            ):
                yield context  # an APIRoute: its dependant holds the include's dependencies
            else:  # a Starlette Route, a websocket, a Mount: the route as it is served
                yield getattr(context, "starlette_route", None) or original
