"""Strict recording fakes generated from service contracts, for testing a module on its own.

``RecordingFake.for_contract(UserServiceContract)`` builds an object that implements every method
of the contract (same signatures, ``async`` where the contract is). It records each call in
``calls`` (arguments by position, however they were passed; a call the contract's signature does
not accept raises ``TypeError``) and answers as the test configured it:

- :meth:`RecordingFake.returns` gives a value, checked at once against the method's return
  annotation (``ContractViolationError`` if it does not match);
- :meth:`RecordingFake.answers` gives a function, whose every result is checked the same way
  when the method is called (an ``async`` method awaits what the function returns first);
- :meth:`RecordingFake.raises` gives an exception to raise.

A fake is strict: a method the test did not configure raises
:exc:`~aura.exceptions.FakeNotConfiguredError` naming the fake, the call, the contract and how to
configure it, instead of answering ``None`` and letting the module fail somewhere deeper. The
call is recorded all the same, so ``calls`` and the trace show what was attempted. Only a method
whose contract says it returns ``None`` (``-> None``) needs no configuration: it returns ``None``.

Return annotations are resolved with :func:`typing.get_type_hints` (so
``from __future__ import annotations`` is fine) and checked by ``isinstance``, all the way into
containers: unions and ``Optional``, ``list[int]``, ``dict[str, Any]``, tuples, ``Literal``,
``TypedDict`` (its keys and their types), dataclasses, pydantic models, enums, protocols (by
their members) and ``Any``; ``int`` passes for ``float``, as in Python's typing. The annotation of
``async def f() -> int`` is ``int``. Iterators and awaitables are checked as such, never consumed.
A name the fake cannot resolve (a class defined inside a function, say) is not checked.
pydantic's strict validation was not used for this: it accepts a ``dict`` where the contract
says a model, cannot build ``typing.TypedDict`` before Python 3.12, and fails on freezegun's
classes.

:func:`stand_in_module` turns a real module's declaration into one whose services are such fakes
and which declares the same published events, so a module under test can be bootstrapped
without its dependencies and fed with their events. :func:`is_fake` tells a fake from a real
service (for traces).
"""

from __future__ import annotations

import builtins
import collections.abc
import dataclasses
import inspect
import reprlib
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from aura.conformance import contract_methods
from aura.exceptions import ConfigurationError, ContractViolationError, FakeNotConfiguredError
from aura.module import Module
from aura.naming import did_you_mean
from aura.registry import ServiceProxy

__all__ = ["FakeCall", "RecordingFake", "is_fake", "stand_in_module"]


@dataclasses.dataclass(frozen=True, slots=True)
class FakeCall:
    """One call a fake received."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class _Result:
    """What a contract method returns: the resolved annotation and its text as written."""

    hint: object
    text: str | None
    """The annotation as the contract writes it, or ``None`` when it has none."""

    @property
    def is_none(self) -> bool:
        return self.hint is None or self.hint is type(None)


@dataclasses.dataclass(frozen=True, slots=True)
class _Answer:
    function: Callable[..., Any]
    checked: bool
    """Whether each result is checked against the contract (results of ``answers``)."""


class RecordingFake:
    """Base of generated fakes: records calls and answers only as the test configured it."""

    contract: type[Any] | None = None
    _results: ClassVar[dict[str, _Result]] = {}

    def __init__(self, *, stands_in_for: str | None = None) -> None:
        self.calls: list[FakeCall] = []
        self.stands_in_for = stands_in_for
        """``"module.Service"`` when the fake serves a stand-in module, else ``None``."""
        self._answers: dict[str, _Answer] = {}

    @classmethod
    def for_contract(
        cls, contract: type[Any], name: str | None = None, *, stands_in_for: str | None = None
    ) -> RecordingFake:
        """Return a fake implementing every method of ``contract``.

        ``name`` is the fake's class name (``Fake<Contract>`` by default); ``stands_in_for``
        names the service it replaces (``"users.UserService"``), for the errors it raises.
        """
        methods = contract_methods(contract)
        clashes = sorted(set(methods) & _OWN_NAMES)
        if clashes:
            raise ConfigurationError(
                f"RecordingFake cannot fake {_path(contract)}: its method "
                f"{', '.join(map(repr, clashes))} has the name of a RecordingFake attribute. "
                "Write a fake class for this contract by hand."
            )
        namespace: dict[str, Any] = {
            "contract": contract,
            "_results": {method: _result_of(declared) for method, declared in methods.items()},
        }
        for method_name, declared in methods.items():
            namespace[method_name] = _fake_method(method_name, declared)
        fake_class = type(name or f"Fake{contract.__name__}", (cls,), namespace)
        fake: RecordingFake = fake_class(stands_in_for=stands_in_for)
        return fake

    def returns(self, method: str, value: Any) -> RecordingFake:
        """Make ``method`` return ``value`` from now on; ``value`` must match the contract."""
        result = self._result(method)
        detail = _mismatch(value, result.hint, "")
        if detail is not None:
            raise ContractViolationError(
                f"{type(self).__name__}.returns({method!r}, value): "
                f"{self._declares(method, result)}, got {_shown(value)} "
                f"({type(value).__qualname__}){_detail(detail)}. Give a value of that type."
            )
        self._answers[method] = _Answer(lambda *args, **kwargs: value, checked=False)
        return self

    def raises(self, method: str, error: BaseException | type[BaseException]) -> RecordingFake:
        """Make ``method`` raise ``error`` from now on."""
        self._result(method)

        def fail(*args: Any, **kwargs: Any) -> Any:
            raise error

        self._answers[method] = _Answer(fail, checked=False)
        return self

    def answers(self, method: str, function: Callable[..., Any]) -> RecordingFake:
        """Make ``method`` return ``function(*args, **kwargs)`` from now on.

        Each result is checked against the contract when the method is called.
        """
        self._result(method)
        if not callable(function):
            raise ConfigurationError(
                f"{type(self).__name__}.answers({method!r}, ...) takes a function of the call's "
                f"arguments, got {_shown(function)} ({type(function).__qualname__}). For a fixed "
                f"value write fake.returns({method!r}, {_shown(function)})."
            )
        self._answers[method] = _Answer(function, checked=True)
        return self

    def calls_to(self, method: str) -> list[FakeCall]:
        """The calls ``method`` received, in order."""
        return [call for call in self.calls if call.method == method]

    def _result(self, method: str) -> _Result:
        result = self._results.get(method)
        if result is None:
            raise AttributeError(
                f"{type(self).__name__} has no method {method!r}; its contract has: "
                f"{', '.join(self._results) or 'none'}.{did_you_mean(method, self._results)}"
            )
        return result

    def _declares(self, method: str, result: _Result) -> str:
        where = f"{_path(self.contract)}.{method}" if self.contract else method
        if result.text is None:
            return f"{where} has no return annotation"
        return f"{where} returns {result.text}"

    def _begin(
        self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> _Answer | FakeNotConfiguredError:
        """Record the call, then return its configured answer, or the refusal to raise."""
        self.calls.append(FakeCall(method, args, kwargs))
        answer = self._answers.get(method)
        if answer is not None:
            return answer
        result = self._results[method]
        if result.is_none:
            return _NONE
        fake = "fake"
        if self.stands_in_for is not None:
            fake = f"fake = container.resolve({self.stands_in_for!r}), then fake"
        return FakeNotConfiguredError(
            f"{type(self).__name__}.{method}({_arguments(args, kwargs)}) was called, but the test "
            f"did not say what it answers ({self._declares(method, result)}). Configure it: "
            f"{fake}.returns({method!r}, value) or fake.answers({method!r}, function)."
        )

    def _refusal(
        self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], value: Any
    ) -> ContractViolationError | None:
        """The error to raise when what ``answers``' function returned breaks the contract."""
        result = self._results[method]
        detail = _mismatch(value, result.hint, "")
        if detail is None:
            return None
        return ContractViolationError(
            f"{type(self).__name__}.{method}({_arguments(args, kwargs)}) answered "
            f"{_shown(value)} ({type(value).__qualname__}) from the function given to "
            f"answers({method!r}, ...), but {self._declares(method, result)}"
            f"{_detail(detail)}. Make the function return that type."
        )


_OWN_NAMES = frozenset(
    name for name in (*vars(RecordingFake), "calls", "stands_in_for") if not name.startswith("__")
)
_NONE = _Answer(lambda *args, **kwargs: None, checked=False)


def is_fake(obj: object) -> bool:
    """Tell whether ``obj`` is a :class:`RecordingFake`, or a registry proxy in front of one.

    The trace uses it to mark calls served by a fake: pass the service's provider
    (``ServiceInfo.provider``) or what ``get_service(...)`` returned.
    """
    if isinstance(obj, ServiceProxy):
        obj = obj._aura_target
    return isinstance(obj, RecordingFake)


def _fake_method(name: str, declared: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(declared)
    # Calls are checked against the contract's signature (a wrong call raises TypeError, as the
    # real service would) and recorded by name, however they were passed. Refusals are raised
    # here, one frame below the caller, so a handler's traceback ends where the module called;
    # pytest hides the frame.

    if inspect.iscoroutinefunction(declared):

        async def async_method(self: RecordingFake, *args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            bound = signature.bind(self, *args, **kwargs)
            given, named = bound.args[1:], bound.kwargs  # without self
            answer = self._begin(name, given, named)
            if isinstance(answer, FakeNotConfiguredError):
                raise answer
            value = answer.function(*args, **kwargs)
            if inspect.isawaitable(value):  # an async function given to answers()
                value = await value
            refusal = self._refusal(name, given, named, value) if answer.checked else None
            if refusal is not None:
                raise refusal
            return value

        method: Callable[..., Any] = async_method
    else:

        def sync_method(self: RecordingFake, *args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            bound = signature.bind(self, *args, **kwargs)
            given, named = bound.args[1:], bound.kwargs  # without self
            answer = self._begin(name, given, named)
            if isinstance(answer, FakeNotConfiguredError):
                raise answer
            value = answer.function(*args, **kwargs)
            refusal = self._refusal(name, given, named, value) if answer.checked else None
            if refusal is not None:
                raise refusal
            return value

        method = sync_method
    method.__name__ = method.__qualname__ = name
    method.__signature__ = signature  # type: ignore[attr-defined]  # conformance reads it
    return method


def stand_in_module(module: Module) -> Module:
    """Return a module of the same name whose services are recording fakes of its contracts.

    Services declared without a contract are faked from their class's public methods. The
    stand-in declares the same published events as the module, so a test may publish them on
    its behalf (``bus.publish("user.deactivated", {...}, "users")``) to feed the module under
    test; their event contracts still validate them. It declares no handlers, providers or
    hooks: it only answers calls.
    """
    stand_in = Module(module.name, description=f"recording stand-in for {module.name}")
    stand_in.publishes(*module.published)
    for service in module.services:
        contract = service.contract
        if contract is None:
            provider = service.provider
            contract = provider if inspect.isclass(provider) else type(provider)
        fake = RecordingFake.for_contract(contract, stands_in_for=f"{module.name}.{service.name}")
        stand_in.add_service(service.name, fake, contract=service.contract)
    return stand_in


# --- the contract's return annotations -----------------------------------------------------------


def _path(contract: type[Any] | None) -> str:
    return f"{contract.__module__}.{contract.__qualname__}" if contract is not None else "?"


def _result_of(function: Callable[..., Any]) -> _Result:
    raw = getattr(function, "__annotations__", {}).get("return", inspect.Signature.empty)
    if raw is inspect.Signature.empty:
        return _Result(Any, None)
    text = raw if isinstance(raw, str) else _type_text(raw)
    try:
        hint = typing.get_type_hints(function, include_extras=True).get("return", Any)
    except Exception:  # a name get_type_hints cannot see: resolve what it can
        hint = _lenient(raw, function)
    return _Result(hint, text)


class _Unresolved(dict[str, Any]):
    """Names for eval(): the function's globals and builtins, and ``Any`` for anything else."""

    def __init__(self, scope: Mapping[str, Any]) -> None:
        super().__init__()
        self._scope = scope

    def __missing__(self, key: str) -> Any:
        return self._scope.get(key, getattr(builtins, key, Any))


def _lenient(raw: object, function: Callable[..., Any]) -> object:
    if not isinstance(raw, str):
        return raw
    scope: Mapping[str, Any] = getattr(function, "__globals__", {})
    try:
        return eval(raw, dict(scope), _Unresolved(scope))  # an annotation's text
    except Exception:  # not checkable at all: accept any value
        return Any


def _type_text(hint: object) -> str:
    if hint is None or hint is type(None):
        return "None"
    if hint is Any:
        return "Any"
    if hint is Ellipsis:
        return "..."
    if isinstance(hint, str):
        return hint
    if isinstance(hint, list):
        return f"[{', '.join(map(_type_text, hint))}]"
    if isinstance(hint, typing.ForwardRef):
        return hint.__forward_arg__
    if isinstance(hint, typing.TypeVar):
        return hint.__name__
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return _type_text(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(map(_type_text, args))
    if origin is typing.Literal:
        return f"Literal[{', '.join(map(repr, args))}]"
    if origin is not None and args:
        name = getattr(origin, "__qualname__", None) or str(origin).replace("typing.", "")
        return f"{name}[{', '.join(map(_type_text, args))}]"
    if isinstance(hint, type):
        return hint.__qualname__
    return str(hint).replace("typing.", "")


# --- checking a value against an annotation ------------------------------------------------------

_NOT_CHECKED = (typing.NoReturn, typing.Never, typing.LiteralString, typing.Self)


def _mismatch(value: object, hint: object, where: str) -> str | None:
    """``None`` when ``value`` matches ``hint``; else what does not ("" for the value itself).

    ``where`` is the path to ``value`` inside the returned value (``[0]['id']``).
    """
    if hint is Any or hint in _NOT_CHECKED:
        return None
    if hint is None or hint is type(None):
        return None if value is None else _leaf(value, hint, where)
    if isinstance(hint, typing.TypeVar):
        return _mismatch(value, hint.__bound__, where) if hint.__bound__ is not None else None
    supertype = getattr(hint, "__supertype__", None)  # a typing.NewType
    if supertype is not None:
        return _mismatch(value, supertype, where)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return _mismatch(value, args[0], where)
    if origin in (typing.Union, types.UnionType):
        problems = [_mismatch(value, member, where) for member in args]
        if None in problems:
            return None
        # The one member of the value's own kind (the list of ``list[int] | None``) says where
        # inside it differs; otherwise the value is of none of the union's kinds.
        alike = [p for m, p in zip(args, problems, strict=True) if _same_kind(value, m)]
        return alike[0] if len(alike) == 1 and alike[0] else _leaf(value, hint, where)
    if origin is typing.Literal:
        if any(type(value) is type(choice) and value == choice for choice in args):
            return None
        return _leaf(value, hint, where)
    if origin is None:
        return _instance_mismatch(value, hint, where)
    return _generic_mismatch(value, hint, origin, args, where)


def _same_kind(value: object, hint: object) -> bool:
    origin = typing.get_origin(hint) or hint
    if not isinstance(origin, type) or getattr(origin, "_is_protocol", False):
        return False
    if typing.is_typeddict(origin):
        return isinstance(value, dict)
    return isinstance(value, origin)


def _instance_mismatch(value: object, hint: object, where: str) -> str | None:
    if not isinstance(hint, type):
        return None  # a special form without a runtime meaning: nothing to check
    if typing.is_typeddict(hint):
        return _typed_dict_mismatch(value, hint, where)
    if getattr(hint, "_is_protocol", False):  # a Protocol itself, not a class deriving one
        missing = [member for member in _protocol_members(hint) if not hasattr(value, member)]
        return _leaf(value, hint, where, f"it lacks {', '.join(missing)}") if missing else None
    if isinstance(value, bool) and hint in (int, float, complex):
        # bool is an int to Python, but True where a count is promised is a bug, not a number
        return _leaf(value, hint, where)
    if hint is float:
        accepted: tuple[type[Any], ...] = (int, float)  # the numeric tower of PEP 484
    elif hint is complex:
        accepted = (int, float, complex)
    else:
        accepted = (hint,)
    return None if isinstance(value, accepted) else _leaf(value, hint, where)


def _generic_mismatch(
    value: object, hint: object, origin: Any, args: tuple[Any, ...], where: str
) -> str | None:
    if origin is collections.abc.Callable:
        return None if callable(value) else _leaf(value, hint, where)
    if origin is type:
        wanted = args[0] if args else Any
        if not isinstance(value, type):
            return _leaf(value, hint, where)
        if wanted is Any or not isinstance(wanted, type) or issubclass(value, wanted):
            return None
        return _leaf(value, hint, where)
    if not isinstance(origin, type):
        return None
    if getattr(origin, "_is_protocol", False):
        return _instance_mismatch(value, origin, where)
    if not isinstance(value, origin):
        return _leaf(value, hint, where)
    if not args:
        return None
    if origin is tuple:
        return _tuple_mismatch(typing.cast(tuple[Any, ...], value), hint, args, where)
    if isinstance(value, Mapping) and len(args) == 2:
        for key, item in value.items():
            problem = _mismatch(key, args[0], f"{where}[{key!r}] (its key)")
            if problem is None:
                problem = _mismatch(item, args[1], f"{where}[{key!r}]")
            if problem is not None:
                return problem
        return None
    if isinstance(value, collections.abc.Collection) and len(args) == 1:
        # Only collections are looked into: iterating an iterator would consume it.
        for index, item in enumerate(value):
            problem = _mismatch(item, args[0], f"{where}[{index}]")
            if problem is not None:
                return problem
    return None


def _tuple_mismatch(
    value: tuple[Any, ...], hint: object, args: tuple[Any, ...], where: str
) -> str | None:
    if len(args) == 2 and args[1] is Ellipsis:
        expected: tuple[Any, ...] = (args[0],) * len(value)
    elif args == ((),):
        expected = ()
    else:
        expected = args
    if len(expected) != len(value):
        return _leaf(value, hint, where, f"it has {len(value)} items, not {len(expected)}")
    for index, (item, wanted) in enumerate(zip(value, expected, strict=True)):
        problem = _mismatch(item, wanted, f"{where}[{index}]")
        if problem is not None:
            return problem
    return None


def _typed_dict_mismatch(value: object, hint: type[Any], where: str) -> str | None:
    if not isinstance(value, dict):
        return _leaf(value, hint, where)
    fields = typing.get_type_hints(hint)
    required: frozenset[str] = getattr(hint, "__required_keys__", frozenset(fields))
    missing = [key for key in fields if key in required and key not in value]
    if missing:
        return _leaf(value, hint, where, f"the key {missing[0]!r} is missing")
    extra = [key for key in value if key not in fields]
    if extra:
        return _leaf(value, hint, where, f"the key {extra[0]!r} is not in {hint.__qualname__}")
    for key, wanted in fields.items():
        if key in value:
            problem = _mismatch(value[key], wanted, f"{where}[{key!r}]")
            if problem is not None:
                return problem
    return None


def _protocol_members(protocol: type[Any]) -> list[str]:
    skipped = {"__init__", "__subclasshook__", "__class_getitem__", "__init_subclass__"}
    members: dict[str, None] = {}
    for klass in reversed(protocol.__mro__):
        if klass in (object, typing.Protocol, typing.Generic):
            continue
        names = [*vars(klass), *getattr(klass, "__annotations__", {})]
        for name in names:
            dunder = name.startswith("__") and name.endswith("__")
            if name in skipped or (name.startswith("_") and not dunder):
                continue
            if dunder and not callable(vars(klass).get(name)):
                continue  # __module__, __doc__, __dict__...: not members
            members[name] = None
    return list(members)


def _leaf(value: object, hint: object, where: str, why: str = "") -> str:
    """The text of a mismatch at ``where`` ("" when it is the returned value itself)."""
    if not where:
        return why
    text = f"{where} is {_shown(value)} ({type(value).__qualname__}), not {_type_text(hint)}"
    return f"{text}: {why}" if why else text


def _detail(detail: str) -> str:
    return f" ({detail})" if detail else ""


_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 60
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6
_repr.maxlevel = 3


def _shown(value: object) -> str:
    return _repr.repr(value)


def _arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    shown = [_shown(arg) for arg in args]
    shown.extend(f"{name}={_shown(arg)}" for name, arg in kwargs.items())
    return ", ".join(shown)
