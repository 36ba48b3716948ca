"""Runtime verification: does a platform keep the promises its modules declare?

``verify(platform)`` checks what the platform registered against its modules' declarations and
returns every problem at once, as data (:class:`VerificationResult`); ``render()`` turns the
result into text. The rules:

- ``contract-not-implemented``: a service registered with a contract implements it (a class or
  an instance is checked as registered; a factory through its return annotation, or through
  what it built once it has been built);
- ``event-without-contract``: every subscribed event type (or pattern) has an event contract;
- ``event-without-publisher``: every subscribed event type is declared by some module with
  ``publishes(...)``;
- ``dependency-cycle``: declared dependencies (``depends_on``) are acyclic;
- ``unused-dependency``: every declared dependency is used. "Used" is judged statically: the
  module's own source looks up a service of that module (``get_service("users", ...)``, or
  ``resolve("user_service")`` from the container). Recorded calls would depend on which tests
  ran; the source gives the same answer every time;
- ``undeclared-call`` (only with ``calls``, or through :func:`verify_calls`): every recorded
  cross-module call goes to a module its caller declares in ``depends_on``.

The static scan (:func:`find_references`) is shared with ``aura.architecture``, whose import-linter
contract applies the same declarations to the source alone.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import os
import sys
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from aura.bus import EventBus
from aura.conformance import check_conformance
from aura.container import Container
from aura.events import EventCatalog
from aura.exceptions import ContractViolationError
from aura.module import Module
from aura.registry import ServiceCall, ServiceInfo, ServiceRegistry

__all__ = [
    "Problem",
    "Reference",
    "VerifiablePlatform",
    "VerificationResult",
    "as_lookups",
    "cycle_problems",
    "did_you_mean",
    "event_without_publisher",
    "find_cycles",
    "find_references",
    "module_sources",
    "patterns_overlap",
    "references_in_file",
    "verify",
    "verify_calls",
]


class VerifiablePlatform(Protocol):
    """What verification reads from a platform (a :class:`~aura.platform.Platform` has it all)."""

    modules: dict[str, Module]
    registry: ServiceRegistry
    bus: EventBus
    container: Container


@dataclasses.dataclass(frozen=True, order=True)
class Problem:
    """One broken rule: where, what, and how to fix it."""

    module: str
    """The module at fault (for a cycle, its first module)."""
    rule: str
    """The rule's code, such as ``"unused-dependency"``."""
    subject: str
    """What the problem is about (a dependency, an event type, a service), for stable keys."""
    message: str
    fix: str
    location: str = ""
    """``path:line`` (or ``path``) when the problem has a place in the source."""

    @property
    def key(self) -> str:
        """A stable identity that ignores line numbers, so baselines survive edits."""
        return f"{self.rule} {self.module} {self.subject}"

    def to_dict(self) -> dict[str, str]:
        """Return the problem as JSON-ready data."""
        return {
            "rule": self.rule,
            "module": self.module,
            "subject": self.subject,
            "message": self.message,
            "fix": self.fix,
            "location": self.location,
            "key": self.key,
        }


@dataclasses.dataclass(frozen=True)
class VerificationResult:
    """The outcome of :func:`verify`: every problem found, sorted, and what was checked."""

    problems: tuple[Problem, ...]
    modules: tuple[str, ...]
    services: int
    subscriptions: int

    @property
    def ok(self) -> bool:
        """Whether no rule is broken."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        return {
            "ok": self.ok,
            "modules": list(self.modules),
            "services": self.services,
            "subscriptions": self.subscriptions,
            "problems": [problem.to_dict() for problem in self.problems],
        }

    def render(self) -> str:
        """Return the result as text: a summary line, then each problem with its fix."""
        checked = (
            f"{len(self.modules)} modules, {self.services} services, "
            f"{self.subscriptions} subscriptions"
        )
        if self.ok:
            return f"Platform verification: no problems ({checked})."
        count = len(self.problems)
        lines = [f"Platform verification: {count} problem{'s' * (count != 1)} ({checked})."]
        for problem in self.problems:
            where = f"{problem.location}: " if problem.location else ""
            lines.append(f"- [{problem.rule}] {where}{problem.message}")
            lines.append(f"  Fix: {problem.fix}")
        return "\n".join(lines)


# --- verification --------------------------------------------------------------------------------


def verify(
    platform: VerifiablePlatform, *, calls: Iterable[ServiceCall] | None = None
) -> VerificationResult:
    """Check ``platform`` against its modules' declarations; return every problem found.

    With ``calls`` (recorded :class:`~aura.registry.ServiceCall` objects), calls to modules the
    caller does not declare are problems too.
    """
    modules = platform.modules
    problems = [
        *_unimplemented_contracts(platform.registry, platform.container),
        *_subscription_problems(platform.bus, modules),
        *cycle_problems({name: module.depends_on for name, module in modules.items()}),
        *_unused_dependencies(modules),
        *(_undeclared_calls(modules, calls) if calls is not None else ()),
    ]
    return _result(platform, problems)


def verify_calls(platform: VerifiablePlatform, calls: Iterable[ServiceCall]) -> VerificationResult:
    """Check only recorded calls against declared dependencies (cheap enough for every test)."""
    return _result(platform, _undeclared_calls(platform.modules, calls))


def _result(platform: VerifiablePlatform, problems: Iterable[Problem]) -> VerificationResult:
    return VerificationResult(
        problems=tuple(sorted(set(problems))),
        modules=tuple(sorted(platform.modules)),
        services=len(platform.registry.services()),
        subscriptions=len(platform.bus.subscriptions()),
    )


def _unimplemented_contracts(registry: ServiceRegistry, container: Container) -> Iterator[Problem]:
    for info in registry.services():
        if info.contract is None:
            continue
        implementation = _implementation_of(info, container)
        if implementation is None:
            continue  # a factory not yet built and without a return annotation: checked on build
        try:
            check_conformance(implementation, info.contract)
        except ContractViolationError as error:
            contract = info.contract.__qualname__
            # The error lists one mismatch per "  - " line; keep those, on one line.
            mismatches = [line[4:] for line in str(error).splitlines() if line.startswith("  - ")]
            yield Problem(
                module=info.module_name,
                rule="contract-not-implemented",
                subject=info.service_name,
                message=(
                    f"Service {info.module_name}.{info.service_name} "
                    f"({implementation.__qualname__}) does not implement {contract}: "
                    f"{'; '.join(mismatches)}."
                ),
                fix=f"Implement every method of {contract} with the contract's signature.",
            )


def _implementation_of(info: ServiceInfo, container: Container) -> type[Any] | None:
    provider = info.provider
    if inspect.isclass(provider):
        return provider
    if not (inspect.isfunction(provider) or inspect.ismethod(provider)):
        return type(provider)  # a ready instance
    annotated = _hints(provider).get("return")
    if inspect.isclass(annotated):
        return annotated
    if info.built:  # already built: resolving hands back the same instance, with no side effect
        return type(container.resolve(f"{info.module_name}.{info.service_name}"))
    return None


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:  # unresolvable forward references: nothing can be learnt from them
        return {}


def _subscription_problems(bus: EventBus, modules: Mapping[str, Module]) -> Iterator[Problem]:
    declared = sorted({pattern for module in modules.values() for pattern in module.published})
    for subscription in bus.subscriptions():
        pattern, subscriber = subscription.pattern, subscription.subscriber_module
        handler = subscription.handler_name
        if not _has_contract(bus.catalog, pattern):
            yield Problem(
                module=subscriber,
                rule="event-without-contract",
                subject=pattern,
                message=(
                    f"{subscriber} subscribes {handler} to {pattern!r}, which has no event "
                    f"contract.{did_you_mean(pattern, bus.catalog.types())}"
                ),
                fix=(
                    f"Declare the event with @event_contract({pattern!r}) on a dataclass in the "
                    "platform's contracts, or correct the event type."
                ),
            )
        if not any(patterns_overlap(pattern, published) for published in declared):
            yield event_without_publisher(subscriber, pattern, declared, handler=handler)


def event_without_publisher(
    module: str, pattern: str, declared: Sequence[str], *, handler: str = "", location: str = ""
) -> Problem:
    """The problem of ``module`` subscribing to ``pattern``, which no declaration publishes."""
    subscribes = f"subscribes {handler} to" if handler else "subscribes to"
    return Problem(
        module=module,
        rule="event-without-publisher",
        subject=pattern,
        message=(
            f"{module} {subscribes} {pattern!r}, which no module declares it publishes."
            f"{did_you_mean(pattern, declared)}"
        ),
        fix=(
            f"Add publishes({pattern!r}) to the declaration of the module that publishes it, or "
            "correct the event type."
        ),
        location=location,
    )


def _has_contract(catalog: EventCatalog, pattern: str) -> bool:
    if "*" not in pattern:
        return pattern in catalog
    return any(patterns_overlap(pattern, event_type) for event_type in catalog.types())


def did_you_mean(given: str, candidates: Iterable[str]) -> str:
    """Return " Did you mean 'x'?" for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(given, sorted(candidates), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def cycle_problems(graph: Mapping[str, Iterable[str]]) -> Iterator[Problem]:
    """One problem per cycle of the module dependency ``graph``, each written as its path."""
    for cycle in find_cycles(graph):
        path = " -> ".join(cycle)
        yield Problem(
            module=cycle[0],
            rule="dependency-cycle",
            subject=path,
            message=f"Modules depend on each other in a cycle: {path}.",
            fix=(
                "Break the cycle: let one of these modules react to another's events instead "
                "of calling its services, and remove that entry from depends_on."
            ),
        )


def _unused_dependencies(modules: Mapping[str, Module]) -> Iterator[Problem]:
    for name, module in modules.items():
        if not module.depends_on:
            continue
        sources = module_sources(module)
        if not sources:
            continue  # no source to read (built in a REPL, or shipped without .py files)
        found = [reference for path in sources for reference in references_in_file(path)]
        used = {
            reference.target
            for reference in as_lookups(found, modules.values())
            if reference.kind == "lookup"
        }
        for dependency in module.depends_on:
            if dependency not in used:
                yield Problem(
                    module=name,
                    rule="unused-dependency",
                    subject=dependency,
                    message=(
                        f"{name} declares depends_on {dependency!r}, but its code never looks "
                        f"up a service of {dependency!r}."
                    ),
                    fix=(
                        f"Remove {dependency!r} from depends_on of module {name!r}; a module "
                        "needs no dependency to subscribe to another module's events."
                    ),
                    location=_shown_path(sources[0]),
                )


def _undeclared_calls(
    modules: Mapping[str, Module], calls: Iterable[ServiceCall]
) -> Iterator[Problem]:
    counts: dict[tuple[str, str, str], int] = {}
    for call in calls:
        caller = call.caller_module
        module = modules.get(caller) if caller is not None else None
        if module is None or caller is None or call.provider_module == caller:
            continue  # code outside any module, a stand-in, or a module calling itself
        if call.provider_module not in module.depends_on:
            key = (caller, call.provider_module, f"{call.service_name}.{call.method}")
            counts[key] = counts.get(key, 0) + 1
    for (caller, provider, target), count in counts.items():
        times = f"{count} time{'s' * (count != 1)}"
        yield Problem(
            module=caller,
            rule="undeclared-call",
            subject=f"{provider}.{target}",
            message=(
                f"{caller} called {provider}.{target}() ({times}), but does not declare "
                f"{provider!r} in depends_on."
            ),
            fix=(
                f"Add {provider!r} to depends_on of module {caller!r}, or react to "
                f"{provider}'s events instead of calling it."
            ),
        )


# --- graphs and patterns -------------------------------------------------------------------------


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[tuple[str, ...]]:
    """Return every elementary cycle of ``graph`` as a path, ``("a", "b", "a")``, sorted.

    Each cycle starts at its smallest name, so the same cycle is always written the same way.
    """
    edges = {node: sorted(set(targets)) for node, targets in graph.items()}
    cycles: list[tuple[str, ...]] = []

    def walk(start: str, node: str, path: list[str]) -> None:
        for target in edges.get(node, ()):
            if target == start:
                cycles.append((*path, start))
            elif target > start and target not in path:
                walk(start, target, [*path, target])

    for start in sorted(edges):
        walk(start, start, [start])
    return sorted(cycles)


def patterns_overlap(first: str, second: str) -> bool:
    """Tell whether two event types or patterns can select a common event type."""
    if "*" in (first, second) or first == second:
        return True
    words, others = first.split("."), second.split(".")
    return len(words) == len(others) and all(
        "*" in (word, other) or word == other for word, other in zip(words, others, strict=True)
    )


# --- static references ---------------------------------------------------------------------------


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
    constants = _string_constants(tree)
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
            owners[service.key] = owners[f"{module.name}.{service.name}"] = (
                module.name,
                service.name,
            )
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


def _string_constants(tree: ast.Module) -> dict[str, str]:
    constants: dict[str, str] = {}
    assigned: set[str] = set()
    for statement in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign):
            targets, value = [statement.target], statement.value
        for target in targets:
            if not isinstance(target, ast.Name):
                continue
            if target.id in assigned:  # bound twice: not a constant we can trust
                constants.pop(target.id, None)
            elif isinstance(value, ast.Constant) and isinstance(value.value, str):
                constants[target.id] = value.value
            assigned.add(target.id)
    return constants


def references_in_file(path: Path) -> list[Reference]:
    """Find the references in the file at ``path`` (none if it cannot be read or parsed)."""
    try:
        return find_references(path.read_text(encoding="utf-8"), _shown_path(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return []  # unreadable source teaches nothing; the import itself would have failed


def _shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it, else absolute."""
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
