"""The one injection rule: a function's parameters bound to container keys, decided once.

Handlers, start hooks and HTTP routes all receive their dependencies the same way as a provider
autowired by the container: a parameter is satisfied by its annotated type when that type is
registered, else by a registration named like the parameter, else it keeps its default. The
first ``passed`` parameters are the caller's (the event for a handler; a route's HTTP parameters
are whatever is not injected). :func:`plan` reads the signature and the type hints once and
returns an :class:`Injection` (data); :class:`Bound` calls the function with the injected values
resolved on each call. Nothing rewrites a function's signature: a caller that needs to know what
it passes (the bus, the gateway) reads :attr:`Injection.passed`.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aura import introspection
from aura.exceptions import ModuleDefinitionError

__all__ = [
    "RUNTIME_NAMES",
    "AsyncBound",
    "Bound",
    "Injection",
    "Mismatch",
    "Registry",
    "bind",
    "key_for",
    "mismatch_message",
    "plan",
    "plan_route",
]


class Registry(Protocol):
    """What the planner asks of a container: is a key registered, and resolve it."""

    def is_registered(self, key: object) -> bool:
        """Tell whether ``key`` can be resolved."""
        ...

    def resolve(self, key: Any) -> Any:
        """Return the service registered under ``key``."""
        ...


@dataclass(frozen=True, slots=True)
class Injection:
    """How one function is called: what the caller passes and what the container injects."""

    function: Callable[..., Any]
    passed: tuple[inspect.Parameter, ...]
    """The parameters the caller gives (in order), injected ones left out."""
    injected: tuple[tuple[str, Any], ...]
    """``(parameter name, container key)`` for each injected parameter."""
    hints: dict[str, Any]
    """The function's resolved type hints (empty when they cannot be resolved)."""


RUNTIME_NAMES = frozenset({"database", "event_bus", "service_registry", "event_store"})
"""Names the platform registers its own parts under (instances: resolving one runs nothing)."""


def key_for(
    parameter: inspect.Parameter, hint: object, registry: Registry, *, where: str = ""
) -> Any:
    """The rule itself: the container key filling ``parameter`` — its annotated type when that
    is registered, else its name when that is — or ``None``.

    A parameter named after a part of the platform (``database``, ``event_bus``...) but
    annotated with a class that part is not an instance of gets a :class:`Mismatch`: the
    function, once bound, refuses to run, naming both types and the fix, instead of failing
    on its first use of the session (``database: SqlAlchemyDatabase`` on a platform given
    Aura's SQLite database) with an ``AttributeError``. It is not refused at planning: the
    platforms ``aura check`` and the harness build on an in-memory database must still build
    (their verification never runs the function). ``where`` names the function.
    """
    if isinstance(hint, type) and registry.is_registered(hint):
        return hint
    if registry.is_registered(parameter.name):
        if isinstance(hint, type) and parameter.name in RUNTIME_NAMES:
            given = registry.resolve(parameter.name)
            try:
                fits = isinstance(given, hint)
            except TypeError:  # a Protocol that cannot be checked at run time: trust it
                fits = True
            if not fits:
                return Mismatch(mismatch_message(where, parameter.name, hint, given))
        return parameter.name
    return None


def mismatch_message(where: str, name: str, hint: type, given: object) -> str:
    """What a function taking ``name: hint`` is told when the platform's ``name`` is ``given``."""
    return (
        f"{where or 'A function'} takes {name}: {hint.__qualname__}, but this platform's {name} "
        f"is a {type(given).__qualname__}. Build the platform with a {hint.__qualname__} as its "
        f"{name} (Platform(..., {name}=...), as the application does), or annotate the "
        "parameter with what the platform gives."
    )


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The key of a parameter the platform would fill with the wrong kind of object: a bound
    function holding one refuses to run, with ``message``."""

    message: str


def plan(
    function: Callable[..., Any], registry: Registry, *, passed: int = 0, owner: str = ""
) -> Injection:
    """Decide, once, which parameters of ``function`` the container fills.

    The first ``passed`` parameters are left to the caller. A later parameter the container
    cannot fill and that has no default raises :class:`ModuleDefinitionError` naming it, its
    type and the fix; ``owner`` names the module, for that message.
    """
    parameters = list(introspection.signature(function).parameters.values())
    hints = _hints(function)
    given = parameters[:passed]
    injected: list[tuple[str, Any]] = []
    for parameter in parameters[passed:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        hint = hints.get(parameter.name)
        named = getattr(function, "__qualname__", type(function).__qualname__)
        key = key_for(parameter, hint, registry, where=f"{named} of module {owner!r}")
        if key is not None:
            injected.append((parameter.name, key))
        elif parameter.default is parameter.empty:
            wanted = getattr(hint, "__qualname__", None) or repr(parameter.name)
            raise ModuleDefinitionError(
                f"{named} of module {owner!r} needs {parameter.name!r} "
                f"({wanted}), which nothing provides. Provide it with "
                f"{owner}.provide(...), or give the parameter a default."
            )
    return Injection(function, tuple(given), tuple(injected), hints)


def plan_route(
    function: Callable[..., Any], registry: Registry, *, reserved: frozenset[str] = frozenset()
) -> Injection:
    """Like :func:`plan` for an HTTP route: every parameter not injected is the caller's.

    ``reserved`` names parameters the caller always gives (a route's path parameters). Hints are
    read with their ``Annotated`` extras: an ``Annotated[...]`` parameter is FastAPI's (a
    ``Depends``, a ``Query``, a constrained type) unless a registration has its name.
    """
    parameters = list(introspection.signature(function).parameters.values())
    hints = _hints(function, include_extras=True)
    given: list[inspect.Parameter] = []
    injected: list[tuple[str, Any]] = []
    for parameter in parameters:
        key = None
        if parameter.name not in reserved:
            named = getattr(function, "__qualname__", type(function).__qualname__)
            key = key_for(parameter, hints.get(parameter.name), registry, where=f"Route {named}")
        if key is not None:
            injected.append((parameter.name, key))
        else:
            given.append(parameter)
    return Injection(function, tuple(given), tuple(injected), hints)


class Bound:
    """``function`` with its injected parameters filled from the container on each call."""

    __slots__ = (
        "__name__",
        "__qualname__",
        "_pairs",
        "_resolve",
        "injection",
    )

    def __init__(self, injection: Injection, registry: Registry) -> None:
        function = injection.function
        self.injection = injection
        self._resolve = registry.resolve
        self._pairs = injection.injected
        self.__name__ = getattr(function, "__name__", type(function).__name__)
        self.__qualname__ = getattr(function, "__qualname__", self.__name__)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function with ``args`` and the injected values (resolved now)."""
        resolve = self._resolve
        for name, key in self._pairs:
            kwargs[name] = resolve(key)
        return self.injection.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<bound {self.injection.function!r}>"


class AsyncBound(Bound):
    """A :class:`Bound` ``async def`` function: calling it gives the coroutine to await."""

    __slots__ = ()

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Await the function with ``args`` and the injected values (resolved now)."""
        resolve = self._resolve
        for name, key in self._pairs:
            kwargs[name] = resolve(key)
        return await self.injection.function(*args, **kwargs)


class _Refusing(Bound):
    """A :class:`Bound` function one of whose parameters has a :class:`Mismatch`."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Refuse: the platform would pass the wrong kind of object."""
        raise ModuleDefinitionError(_mismatch(self.injection))


class _AsyncRefusing(AsyncBound):
    """The ``async def`` form of :class:`_Refusing`."""

    __slots__ = ()

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Refuse: the platform would pass the wrong kind of object."""
        raise ModuleDefinitionError(_mismatch(self.injection))


def _mismatch(injection: Injection) -> str:
    return next(key.message for _, key in injection.injected if isinstance(key, Mismatch))


def bind(injection: Injection, registry: Registry) -> Callable[..., Any]:
    """The function itself when nothing is injected, else a :class:`Bound` calling it."""
    if not injection.injected:
        return injection.function
    function = injection.function
    refusing = any(isinstance(key, Mismatch) for _, key in injection.injected)
    if inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004  # an object with async __call__
    ):
        return (_AsyncRefusing if refusing else AsyncBound)(injection, registry)
    return (_Refusing if refusing else Bound)(injection, registry)


def _hints(function: Callable[..., Any], *, include_extras: bool = False) -> dict[str, Any]:
    # A callable object carries its annotations on its class's __call__.
    target = function
    if not inspect.isroutine(function):
        target = getattr(type(function), "__call__", function)  # noqa: B004
    try:
        if include_extras:  # rare (routes, once each): not worth a cache
            return typing.get_type_hints(target, include_extras=True)
        return introspection.type_hints(target)
    except Exception:  # unresolvable forward references: fall back to name-based injection
        return {}
