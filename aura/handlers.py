"""How a handler is called, decided once when it subscribes.

A handler takes one positional argument: the event's data (the seed's form), the
:class:`~aura.events.Event` envelope (a parameter annotated ``Event``), or an instance of its
event contract (a parameter annotated with the contract class). A handler bound by the
container (:class:`aura.injection.Bound`) is read through its plan: its injected parameters are
not the event's. ``async def`` handlers may get a timeout.
"""

from __future__ import annotations

import asyncio
import inspect
import types
from collections.abc import Awaitable, Callable
from typing import Any

from aura import introspection
from aura.events import Event, EventCatalog, EventContract, is_contract_class
from aura.exceptions import HandlerSignatureError, HandlerTimeoutError
from aura.injection import Bound

__all__ = ["Handler", "plan_handler", "qualified_name", "refuse_deferred"]

Handler = Callable[[Any], Any]


def plan_handler(
    handler: Handler,
    event_type: str,
    catalog: EventCatalog,
    handler_timeout: float | None,
) -> tuple[Callable[[Event], Any], str, bool]:
    """Decide once how ``handler`` is called for ``event_type``: ``(deliver, receives, is_async)``.

    ``receives`` is ``"event"`` (a parameter annotated :class:`~aura.events.Event`),
    ``"contract"`` (annotated with a registered contract class: an instance is built) or
    ``"data"`` (anything else: the event's data, the seed's form). An ``async`` handler is
    cancelled after ``handler_timeout`` seconds when that is set.
    """
    if not callable(handler):
        raise HandlerSignatureError(
            f"Handler for {event_type!r} must be callable, got {type(handler).__name__} "
            f"({handler!r}). Pass a function that takes the event data."
        )
    _refuse_generators(handler, event_type)
    is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004  # an object with async __call__
    )
    parameter = _single_parameter(handler, event_type)
    annotation = _annotation_of(handler, parameter)
    deliver: Callable[[Event], Any]
    if annotation is Event:
        deliver, receives = handler, "event"
    elif isinstance(annotation, type) and is_contract_class(annotation):
        contract = catalog.for_class(annotation)
        if contract is None:
            raise HandlerSignatureError(
                f"Handler {qualified_name(handler)} for {event_type!r} is annotated with "
                f"{annotation.__qualname__}, which is not a registered event contract. "
                "Decorate it with @event_contract(...), or annotate the parameter as dict."
            )
        if "*" not in event_type and contract.event_type != event_type:
            raise HandlerSignatureError(
                f"Handler {qualified_name(handler)} subscribes to {event_type!r} but is "
                f"annotated with {annotation.__qualname__}, the contract of "
                f"{contract.event_type!r}. Annotate it with the contract of {event_type!r}."
            )
        latest = catalog.get(contract.event_type)
        if latest is not None and latest.version != contract.version:
            raise HandlerSignatureError(
                f"Handler {qualified_name(handler)} for {contract.event_type!r} is annotated "
                f"with {annotation.__qualname__}, version {contract.version} of the contract, "
                f"and handlers get every event as the current version, "
                f"{latest.version} ({latest.contract_class.__qualname__}). Annotate it with "
                f"{latest.contract_class.__qualname__}, or as dict."
            )
        deliver, receives = _contract_deliverer(handler, contract), "contract"
    else:
        deliver, receives = _data_deliverer(handler), "data"
    if is_async and handler_timeout is not None:
        deliver = _timed(deliver, handler_timeout, qualified_name(handler))
    return deliver, receives, is_async


_GENERATOR_FLAGS = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR


def _refuse_generators(handler: Handler, event_type: str) -> None:
    """A generator (or async generator) function called as a handler returns at once without
    running its body: refuse it here rather than let every delivery "succeed" doing nothing."""
    function = handler.injection.function if isinstance(handler, Bound) else handler
    code = getattr(function, "__code__", None)
    if code is not None and not code.co_flags & _GENERATOR_FLAGS:
        return  # a plain function (the usual handler): one flag test
    for candidate in (function, getattr(function, "__call__", None)):  # noqa: B004
        if inspect.isasyncgenfunction(candidate):
            kind = "an async generator function"
        elif inspect.isgeneratorfunction(candidate):
            kind = "a generator function"
        else:
            continue
        raise HandlerSignatureError(
            f"Handler {qualified_name(handler)} for {event_type!r} is {kind}: calling it "
            "only creates a generator, so its body would never run. Make it a plain function "
            "(def) or a coroutine function (async def) without 'yield'."
        )


def refuse_deferred(result: object, module: str, name: str) -> None:
    """Fail a synchronous delivery whose handler returned work it never did: a coroutine,
    a generator or another awaitable (a sync callable wrapping an async function)."""
    if inspect.iscoroutine(result):
        result.close()  # no "never awaited" warning: the error says it instead
        kind = "a coroutine"
    elif inspect.isgenerator(result) or inspect.isasyncgen(result):
        kind = "a generator"
    elif inspect.isawaitable(result):
        kind = "an awaitable"
    else:
        return
    raise HandlerSignatureError(
        f"Handler {module}:{name} returned {kind} instead of doing its work: it was subscribed "
        "as a synchronous handler, so nothing awaited it and its body never ran. Subscribe the "
        "async function itself (async def), which the bus then awaits under apublish()."
    )


def qualified_name(handler: object) -> str:
    if isinstance(handler, Bound):
        handler = handler.injection.function
    name = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    module = getattr(handler, "__module__", None) or type(handler).__module__
    return f"{module}.{name}"


_ONE_PLAIN_ARGUMENT = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS


def _plain_parameter(handler: Handler) -> inspect.Parameter | None:
    """The one parameter of a plain ``def f(x)`` read off its code object (no signature
    machinery: subscribing thousands of handlers was mostly ``inspect.signature``); None for
    anything else, which takes the general path."""
    if type(handler) is not types.FunctionType or handler.__defaults__ or handler.__kwdefaults__:
        return None
    code = handler.__code__
    if (
        code.co_argcount != 1
        or code.co_kwonlyargcount
        or code.co_posonlyargcount
        or code.co_flags & _ONE_PLAIN_ARGUMENT
        or "__wrapped__" in handler.__dict__
    ):
        return None
    name = code.co_varnames[0]
    annotation = handler.__annotations__.get(name, inspect.Parameter.empty)
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation)


def _single_parameter(handler: Handler, event_type: str) -> inspect.Parameter | None:
    plain = _plain_parameter(handler)
    if plain is not None:
        return plain
    if isinstance(handler, Bound):  # injected parameters are the container's, not the event's
        passed = handler.injection.passed
        if len(passed) == 1 and passed[0].kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            return passed[0]
        signature = inspect.Signature(list(passed))
    else:
        try:
            signature = introspection.signature(handler)
        except (TypeError, ValueError):
            return None  # a builtin without a signature: assume it takes the data
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    required = [
        p
        for p in signature.parameters.values()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    takes_varargs = any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values())
    if (
        len(required) > 1
        or (required and required[0].kind is required[0].KEYWORD_ONLY)
        or (not positional and not takes_varargs)
    ):
        raise HandlerSignatureError(
            f"Handler {qualified_name(handler)} for {event_type!r} has the signature "
            f"{signature}; a handler takes exactly one positional argument (the event data, "
            "the Event, or a contract instance). Give the other parameters defaults."
        )
    return positional[0] if positional else None


def _annotation_of(handler: Handler, parameter: inspect.Parameter | None) -> object:
    if parameter is None or parameter.annotation is parameter.empty:
        return None
    if isinstance(handler, Bound):
        return handler.injection.hints.get(parameter.name, parameter.annotation)
    target = handler if inspect.isroutine(handler) else getattr(handler, "__call__", handler)  # noqa: B004
    try:
        hints = introspection.type_hints(target)
    except Exception:  # an unresolvable forward reference: fall back to the raw annotation
        return parameter.annotation
    return hints.get(parameter.name)


def _timed(
    deliver: Callable[[Event], Any], timeout: float, name: str
) -> Callable[[Event], Awaitable[Any]]:
    async def deliver_in_time(event: Event) -> Any:
        try:
            return await asyncio.wait_for(deliver(event), timeout)
        except TimeoutError:
            raise HandlerTimeoutError(
                f"Handler {name} took longer than {timeout:g} s on {event.event_type!r} "
                f"(event {event.event_id}) and was cancelled. Make it faster, or raise the bus's "
                "handler_timeout."
            ) from None

    return deliver_in_time


def _data_deliverer(handler: Handler) -> Callable[[Event], Any]:
    def deliver(event: Event) -> Any:
        return handler(event.data)

    return deliver


def _contract_deliverer(handler: Handler, contract: EventContract) -> Callable[[Event], Any]:
    def deliver(event: Event) -> Any:
        return handler(contract.instantiate(event.data))

    return deliver
