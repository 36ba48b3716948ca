"""The static rules: what each module's source references, judged against its declaration.

The references come from the source scan (:mod:`aura.architecture.scanning`), so the rules give
the same answer every time, whichever tests ran:

- :func:`check_declarations` (the rules of the import contract
  :class:`~aura.architecture.contracts.ModuleDependencyContract`): ``undeclared-dependency`` and
  ``unknown-module`` (a lookup of a module not declared in ``depends_on``, or of no module),
  ``event-without-publisher`` (a subscription no declaration publishes), ``dependency-cycle``;
- :func:`unused_dependencies` (checked by ``aura check`` with the platform's verification):
  ``unused-dependency``, a dependency declared in ``depends_on`` whose services the module's
  code never looks up.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from aura.architecture.scanning import (
    Reference,
    as_lookups,
    module_sources,
    references_in_file,
    shown_path,
)
from aura.findings import Finding
from aura.module import Module
from aura.verification import (
    cycle_problems,
    did_you_mean,
    event_without_publisher,
    patterns_overlap,
)

__all__ = ["check_declarations", "unused_dependencies"]


def check_declarations(
    modules: Sequence[Module], references: Mapping[str, Sequence[Reference]]
) -> list[Finding]:
    """Return the findings of ``references`` (by module name) against the modules' declarations.

    Sorted by place (file, then line), places before cycles.
    """
    by_name = {module.name: module for module in modules}
    published = sorted({pattern for module in modules for pattern in module.published})
    findings: list[Finding] = []
    uses: dict[str, set[str]] = {module.name: set(module.depends_on) for module in modules}
    for name, found in references.items():
        for reference in as_lookups(found, modules):
            if reference.kind == "lookup" and reference.target != name:
                uses[name].add(reference.target)
                findings.extend(_lookup_finding(by_name, by_name[name], reference))
            elif reference.kind == "subscription" and not any(
                patterns_overlap(reference.target, pattern) for pattern in published
            ):
                findings.append(
                    event_without_publisher(
                        name, reference.target, published, location=_place(reference)
                    )
                )
    known = {name: sorted(targets & by_name.keys()) for name, targets in uses.items()}
    findings.extend(cycle_problems(known))
    return sorted(findings, key=_order)


def unused_dependencies(modules: Mapping[str, Module]) -> Iterator[Finding]:
    """One finding per dependency in ``depends_on`` whose services the module never looks up.

    "Looks up" is read from the module's source
    (:func:`~aura.architecture.scanning.module_sources`): ``get_service("users", ...)``, or
    ``resolve("user_service")`` of a service of ``users``. A module without source to read (built
    in a REPL, or shipped without ``.py`` files) is skipped.
    """
    for name, module in modules.items():
        if not module.depends_on:
            continue
        sources = module_sources(module)
        if not sources:
            continue
        found = [reference for path in sources for reference in references_in_file(path)]
        used = {
            reference.target
            for reference in as_lookups(found, modules.values())
            if reference.kind == "lookup"
        }
        for dependency in module.depends_on:
            if dependency not in used:
                yield Finding(
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
                    location=shown_path(sources[0]),
                )


def _lookup_finding(
    modules: Mapping[str, Module], module: Module, reference: Reference
) -> Iterator[Finding]:
    target, name = reference.target, module.name
    looked_up = f"{target}.{reference.detail}"
    if target not in modules:
        yield Finding(
            module=name,
            rule="unknown-module",
            subject=target,
            message=(
                f"{name} looks up {looked_up}, but no module is named {target!r}."
                f"{did_you_mean(target, modules)}"
            ),
            fix=f"Look up one of the modules: {', '.join(sorted(modules))}.",
            location=_place(reference),
        )
    elif target not in module.depends_on:
        yield Finding(
            module=name,
            rule="undeclared-dependency",
            subject=target,
            message=f"{name} looks up {looked_up}, but does not declare {target!r} in depends_on.",
            fix=(
                f"Add {target!r} to depends_on of module {name!r}, or react to {target}'s "
                "events instead of calling it."
            ),
            location=_place(reference),
        )


def _place(reference: Reference) -> str:
    return f"{reference.path}:{reference.line}"


def _order(finding: Finding) -> tuple[int, str, int, str]:
    path, _, line = finding.location.rpartition(":")
    if not path:  # no place: a cycle, listed after the findings that have one
        return (1, finding.location, 0, finding.message)
    return (0, path, int(line), finding.message)
