"""Runtime verification: does a platform keep the promises its modules declare?

``verify(platform)`` checks what the platform registered against its modules' declarations and
returns every problem at once, as data (:class:`VerificationResult`, whose problems are
:class:`~aura.findings.Finding` records); ``render()`` turns the result into text. The rules:

- ``contract-not-implemented``: a service registered with a contract implements it (a class or
  an instance is checked as registered; a factory through its return annotation, or through
  what it built once it has been built);
- ``event-without-contract``: every subscribed event type (or pattern) has an event contract;
- ``event-without-publisher``: every subscribed event type is declared by some module with
  ``publishes(...)``;
- ``dependency-cycle``: declared dependencies (``depends_on``) are acyclic;
- ``undeclared-call`` (only with ``calls``, or through :func:`verify_calls`): every recorded
  cross-module call goes to a module its caller declares in ``depends_on``;
- ``declaration-conflict`` (only with ``boundaries``): a module declared both by the platform's
  ``Module(...)`` and by the project's module map (``[tool.aura.boundaries]``) is declared the
  same way in both.

With ``boundaries`` (a :class:`~aura.architecture.modulemap.ModuleMap`), the declared
dependencies are the map's, so a module declared only in ``[tool.aura.boundaries]`` (code not
written on Aura's ``Module``, a seed-style ``register_services`` module) is verified too.

Only what the running platform shows is checked here. What a module's source shows (its
``get_service(...)``, ``resolve(...)`` and ``subscribe(...)`` strings) is judged by
:mod:`aura.architecture`, which reads the source: ``aura check`` runs both. The helpers shared
with it (:func:`event_without_publisher`, :func:`cycle_problems`, :func:`patterns_overlap`,
:func:`did_you_mean`) live here, below it.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from aura.bus import EventBus
from aura.conformance import check_conformance
from aura.container import Container
from aura.events import EventCatalog
from aura.exceptions import ContractViolationError
from aura.findings import PLATFORM_VERIFICATION, Finding, count, render_json, render_lines
from aura.module import Module
from aura.naming import did_you_mean, patterns_overlap
from aura.registry import ServiceCall, ServiceInfo, ServiceRegistry

__all__ = [
    "SOURCE",
    "DeclaredModule",
    "Finding",
    "ModuleDeclarations",
    "Problem",
    "VerifiablePlatform",
    "VerificationResult",
    "cycle_problems",
    "declared_dependencies",
    "defined_at",
    "did_you_mean",
    "event_without_publisher",
    "find_cycles",
    "patterns_overlap",
    "verify",
    "verify_calls",
]

SOURCE = PLATFORM_VERIFICATION
"""The source of every finding of :func:`verify` (and its name in ``aura check``)."""

Problem = Finding
"""The former name of :class:`~aura.findings.Finding`, kept for code written against it."""


class VerifiablePlatform(Protocol):
    """What verification reads from a platform (a :class:`~aura.platform.Platform` has it all)."""

    modules: dict[str, Module]
    registry: ServiceRegistry
    bus: EventBus
    container: Container


class DeclaredModule(Protocol):
    """One module as a module map declares it (:class:`~aura.architecture.modulemap.ModuleSpec`)."""

    @property
    def name(self) -> str: ...

    @property
    def depends_on(self) -> tuple[str, ...]: ...

    @property
    def origin(self) -> str: ...

    @property
    def publishes(self) -> tuple[str, ...] | None:
        """The event types it publishes, or ``None`` when the map does not say."""


class ModuleDeclarations(Protocol):
    """A module map (``[tool.aura.boundaries]``): :class:`aura.architecture.modulemap.ModuleMap`."""

    @property
    def modules(self) -> Sequence[DeclaredModule]: ...


@dataclasses.dataclass(frozen=True)
class VerificationResult:
    """The outcome of :func:`verify`: every problem found, sorted, and what was checked."""

    problems: tuple[Finding, ...]
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
            f"{count(len(self.modules), 'module')}, {count(self.services, 'service')}, "
            f"{count(self.subscriptions, 'subscription')}"
        )
        if self.ok:
            return f"Platform verification: no problems ({checked})."
        summary = f"Platform verification: {count(len(self.problems), 'problem')} ({checked})."
        return "\n".join([summary, *render_lines(self.problems)])

    def render_json(self) -> str:
        """Return the result as JSON, keys sorted."""
        return render_json(self.to_dict())


# --- verification --------------------------------------------------------------------------------


def verify(
    platform: VerifiablePlatform,
    *,
    calls: Iterable[ServiceCall] | None = None,
    boundaries: ModuleDeclarations | None = None,
) -> VerificationResult:
    """Check ``platform`` against its modules' declarations; return every problem found.

    With ``calls`` (recorded :class:`~aura.registry.ServiceCall` objects), calls to modules the
    caller does not declare are problems too. With ``boundaries``, the project's module map
    joins the declarations (see the module's docstring).
    """
    modules = platform.modules
    declared = declared_dependencies(modules, boundaries)
    problems = [
        *_unimplemented_contracts(platform.registry, platform.container),
        *_subscription_problems(platform.bus, modules),
        *cycle_problems(declared),
        *(_undeclared_calls(declared, calls) if calls is not None else ()),
        *(_conflicts(modules, boundaries) if boundaries is not None else ()),
    ]
    return _result(platform, problems)


def verify_calls(
    platform: VerifiablePlatform,
    calls: Iterable[ServiceCall],
    *,
    boundaries: ModuleDeclarations | None = None,
) -> VerificationResult:
    """Check only recorded calls against declared dependencies (cheap enough for every test)."""
    declared = declared_dependencies(platform.modules, boundaries)
    return _result(platform, _undeclared_calls(declared, calls))


def declared_dependencies(
    modules: Mapping[str, Module], boundaries: ModuleDeclarations | None = None
) -> dict[str, tuple[str, ...]]:
    """Each module's declared dependencies: the module map's where it declares the module,
    else the ``Module(...)`` declaration's."""
    declared = {name: module.depends_on for name, module in modules.items()}
    if boundaries is not None:
        declared.update((spec.name, spec.depends_on) for spec in boundaries.modules)
    return declared


def _conflicts(modules: Mapping[str, Module], boundaries: ModuleDeclarations) -> Iterator[Finding]:
    for spec in boundaries.modules:
        module = modules.get(spec.name)
        if module is None or module.synthesized:
            continue  # not on the platform, or a seed-style module that declares nothing
        declared = {"depends_on": (sorted(module.depends_on), sorted(spec.depends_on))}
        publishes = spec.publishes
        if publishes is not None:  # the map says what it publishes: so must the code
            declared["publishes"] = (sorted(set(module.published)), sorted(set(publishes)))
        for key, (platform_says, map_says) in declared.items():
            if platform_says == map_says:
                continue
            yield Finding(
                module=spec.name,
                rule="declaration-conflict",
                subject=key,
                message=(
                    f"Module {spec.name!r} of the platform declares {key} {platform_says!r}, "
                    f"but the module map says {map_says!r} ({spec.origin})."
                ),
                fix="Make the two declarations the same, or declare the module in one place only.",
            )


def _result(platform: VerifiablePlatform, problems: Iterable[Finding]) -> VerificationResult:
    return VerificationResult(
        problems=tuple(sorted({dataclasses.replace(p, source=SOURCE) for p in problems})),
        modules=tuple(sorted(platform.modules)),
        services=len(platform.registry.services()),
        subscriptions=len(platform.bus.subscriptions()),
    )


def _unimplemented_contracts(registry: ServiceRegistry, container: Container) -> Iterator[Finding]:
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
            yield Finding(
                module=info.module_name,
                rule="contract-not-implemented",
                subject=info.service_name,
                message=(
                    f"Service {info.module_name}.{info.service_name} "
                    f"({implementation.__qualname__}) does not implement {contract}: "
                    f"{'; '.join(mismatches)}."
                ),
                fix=f"Implement every method of {contract} with the contract's signature.",
                location=defined_at(implementation),
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


def _subscription_problems(bus: EventBus, modules: Mapping[str, Module]) -> Iterator[Finding]:
    declared = sorted({pattern for module in modules.values() for pattern in module.published})
    for subscription in bus.subscriptions():
        pattern, subscriber = subscription.pattern, subscription.subscriber_module
        handler = subscription.handler_name
        if not _has_contract(bus.catalog, pattern):
            yield Finding(
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
                location=defined_at(subscription.handler),
            )
        if not any(patterns_overlap(pattern, published) for published in declared):
            yield event_without_publisher(
                subscriber,
                pattern,
                declared,
                handler=handler,
                location=defined_at(subscription.handler),
            )


def defined_at(target: object) -> str:
    """Where ``target`` is defined, as ``path:line`` (the path as Python loaded it): a
    function's first line (its first decorator, where ``@module.subscribe`` is written), a
    method's, a class's ``class`` line, a callable instance's ``__call__``; ``""`` when Python
    cannot tell (a builtin, code compiled from a string, a class whose source is gone)."""
    if callable(target):
        target = inspect.unwrap(target)  # through functools.wraps, to the code written
    if inspect.ismethod(target):
        target = target.__func__
    if not inspect.isclass(target) and not inspect.isfunction(target) and callable(target):
        target = type(target).__call__  # a callable instance: where its class defines the call
    code = getattr(target, "__code__", None)
    if code is not None:
        return f"{code.co_filename}:{code.co_firstlineno}" if _is_file(code.co_filename) else ""
    if not inspect.isclass(target):
        return ""
    try:
        path = inspect.getsourcefile(target)
        _, line = inspect.findsource(target)
    except (OSError, TypeError):
        return ""
    return f"{path}:{line + 1}" if path and _is_file(path) else ""


def _is_file(path: str) -> bool:
    return not (path.startswith("<") and path.endswith(">"))  # "<string>", "<stdin>"


def event_without_publisher(
    module: str, pattern: str, declared: Sequence[str], *, handler: str = "", location: str = ""
) -> Finding:
    """The problem of ``module`` subscribing to ``pattern``, which no declaration publishes."""
    subscribes = f"subscribes {handler} to" if handler else "subscribes to"
    return Finding(
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


def cycle_problems(graph: Mapping[str, Iterable[str]]) -> Iterator[Finding]:
    """One problem per cycle of the module dependency ``graph``, each written as its path."""
    for cycle in find_cycles(graph):
        path = " -> ".join(cycle)
        yield Finding(
            module=cycle[0],
            rule="dependency-cycle",
            subject=path,
            message=f"Modules depend on each other in a cycle: {path}.",
            fix=(
                "Break the cycle: let one of these modules react to another's events instead "
                "of calling its services, and remove that entry from depends_on."
            ),
        )


def _undeclared_calls(
    declared: Mapping[str, Sequence[str]], calls: Iterable[ServiceCall]
) -> Iterator[Finding]:
    counts: dict[tuple[str, str, str], int] = {}
    for call in calls:
        caller = call.caller_module
        dependencies = declared.get(caller) if caller is not None else None
        if dependencies is None or caller is None or call.provider_module == caller:
            continue  # code outside any module, a stand-in, or a module calling itself
        if call.provider_module not in dependencies:
            key = (caller, call.provider_module, f"{call.service_name}.{call.method}")
            counts[key] = counts.get(key, 0) + 1
    for (caller, provider, target), number in counts.items():
        times = count(number, "time")
        yield Finding(
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
