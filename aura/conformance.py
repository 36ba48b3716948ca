"""Service contracts: which methods a contract declares, and whether a class implements them.

A contract is an ABC (the seed's form) or a ``typing.Protocol``. Its methods are its public
callables; a class conforms when it has each of them, ``async`` where the contract is, with a
signature that accepts every call the contract's signature accepts.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from typing import Any

from aura.exceptions import ContractViolationError

__all__ = ["check_conformance", "contract_methods"]


_methods: weakref.WeakKeyDictionary[type[Any], dict[str, Callable[..., Any]]] = (
    weakref.WeakKeyDictionary()
)
"""Each contract's methods, read once: every platform (every test) registers the same ones."""


def contract_methods(contract: type[Any]) -> dict[str, Callable[..., Any]]:
    """Return the public methods a contract declares, by name, in definition order."""
    if not isinstance(contract, type):
        raise ContractViolationError(
            f"A service contract must be a class (an ABC or a typing.Protocol), got "
            f"{type(contract).__name__} ({contract!r}). Pass the contract class itself."
        )
    known = _methods.get(contract)
    if known is None:
        known = _methods[contract] = _read_methods(contract)
    return dict(known)  # the caller's own copy: the kept one stays as read


def _read_methods(contract: type[Any]) -> dict[str, Callable[..., Any]]:
    methods: dict[str, Callable[..., Any]] = {}
    for klass in reversed(contract.__mro__):
        if klass is object or klass.__module__ in ("abc", "typing", "typing_extensions"):
            continue
        for name, member in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(member, staticmethod | classmethod):
                member = member.__func__
            if inspect.isfunction(member):
                methods[name] = member
    return methods


_conforming: set[tuple[type[Any], type[Any]]] = set()
"""Pairs already found to conform: classes do not change, and every platform checks again."""


def check_conformance(implementation: type[Any], contract: type[Any]) -> None:
    """Raise ContractViolationError naming every missing or mismatched method."""
    if (implementation, contract) in _conforming:
        return
    problems = []
    for name, declared in contract_methods(contract).items():
        provided = inspect.getattr_static(implementation, name, None)
        if isinstance(provided, staticmethod | classmethod):
            provided = provided.__func__
        if provided is None or not callable(provided):
            problems.append(f"missing method {name}{_signature_text(declared)}")
            continue
        if getattr(provided, "__isabstractmethod__", False):
            problems.append(f"method {name} is still abstract; implement it")
            continue
        problem = _mismatch(declared, provided)
        if problem:
            problems.append(
                f"{name}{_signature_text(provided)} does not match the contract's "
                f"{name}{_signature_text(declared)}: {problem}"
            )
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ContractViolationError(
            f"{implementation.__qualname__} does not implement {contract.__qualname__}:\n"
            f"{lines}\nImplement the missing methods and align the signatures with the contract."
        )
    if len(_conforming) < 10_000:  # bounded: classes made on the fly must not grow it forever
        _conforming.add((implementation, contract))


def _signature_text(function: Callable[..., Any]) -> str:
    try:
        return str(inspect.signature(function))
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return "(...)"


def _mismatch(declared: Callable[..., Any], provided: Callable[..., Any]) -> str | None:
    if inspect.iscoroutinefunction(declared) != inspect.iscoroutinefunction(provided):
        return (
            "the contract's method is async"
            if inspect.iscoroutinefunction(declared)
            else ("the contract's method is not async")
        )
    try:
        wanted = list(inspect.signature(declared).parameters.values())
        given = list(inspect.signature(provided).parameters.values())
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return None
    return _parameters_mismatch(wanted, given)


def _parameters_mismatch(
    wanted: list[inspect.Parameter], given: list[inspect.Parameter]
) -> str | None:
    kinds = inspect.Parameter
    var_positional = any(p.kind is kinds.VAR_POSITIONAL for p in given)
    var_keyword = any(p.kind is kinds.VAR_KEYWORD for p in given)
    given_positional = [
        p for p in given if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
    ]
    given_by_name = {p.name: p for p in given if p.kind is not kinds.POSITIONAL_ONLY}
    used: set[str] = set()
    position = 0
    for parameter in wanted:
        if parameter.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD):
            if position < len(given_positional):
                match = given_positional[position]
                position += 1
                if parameter.kind is kinds.POSITIONAL_OR_KEYWORD and match.name != parameter.name:
                    return f"parameter {parameter.name!r} is called {match.name!r}"
            elif not var_positional:
                return f"parameter {parameter.name!r} is missing"
            else:
                continue
        elif parameter.kind is kinds.KEYWORD_ONLY:
            match_or_none = given_by_name.get(parameter.name)
            if match_or_none is None:
                if var_keyword:
                    continue
                return f"keyword parameter {parameter.name!r} is missing"
            match = match_or_none
        elif parameter.kind is kinds.VAR_POSITIONAL:
            if not var_positional:
                return f"*{parameter.name} is missing"
            continue
        else:
            if not var_keyword:
                return f"**{parameter.name} is missing"
            continue
        used.add(match.name)
        if parameter.default is not kinds.empty and match.default is kinds.empty:
            return f"parameter {parameter.name!r} needs a default, as in the contract"
    for extra in given:
        if extra.name in used or extra.kind in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD):
            continue
        if extra.default is kinds.empty:
            return f"extra parameter {extra.name!r} has no default"
    return None
