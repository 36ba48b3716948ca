"""The boundary checks: what each module's source really uses, judged against the module map.

:func:`check_boundaries` scans every file of every module (:mod:`aura.architecture.sources`;
nothing is imported) and returns one :class:`~aura.findings.Finding` per violation, each with
its place (``path:line``), the module at fault, what it uses and the fix:

- ``undeclared-dependency``: a module imports (or looks up, or couples by string to) another
  module it does not list in ``depends_on``; ``unknown-module`` for a lookup of no module;
- ``internal-import``: it imports a declared dependency, but not through its published interface;
- ``layer``: inside a module, a layer imports a layer above it, or an independent sibling;
- ``dependency-cycle``: modules depend on each other in a cycle (imports, declarations and
  lookups together), with the cycle's path and the place of each step;
- ``event-without-publisher`` / ``undeclared-event``: a subscription to an event no module
  publishes, a publish of an event its module does not declare (where publishes are declared);
- ``syntax-error``: a file that cannot be parsed: never skipped, since it might hold anything;
- ``unused-dependency``: a module lists in ``depends_on`` a module its code never uses (no
  import, lookup or coupling): subscribing to another module's events needs no dependency.

:class:`BoundaryReport` carries the findings and what was checked (modules, files), so that a run
that checked nothing cannot pass for one that found nothing.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from aura.architecture.modulemap import AURA_CALLS, ModuleMap, ModuleSpec
from aura.architecture.sources import SERVICES_GET, Call, FileScan, Import, SourceFile, scan_files
from aura.exceptions import InvalidEventTypeError, InvalidNameError
from aura.findings import Finding
from aura.naming import (
    check_event_type,
    check_pattern,
    did_you_mean,
    pattern_matches,
    patterns_overlap,
)

__all__ = ["SOURCE", "BoundaryReport", "Usage", "check_boundaries", "module_usages"]

SOURCE = "module map"
"""The ``source`` of the findings of these checks."""


@dataclasses.dataclass(frozen=True, slots=True)
class Usage:
    """One module using another: an import, a lookup, or a string coupling, with its place."""

    module: str
    target_module: str
    target: str
    path: str
    line: int
    kind: str
    """``"import"``, ``"lookup"`` (``get_service``/``resolve``) or ``"coupling"``."""


@dataclasses.dataclass(frozen=True)
class BoundaryReport:
    """The findings of one run of the checks, and what they covered."""

    findings: tuple[Finding, ...]
    modules: int
    files: int
    usages: tuple[Usage, ...] = ()
    scans: Mapping[Path, FileScan] = dataclasses.field(default_factory=dict)
    """What the scan read of each file (its imports and string-coupling calls), for the docs and
    the test selection to reuse instead of reading the files again."""


def check_boundaries(module_map: ModuleMap, *, cache: bool | None = None) -> BoundaryReport:
    """Check every module of ``module_map``; ``cache`` overrides the map's ``cache`` setting."""
    scans = _scan(module_map, cache)
    known = _known_modules(module_map)
    findings: list[Finding] = []
    usages: list[Usage] = []
    owners = _service_owners(module_map)
    published = _published(module_map)
    unread: set[str] = set()  # modules whose uses are not all known (a file not parsed)
    for spec in module_map.modules:
        for file in spec.files:
            scan = scans[file.path]
            shown = _shown(file.path, module_map.root)
            if scan.error is not None:
                findings.append(_syntax_error(spec, shown, scan))
                unread.add(spec.name)
                continue
            for item in scan.imports:
                for target in _targets(item, known):
                    findings.extend(_import_findings(module_map, spec, file, shown, item, target))
                    owner = module_map.module_of(target)
                    if owner is not None and owner.name != spec.name:
                        usages.append(
                            Usage(spec.name, owner.name, target, shown, item.line, "import")
                        )
            for call in scan.calls:
                findings.extend(
                    _call_findings(module_map, spec, shown, call, owners, published, usages)
                )
                if _names_a_module_unread(call, module_map.aura_calls):
                    unread.add(spec.name)
    findings.extend(_cycles(module_map, usages))
    # A lookup of no module is most likely a misspelt dependency: that one is not unused.
    unread.update(f.module for f in findings if f.rule == "unknown-module")
    findings.extend(_unused(module_map, usages, unread))
    return BoundaryReport(
        findings=tuple(sorted(set(findings), key=_order)),
        modules=len(module_map.modules),
        files=len(module_map.files),
        usages=tuple(usages),
        scans=scans,
    )


def module_usages(module_map: ModuleMap, *, cache: bool | None = None) -> dict[str, set[str]]:
    """Which modules each module uses (imports, lookups, couplings) and declares, by name."""
    report = check_boundaries(module_map, cache=cache)
    graph = {spec.name: set(spec.depends_on) for spec in module_map.modules}
    for usage in report.usages:
        graph[usage.module].add(usage.target_module)
    return graph


def _scan(module_map: ModuleMap, cache: bool | None) -> dict[Path, FileScan]:
    names = module_map.call_names
    use_cache = module_map.cache if cache is None else cache
    return scan_files(module_map.files, names, cache_root=module_map.root if use_cache else None)


def _known_modules(module_map: ModuleMap) -> set[str]:
    """The dotted names of the modules' files and of every folder above them (a folder without
    ``__init__.py`` is a namespace package: ``from shop.users import internal`` imports it)."""
    known = set()
    for file in module_map.files:
        dotted = file.dotted
        while dotted and dotted not in known:
            known.add(dotted)
            dotted = dotted.rpartition(".")[0]
    return known


def _targets(item: Import, known: set[str]) -> Iterator[str]:
    """The absolute names an import reaches: ``from a import b`` reaches ``a.b`` when that is a
    module of the project, else ``a`` (``b`` is an attribute of it)."""
    if not item.names:
        yield item.module
        return
    plain = False
    for name in item.names:
        candidate = f"{item.module}.{name}"
        if candidate in known:
            yield candidate
        else:
            plain = True
    if plain:
        yield item.module


def _import_findings(
    module_map: ModuleMap,
    spec: ModuleSpec,
    file: SourceFile,
    shown: str,
    item: Import,
    target: str,
) -> Iterator[Finding]:
    owner = module_map.module_of(target)
    if owner is None:
        return
    place = f"{shown}:{item.line}"
    if owner.name == spec.name:
        yield from _layer_findings(spec, file, target, place)
        return
    if owner.name not in spec.depends_on:
        yield _undeclared(spec, owner.name, target, target, place, f"stop importing {owner.name}")
    elif not owner.published(target):
        published = ", ".join(owner.interface)
        relative = target[len(owner.package) + 1 :] or "."  # "." is the package itself
        yield Finding(
            source=SOURCE,
            module=spec.name,
            rule="internal-import",
            subject=target,
            message=f"{spec.name} uses {target}",
            fix=(
                f"{target} is internal to {owner.name}, which publishes {published}: import "
                f"from there, or add {relative!r} to interface of {owner.name} ({owner.origin})"
            ),
            location=place,
        )


def _layer_findings(
    spec: ModuleSpec, file: SourceFile, target: str, place: str
) -> Iterator[Finding]:
    if not spec.layers:
        return
    here, there = spec.layer_of(file.dotted), spec.layer_of(target)
    if here is None or there is None:
        return
    source_layer = _layer_name(spec, file.dotted)
    target_layer = _layer_name(spec, target)
    if there < here:
        reason = f"the {source_layer} layer is below {target_layer}"
    elif there == here and source_layer != target_layer and spec.layers[here].independent:
        reason = f"{source_layer} and {target_layer} are independent layers"
    else:
        return
    order = " > ".join(str(layer) for layer in spec.layers)
    yield Finding(
        source=SOURCE,
        module=spec.name,
        rule="layer",
        subject=f"{source_layer} {target}",
        message=f"{spec.name}.{source_layer} uses {target}",
        fix=(
            f"{reason} in {spec.name} ({order}): move the code, or depend on an abstraction "
            f"in a lower layer"
        ),
        location=place,
    )


def _layer_name(spec: ModuleSpec, dotted: str) -> str:
    return dotted[len(spec.package) + 1 :].split(".", 1)[0]


def _service_owners(module_map: ModuleMap) -> dict[str, tuple[str, str]]:
    owners: dict[str, tuple[str, str]] = {}
    for spec in module_map.modules:
        for service, names in spec.services:
            for name in (*names, f"{spec.name}.{service}"):
                owners[name] = (spec.name, service)
    return owners


def _published(module_map: ModuleMap) -> list[str] | None:
    """Every event type the modules publish; None when a module's publishes are unknown (not
    declared, or not readable without running the code): it might publish anything."""
    if any(spec.publishes is None for spec in module_map.modules):
        return None
    return sorted({event for spec in module_map.modules for event in spec.publishes or ()})


def _call_findings(
    module_map: ModuleMap,
    spec: ModuleSpec,
    shown: str,
    call: Call,
    owners: Mapping[str, tuple[str, str]],
    published: list[str] | None,
    usages: list[Usage],
) -> Iterator[Finding]:
    place = f"{shown}:{call.line}"
    last = _aura_call(call, module_map.aura_calls)
    modules = {other.name: other for other in module_map.modules}
    if last == "get_service":
        target = call.argument(0, "module_name")
        # Aura's get_service always names the module and the service: a one-argument
        # get_service("s3") is another library's.
        has_service = len(call.args) >= 2 or call.argument(None, "service_name") is not None
        if target is not None and has_service:
            service = call.argument(1, "service_name") or "?"
            yield from _lookup(module_map, spec, place, call, target, service, usages)
    elif last == "resolve":
        key = call.argument(0, "key")
        if key is not None and key in owners:
            owner, service = owners[key]
            yield from _lookup(module_map, spec, place, call, owner, service, usages)
        elif key is not None and _MODULE_KEY.match(key) and key.partition(".")[0] in modules:
            owner, _, service = key.partition(".")
            yield from _lookup(module_map, spec, place, call, owner, service, usages)
    elif last == "subscribe":
        event = call.argument(0, "event_type")
        if (
            event is not None
            and _is_event(event, pattern=True)
            and published is not None
            and not any(patterns_overlap(event, pattern) for pattern in published)
        ):
            yield Finding(
                source=SOURCE,
                module=spec.name,
                rule="event-without-publisher",
                subject=event,
                message=f"{spec.name} subscribes to {event}",
                fix=(
                    f"no module declares it publishes {event!r}: correct the event type, or "
                    f"declare it in the publishing module's publishes"
                    f"{_hint(did_you_mean(event, published))}"
                ),
                location=place,
            )
    elif last == "publish":
        event = call.argument(0, "event_type")
        if (
            event is not None
            and _is_event(event, pattern=False)
            and spec.publishes is not None
            and "*" not in event
            and not any(pattern_matches(declared, event) for declared in spec.publishes)
        ):
            yield Finding(
                source=SOURCE,
                module=spec.name,
                rule="undeclared-event",
                subject=event,
                message=f"{spec.name} publishes {event}",
                fix=f"declare it: add {event!r} to publishes of {spec.name} ({spec.origin})",
                location=place,
            )
    for coupling in module_map.couplings:
        if call.name != coupling.call and not call.name.endswith(f".{coupling.call}"):
            continue
        value = call.argument(coupling.argument, coupling.keyword)
        label = coupling.module_label(value) if value is not None else None
        coupled = _by_label(module_map, label) if label is not None else None
        if coupled is None or coupled.name == spec.name:
            continue
        usages.append(Usage(spec.name, coupled.name, value or "", shown, call.line, "coupling"))
        if coupled.name not in spec.depends_on:
            used = f"{value} ({call.name})"
            remedy = f"stop using {coupled.name}"
            yield _undeclared(spec, coupled.name, str(value), used, place, remedy)


def _aura_call(call: Call, aura_calls: bool) -> str:
    """Which of Aura's calls ``call`` is, by its last name (``ModuleServices.get`` is a
    ``get_service``); empty when Aura's call names are turned off and it is one of them (then
    only the configured couplings count)."""
    last = "get_service" if call.name == SERVICES_GET else call.name.rpartition(".")[2]
    return "" if not aura_calls and last in AURA_CALLS else last


def _names_a_module_unread(call: Call, aura_calls: bool) -> bool:
    """Whether ``call`` is a lookup whose module (or key) is not a constant the scan can read:
    ``get_service(USERS, ...)`` with USERS imported. What it uses is unknown, so none of its
    module's dependencies can be called unused."""
    last = _aura_call(call, aura_calls)
    if last == "get_service":
        given = len(call.args) >= 1 or call.argument(None, "module_name") is not None
        return given and call.argument(0, "module_name") is None
    if last == "resolve":
        given = len(call.args) >= 1 or call.argument(None, "key") is not None
        return given and call.argument(0, "key") is None
    return False


_MODULE_KEY = re.compile(r"^[a-z_][a-z0-9_]*\.[A-Za-z_]\w*$")
"""A container key naming a module's service: ``users.UserService`` (not ``users.example.com``)."""


def _is_event(value: str, *, pattern: bool) -> bool:
    """Whether ``value`` is an Aura event type (or pattern): other libraries' subscribe() and
    publish() take channel names such as ``billing-channel``, which are not judged."""
    try:
        (check_pattern if pattern else check_event_type)(value)
    except (InvalidNameError, InvalidEventTypeError):
        return False
    return True


def _lookup(
    module_map: ModuleMap,
    spec: ModuleSpec,
    place: str,
    call: Call,
    target: str,
    service: str,
    usages: list[Usage],
) -> Iterator[Finding]:
    if target == spec.name:
        return
    names = module_map.names
    path, _, line = place.rpartition(":")
    if target not in names:
        yield Finding(
            source=SOURCE,
            module=spec.name,
            rule="unknown-module",
            subject=target,
            message=f"{spec.name} uses {target}.{service}",
            fix=(
                f"no module is named {target!r}; look up one of {', '.join(names)}"
                f"{_hint(did_you_mean(target, names))}"
            ),
            location=place,
        )
        return
    usages.append(Usage(spec.name, target, f"{target}.{service}", path, int(line), "lookup"))
    if target not in spec.depends_on:
        used = f"{target}.{service} ({call.name})"
        remedy = f"react to the events of {target} instead of calling it"
        yield _undeclared(spec, target, service, used, place, remedy)


def _undeclared(
    spec: ModuleSpec, dependency: str, subject: str, used: str, place: str, remedy: str
) -> Finding:
    """``spec`` uses ``dependency`` (``used``, at ``place``) without declaring it."""
    return Finding(
        source=SOURCE,
        module=spec.name,
        rule="undeclared-dependency",
        subject=f"{dependency} {subject}",
        message=f"{spec.name} uses {used}",
        fix=(
            f"{spec.name} does not declare {dependency!r} in depends_on: add it "
            f"({spec.origin}), or {remedy}"
        ),
        location=place,
    )


def _hint(did_you_mean: str) -> str:
    """``did_you_mean``'s " Did you mean 'x'?" as a sentence after the fix, or nothing."""
    return f".{did_you_mean}" if did_you_mean else ""


def _by_label(module_map: ModuleMap, label: str) -> ModuleSpec | None:
    for spec in module_map.modules:
        if label == spec.name or label in spec.labels:
            return spec
    return None


def _syntax_error(spec: ModuleSpec, shown: str, scan: FileScan) -> Finding:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Finding(
        source=SOURCE,
        module=spec.name,
        rule="syntax-error",
        subject=shown,
        message=f"{spec.name} has a file Python {version} cannot parse ({scan.error})",
        fix=(
            "fix the file, or run the check with the Python version the project targets; an "
            "unparsed file is never skipped"
        ),
        location=f"{shown}:{scan.error_line}",
    )


def _unused(module_map: ModuleMap, usages: Iterable[Usage], unread: set[str]) -> Iterator[Finding]:
    """One finding per dependency in ``depends_on`` that the module's code never uses: no import
    of it, no lookup of its services, no coupling to it; placed where the dependency is
    declared (the ``depends_on`` line of its table, or its ``Module(...)`` line)."""
    used: dict[str, set[str]] = {}
    for usage in usages:
        used.setdefault(usage.module, set()).add(usage.target_module)
    for spec in module_map.modules:
        if spec.name in unread or not spec.files:
            continue
        for dependency in spec.depends_on:
            if dependency in used.get(spec.name, ()):
                continue
            yield Finding(
                source=SOURCE,
                module=spec.name,
                rule="unused-dependency",
                subject=dependency,
                message=(
                    f"{spec.name} declares depends_on {dependency!r}, but its code never uses "
                    f"{dependency} (no import, service lookup or coupling)"
                ),
                fix=(
                    f"remove {dependency!r} from depends_on of {spec.name} ({spec.origin}); a "
                    "module needs no dependency to subscribe to another module's events"
                ),
                location=spec.declared_at(module_map.root, "depends_on"),
            )


def _cycles(module_map: ModuleMap, usages: Iterable[Usage]) -> Iterator[Finding]:
    """One finding per group of modules that depend on each other, with one cycle's path."""
    edges: dict[str, dict[str, str]] = {spec.name: {} for spec in module_map.modules}
    # Each step's place is where the code uses the other module (what must change to break
    # the cycle); a dependency only declared is placed at its declaration.
    for usage in sorted(usages, key=lambda u: (u.path, u.line)):
        edges[usage.module].setdefault(usage.target_module, f"{usage.path}:{usage.line}")
    for spec in module_map.modules:
        for dependency in spec.depends_on:
            edges[spec.name].setdefault(dependency, f"declared in {spec.origin}")
    for component in _components({name: set(targets) for name, targets in edges.items()}):
        cycle = _shortest_cycle(min(component), edges, component)
        steps = "; ".join(
            f"{source} -> {target}: {edges[source][target]}"
            for source, target in itertools.pairwise(cycle)
        )
        path = " -> ".join(cycle)
        yield Finding(
            source=SOURCE,
            module=cycle[0],
            rule="dependency-cycle",
            subject=" ".join(sorted(component)),
            message=f"modules {', '.join(sorted(component))} depend on each other: {path}",
            fix=(
                f"break the cycle ({steps}): let one module react to another's events, or move "
                "the shared code into a module both depend on"
            ),
        )


def _components(graph: Mapping[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return sorted(found, key=min)


def _shortest_cycle(
    start: str, edges: Mapping[str, Mapping[str, str]], component: set[str]
) -> list[str]:
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(edges[node]):
                if target not in component:
                    continue
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    return [start, start]  # not reached: every component member lies on a cycle


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _order(finding: Finding) -> tuple[int, str, int, str]:
    path, _, line = finding.location.rpartition(":")
    if not path:
        return (1, finding.location, 0, finding.message)
    return (0, path, int(line) if line.isdigit() else 0, finding.message)
