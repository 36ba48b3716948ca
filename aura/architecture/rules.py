"""A rule of the platform's verification read from its modules' source.

:func:`unused_dependencies` (checked by ``aura check`` with the platform's verification):
``unused-dependency``, a dependency declared in ``depends_on`` whose services the module's code
never looks up. The references come from the source scan (:mod:`aura.architecture.scanning`).
The boundary rules of the module map are :mod:`aura.architecture.boundaries`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from aura.architecture.scanning import (
    as_lookups,
    module_sources,
    references_in_file,
    shown_path,
)
from aura.findings import Finding
from aura.module import Module

__all__ = ["unused_dependencies"]


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
