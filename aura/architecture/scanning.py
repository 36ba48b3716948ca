"""The source scan: string references to other modules' services and to event types.

Modules reach each other through strings imports cannot show: ``get_service("users", ...)``,
``resolve("user_service")`` and ``subscribe("user.deactivated")``. :func:`find_references` reads
them from source (AST, nothing is imported or run); :func:`module_sources` finds the files of a
module's code, found from a running platform's ``Module`` objects. The platform's verification in
``aura check`` (:mod:`aura.architecture.rules`: ``unused-dependency``) builds on them; the module
map's checks read the source through :mod:`aura.architecture.sources` instead, without a platform.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from aura.architecture.sources import string_constants
from aura.module import Module

__all__ = [
    "Reference",
    "as_lookups",
    "find_references",
    "module_sources",
    "references_in_file",
    "shown_path",
]


@dataclasses.dataclass(frozen=True, order=True)
class Reference:
    """A string reference in source code to another module's service or to an event type."""

    path: str
    line: int
    kind: str
    """``"lookup"`` (``get_service(module, service)``), ``"resolve"`` (``resolve(key)``, a
    container lookup) or ``"subscription"``."""
    target: str
    """The module looked up, or the event type (or pattern) subscribed to."""
    detail: str = ""
    """For a lookup, the service name (``"?"`` when it is not a string constant)."""


def find_references(source: str, path: str) -> list[Reference]:
    """Find the service lookups and subscriptions in ``source``, in order of appearance.

    Only string constants count: literals, and names bound once to a string at module level
    (``USERS = "users"``). Lookups are ``get_service(<module>, <service>)`` calls in any form
    (``registry.get_service``, ``service_registry.get_service``); subscriptions are
    ``subscribe(<event type>, ...)`` calls (``@module.subscribe(...)``,
    ``module.subscribe(...)(handler)``, ``bus.subscribe(...)``).
    """
    tree = ast.parse(source, filename=path)
    constants = string_constants(tree)
    found: list[Reference] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _called_name(node.func)
        if name == "get_service":
            module = _argument(node, 0, "module_name", constants)
            if module is not None:
                service = _argument(node, 1, "service_name", constants) or "?"
                found.append(Reference(path, node.lineno, "lookup", module, service))
        elif name == "resolve":
            key = _argument(node, 0, "key", constants)
            if key is not None:
                found.append(Reference(path, node.lineno, "resolve", key))
        elif name == "subscribe":
            event_type = _argument(node, 0, "event_type", constants)
            if event_type is not None:
                found.append(Reference(path, node.lineno, "subscription", event_type))
    return sorted(found, key=lambda reference: (reference.line, reference.kind))


def as_lookups(references: Iterable[Reference], modules: Iterable[Module]) -> list[Reference]:
    """Return ``references`` with each container lookup of a module's service as a lookup.

    ``resolve("user_service")`` and ``resolve("users.UserService")`` reach the users module as
    surely as ``get_service("users", "UserService")``; other keys are the module's own
    providers and are dropped.
    """
    owners: dict[str, tuple[str, str]] = {}
    for module in modules:
        for service in module.services:
            for name in (*service.container_names, f"{module.name}.{service.name}"):
                owners[name] = (module.name, service.name)
    converted = []
    for reference in references:
        if reference.kind != "resolve":
            converted.append(reference)
        elif reference.target in owners:
            owner, name = owners[reference.target]
            converted.append(
                dataclasses.replace(reference, kind="lookup", target=owner, detail=name)
            )
    return converted


def _called_name(function: ast.expr) -> str | None:
    if isinstance(function, ast.Attribute):
        return function.attr
    if isinstance(function, ast.Name):
        return function.id
    return None


def _argument(
    call: ast.Call, position: int, keyword: str, constants: Mapping[str, str]
) -> str | None:
    value: ast.expr | None = call.args[position] if len(call.args) > position else None
    for given in call.keywords:
        if given.arg == keyword:
            value = given.value
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return value.value
    if isinstance(value, ast.Name):
        return constants.get(value.id)
    return None


def references_in_file(path: Path) -> list[Reference]:
    """Find the references in the file at ``path`` (none if it cannot be read or parsed)."""
    try:
        return find_references(path.read_text(encoding="utf-8"), shown_path(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return []  # unreadable source teaches nothing; the import itself would have failed


def shown_path(path: Path) -> str:
    """Return ``path`` relative to the working directory when it is inside it, else absolute."""
    try:
        return Path(os.path.relpath(path)).as_posix() if path.is_absolute() else path.as_posix()
    except ValueError:  # another drive, on Windows
        return path.as_posix()


def module_sources(module: Module) -> list[Path]:
    """Return the source files of ``module``'s code, sorted.

    The files of the package whose ``module`` attribute is this declaration, when there is one
    (found from where the declared services, handlers and hooks are defined); otherwise the files
    that define them.
    """
    package = _declaring_package(module)
    if package is not None:
        return _package_files(package)
    files = set()
    for item in _declared_callables(module):
        try:
            file = inspect.getsourcefile(item)
        except TypeError:  # a builtin has no source
            continue
        if file is not None:
            files.add(Path(file))
    return sorted(files)


def _declared_callables(module: Module) -> Iterator[Any]:
    for item in (
        *(service.provider for service in module.services),
        *(provider.provider for provider in module.providers),
        *(handler.handler for handler in module.handlers),
        *module.start_hooks,
        *(route.endpoint for route in module.routes),
    ):
        target = inspect.unwrap(item) if callable(item) else item
        if not (inspect.isclass(target) or inspect.isfunction(target)):
            target = type(target)  # an instance: its class carries the source
        yield target


def _declaring_package(module: Module) -> ModuleType | None:
    for item in _declared_callables(module):
        dotted = str(getattr(item, "__module__", ""))
        while dotted:
            candidate = sys.modules.get(dotted)
            if candidate is not None and getattr(candidate, "module", None) is module:
                return candidate
            dotted = dotted.rpartition(".")[0]
    return None


def _package_files(package: ModuleType) -> list[Path]:
    locations = list(getattr(package, "__path__", ()))
    if not locations:
        file = getattr(package, "__file__", None)
        return [Path(file)] if file else []
    return sorted(
        path
        for location in locations
        for path in Path(location).rglob("*.py")
        if "__pycache__" not in path.parts
    )
