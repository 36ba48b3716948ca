"""Recording fakes generated from service contracts, for testing a module on its own.

``RecordingFake.for_contract(UserServiceContract)`` builds an object that implements every method
of the contract (same signatures, ``async`` where the contract is). It records each call in
``calls`` (arguments by position, however they were passed; a call the contract's signature does
not accept raises ``TypeError``) and returns what the test configured with
:meth:`RecordingFake.returns` (``None`` by default). :func:`stand_in_module` turns a real
module's declaration into one whose services are such fakes, so a module under test can be
bootstrapped without its dependencies.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

from aura.conformance import contract_methods
from aura.module import Module

__all__ = ["FakeCall", "RecordingFake", "stand_in_module"]


@dataclasses.dataclass(frozen=True, slots=True)
class FakeCall:
    """One call a fake received."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class RecordingFake:
    """Base of generated fakes: records calls and answers with configured results."""

    contract: type[Any] | None = None

    def __init__(self) -> None:
        self.calls: list[FakeCall] = []
        self._answers: dict[str, Callable[..., Any]] = {}

    @classmethod
    def for_contract(cls, contract: type[Any], name: str | None = None) -> RecordingFake:
        """Return a fake implementing every method of ``contract``."""
        namespace: dict[str, Any] = {"contract": contract}
        for method_name, declared in contract_methods(contract).items():
            namespace[method_name] = _fake_method(method_name, declared)
        fake_class = type(name or f"Fake{contract.__name__}", (cls,), namespace)
        fake: RecordingFake = fake_class()
        return fake

    def returns(self, method: str, value: Any) -> RecordingFake:
        """Make ``method`` return ``value`` from now on."""
        self._check(method)
        self._answers[method] = lambda *args, **kwargs: value
        return self

    def raises(self, method: str, error: BaseException) -> RecordingFake:
        """Make ``method`` raise ``error`` from now on."""
        self._check(method)

        def fail(*args: Any, **kwargs: Any) -> Any:
            raise error

        self._answers[method] = fail
        return self

    def answers(self, method: str, function: Callable[..., Any]) -> RecordingFake:
        """Make ``method`` return ``function(*args, **kwargs)`` from now on."""
        self._check(method)
        self._answers[method] = function
        return self

    def calls_to(self, method: str) -> list[FakeCall]:
        """The calls ``method`` received, in order."""
        return [call for call in self.calls if call.method == method]

    def _check(self, method: str) -> None:
        if not callable(getattr(type(self), method, None)) or method.startswith("_"):
            raise AttributeError(
                f"{type(self).__name__} has no method {method!r}; its contract has: "
                f"{', '.join(contract_methods(self.contract)) if self.contract else 'none'}."
            )

    def _answer(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self.calls.append(FakeCall(method, args, kwargs))
        answer = self._answers.get(method)
        return answer(*args, **kwargs) if answer is not None else None


def _fake_method(name: str, declared: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(declared)

    def record(self: RecordingFake, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        # Calls are checked against the contract's signature (a wrong call raises TypeError, as
        # the real service would) and recorded by name, however they were passed.
        bound = signature.bind(self, *args, **kwargs)
        return self._answer(name, bound.args[1:], bound.kwargs)  # without self

    if inspect.iscoroutinefunction(declared):

        async def async_method(self: RecordingFake, *args: Any, **kwargs: Any) -> Any:
            return record(self, args, kwargs)

        method: Callable[..., Any] = async_method
    else:

        def sync_method(self: RecordingFake, *args: Any, **kwargs: Any) -> Any:
            return record(self, args, kwargs)

        method = sync_method
    method.__name__ = method.__qualname__ = name
    method.__signature__ = signature  # type: ignore[attr-defined]  # conformance reads it
    return method


def stand_in_module(module: Module) -> Module:
    """Return a module of the same name whose services are recording fakes of its contracts.

    Services declared without a contract are faked from their class's public methods. The stand-in
    declares no handlers, providers or hooks: it only answers calls.
    """
    stand_in = Module(module.name, description=f"recording stand-in for {module.name}")
    for service in module.services:
        contract = service.contract
        if contract is None:
            provider = service.provider
            contract = provider if inspect.isclass(provider) else type(provider)
        stand_in.add_service(
            service.name, RecordingFake.for_contract(contract), contract=service.contract
        )
    return stand_in
