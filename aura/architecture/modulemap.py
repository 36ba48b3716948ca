"""The module map: which packages are modules, what each may use, read without importing anything.

A project declares its modules in ``[tool.aura.boundaries]`` of ``pyproject.toml``, or with Aura's
``Module(...)`` in each module's ``__init__.py`` (read by *parsing* the source, never importing
it), or both. Both forms give the same :class:`ModuleMap`; where both declare one module and
disagree, :func:`load_module_map` raises a :class:`~aura.exceptions.ConfigurationError` naming
both places::

    [tool.aura.boundaries]
    source_roots = ["src"]                 # where top-level packages live (default: ["."])
    exclude = ["*/migrations", "*/tests"]  # globs of paths from the project root: files, or
                                           # folders with everything in them (optional)
    layers = ["api", "application | infrastructure", "domain"]   # inside every module

    [tool.aura.boundaries.modules.billing]
    package = "shop.billing"               # the module's package (a folder, __init__.py or not)
    depends_on = ["users"]                 # the modules it may use
    interface = [".", "api"]               # what other modules may import: "." is the package
                                           # itself, "api" shop.billing.api and below it
    publishes = ["invoice.paid"]           # event types it publishes (optional)
    labels = ["billing_app"]               # other names string couplings use for it (optional)

    [[tool.aura.boundaries.couplings]]     # string coupling beyond imports
    call = "apps.get_model"                # the called name, or a dotted suffix of it
    argument = 0                           # which argument holds the string (default 0)
    keyword = "to"                         # or which keyword does (then argument is read
                                           # only when given too)
    pattern = '^(?P<module>\\w+)\\.'       # the module's name or label, as a named group

Layers are listed from the top; ``a | b`` are independent siblings (neither imports the other),
``a : b`` siblings that may. A module's interface defaults to ``["."]``: the package itself,
as in Spring Modulith, where a module's sub-packages are internal unless published.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from aura.architecture.sources import SourceFile, string_constants
from aura.config import ProjectConfig
from aura.exceptions import ConfigurationError
from aura.findings import count
from aura.naming import not_publishable, snake_case

__all__ = [
    "AURA_CALLS",
    "DECLARED_IN_SOURCE",
    "Coupling",
    "Layer",
    "ModuleMap",
    "ModuleSpec",
    "line_of",
    "load_module_map",
    "read_text",
    "relative_path",
]

AURA_CALLS = frozenset({"get_service", "resolve", "subscribe", "publish", "module_services"})
"""Aura's own string couplings, always read."""

DECLARED_IN_SOURCE = re.compile(r"\.py:\d+$")
"""An origin that is a ``Module(...)`` line: ``modules/users/__init__.py:24``."""

_TABLE = "[tool.aura.boundaries]"
_BOUNDARY_KEYS = {
    "source_roots": list,
    "layers": list,
    "modules": dict,
    "couplings": list,
    "exclude": list,
    "cache": bool,
    "aura_calls": bool,
}
_MODULE_KEYS = {
    "package": str,
    "depends_on": list,
    "interface": list,
    "layers": list,
    "publishes": list,
    "labels": list,
}
_COUPLING_KEYS = {"call": str, "argument": int, "keyword": str, "pattern": str}
_DEFAULT_PATTERN = r"^(?P<module>\w+)"
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_TYPES = {str: "a string", list: "a list", dict: "a table", bool: "true or false", int: "a number"}


@dataclasses.dataclass(frozen=True)
class Layer:
    """One tier of a module's layers: its sub-packages, and whether they are independent."""

    names: tuple[str, ...]
    independent: bool = True

    def __str__(self) -> str:
        return (" | " if self.independent else " : ").join(self.names)


@dataclasses.dataclass(frozen=True)
class ModuleSpec:
    """One module of the map."""

    name: str
    package: str
    depends_on: tuple[str, ...] = ()
    interface: tuple[str, ...] = ()
    """Absolute names other modules may import: the package itself (``"."`` in the
    configuration) only as itself, every other entry with everything below it."""
    layers: tuple[Layer, ...] = ()
    publishes: tuple[str, ...] | None = None
    """The event types it publishes, or ``None`` when no declaration says."""
    labels: tuple[str, ...] = ()
    services: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Services declared with ``Module.add_service``/``service`` (read from source): each name
    and the container names it resolves by."""
    origins: tuple[str, ...] = ()
    """Where it is declared: ``pyproject.toml [tool.aura.boundaries.modules.users]``,
    ``modules/users/__init__.py:24``."""
    files: tuple[SourceFile, ...] = ()
    seed: bool = False
    """A seed-style package (``register_services`` and no ``Module(...)``): it declares
    nothing, so its entry in ``[tool.aura.boundaries]`` (if any) is its declaration."""

    @property
    def origin(self) -> str:
        """Where to change it: its first declaration."""
        return self.origins[0] if self.origins else self.name

    def declared_at(self, root: Path, key: str = "") -> str:
        """Where to change the module, as ``path:line`` from ``root``: its ``Module(...)`` line,
        else its table in the configuration (at its ``key = ...`` line, when given and there),
        else its first file; empty for a module without any."""
        for origin in self.origins:
            if DECLARED_IN_SOURCE.search(origin):
                return origin
        for origin in self.origins:  # its table: "pyproject.toml [tool.aura.boundaries.modules.x]"
            file, _, table = origin.partition(" ")
            path = root / file
            if table and path.is_file():
                return f"{relative_path(path, root)}:{line_of(read_text(path), table, key)}"
        files = sorted(file.path for file in self.files)
        return f"{relative_path(files[0], root)}:1" if files else ""

    def published(self, target: str) -> bool:
        """Whether other modules may import ``target`` (an absolute name inside this module)."""
        for entry in self.interface:
            if target == entry or (entry != self.package and target.startswith(f"{entry}.")):
                return True
        return False

    def layer_of(self, dotted: str) -> int | None:
        """The index of the tier holding ``dotted`` (a name inside this module), or None."""
        rest = dotted[len(self.package) + 1 :].split(".", 1)[0] if dotted != self.package else ""
        for index, layer in enumerate(self.layers):
            if rest in layer.names:
                return index
        return None

    def to_dict(self) -> dict[str, Any]:
        """The module as JSON-ready data."""
        return {
            "name": self.name,
            "package": self.package,
            "depends_on": list(self.depends_on),
            "interface": list(self.interface),
            "layers": [str(layer) for layer in self.layers],
            "publishes": None if self.publishes is None else list(self.publishes),
            "labels": list(self.labels),
            "services": [name for name, _ in self.services],
            "declared_in": list(self.origins),
            "files": len(self.files),
        }


@dataclasses.dataclass(frozen=True)
class Coupling:
    """A call pattern that couples by string: ``apps.get_model("billing.Invoice")``."""

    call: str
    argument: int | None = 0
    keyword: str | None = None
    pattern: str = _DEFAULT_PATTERN

    def module_label(self, value: str) -> str | None:
        """The module name or label in ``value``, or None when the pattern does not match."""
        match = re.search(self.pattern, value)
        return match.group("module") if match else None


@dataclasses.dataclass(frozen=True)
class ModuleMap:
    """Every module of a project, with where its files are; built by :func:`load_module_map`."""

    root: Path
    source_roots: tuple[Path, ...]
    modules: tuple[ModuleSpec, ...]
    couplings: tuple[Coupling, ...] = ()
    cache: bool = True
    aura_calls: bool = True
    """Whether Aura's own string couplings (``get_service``, ``ModuleServices.get``,
    ``resolve``, ``subscribe``, ``publish``) are judged; ``aura_calls = false`` leaves only the
    configured couplings (for a codebase whose other libraries use those names)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_package", {spec.package: spec for spec in self.modules})
        object.__setattr__(self, "_by_name", {spec.name: spec for spec in self.modules})
        object.__setattr__(self, "_owners", {})  # module_of's answers, by name

    def __getitem__(self, name: str) -> ModuleSpec:
        return self._by_name[name]  # type: ignore[attr-defined,no-any-return]

    @property
    def call_names(self) -> frozenset[str]:
        """The call names the scan records: Aura's own (unless turned off) and the couplings'."""
        own = AURA_CALLS if self.aura_calls else frozenset()
        return own | {coupling.call for coupling in self.couplings}

    @property
    def names(self) -> list[str]:
        """The modules' names, sorted."""
        return sorted(spec.name for spec in self.modules)

    def module_of(self, dotted: str) -> ModuleSpec | None:
        """The module holding the absolute name ``dotted`` (the innermost one), or None."""
        owners: dict[str, ModuleSpec | None] = self._owners  # type: ignore[attr-defined]
        if dotted in owners:
            return owners[dotted]
        packages: dict[str, ModuleSpec] = self._by_package  # type: ignore[attr-defined]
        found = None
        candidate = dotted
        while candidate:  # the longest prefix that is a module's package: the innermost module
            found = packages.get(candidate)
            if found is not None:
                break
            candidate = candidate.rpartition(".")[0]
        owners[dotted] = found
        return found

    def module_of_path(self, path: Path) -> ModuleSpec | None:
        """The module whose code ``path`` (a file or folder) is, or None."""
        resolved = path if path.is_absolute() else (self.root / path)
        for root in self.source_roots:
            try:
                relative = resolved.relative_to(root)
            except ValueError:
                continue
            parts = (
                list(relative.with_suffix("").parts)
                if relative.suffix == ".py"
                else list(relative.parts)
            )
            if parts and parts[-1] == "__init__":
                parts.pop()
            found = self.module_of(".".join(parts)) if parts else None
            if found is not None:
                return found
        return None

    @property
    def files(self) -> list[SourceFile]:
        """Every source file of every module."""
        return [file for spec in self.modules for file in spec.files]

    def to_dict(self) -> dict[str, Any]:
        """The map as JSON-ready data."""
        return {
            "root": str(self.root),
            "source_roots": [_shown(root, self.root) for root in self.source_roots],
            "modules": [spec.to_dict() for spec in sorted(self.modules, key=_by_name)],
            "couplings": [dataclasses.asdict(coupling) for coupling in self.couplings],
        }

    def render_text(self) -> str:
        """The map as ``aura modules`` prints it."""
        lines = [f"{count(len(self.modules), 'module')}, {count(len(self.files), 'file')}:"]
        for spec in sorted(self.modules, key=_by_name):
            lines.append("")
            lines.append(f"{spec.name} ({spec.package}, {count(len(spec.files), 'file')})")
            lines.append(f"  declared in: {', '.join(spec.origins)}")
            lines.append(f"  depends on:  {', '.join(spec.depends_on) or '(nothing)'}")
            lines.append(f"  interface:   {', '.join(spec.interface)}")
            if spec.layers:
                lines.append(f"  layers:      {' > '.join(str(layer) for layer in spec.layers)}")
            if spec.publishes is not None:
                lines.append(f"  publishes:   {', '.join(spec.publishes) or '(nothing)'}")
            if spec.services:
                lines.append(f"  services:    {', '.join(name for name, _ in spec.services)}")
        for coupling in self.couplings:
            where = (
                f"keyword {coupling.keyword!r}"
                if coupling.keyword
                else f"argument {coupling.argument}"
            )
            lines.append("")
            lines.append(f"coupling: {coupling.call}(...), {where}, pattern {coupling.pattern}")
        return "\n".join(lines)


def _by_name(spec: ModuleSpec) -> str:
    return spec.name


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return path.as_posix()


# --- loading --------------------------------------------------------------------------------------


def load_module_map(config: ProjectConfig, *, declarations: str | None = None) -> ModuleMap:
    """Build the map of ``config``'s project from ``[tool.aura.boundaries]`` and the source.

    ``declarations`` is the package whose subpackages declare ``Module(...)`` (default:
    ``modules`` of ``[tool.aura]``); their ``__init__.py`` files are parsed, not imported.
    Raises :class:`ConfigurationError` for a malformed table, two declarations of one module
    that disagree, a package that is not there, and a map with no module (nothing to check).
    """
    table = config.boundaries
    where = f"{_TABLE} in {config.path}" if config.path is not None else _TABLE
    _check_keys(table, _BOUNDARY_KEYS, where)
    root = config.root
    roots = _source_roots(table, root, where)
    default_layers = _layers(table.get("layers", []), f"layers in {where}")
    excluded = tuple(_strings(table.get("exclude", []), f"exclude in {where}"))
    declared: dict[str, ModuleSpec] = {}
    for name, entry in table.get("modules", {}).items():
        declared[name] = _configured_module(name, entry, config, default_layers)
    package = declarations if declarations is not None else config.modules
    if package is not None:
        origin = (
            "the given modules package"
            if declarations is not None
            else (f"modules in {config.where}")
        )
        for spec in _source_modules(package, origin, roots, root, default_layers):
            declared[spec.name] = _merged(declared.get(spec.name), spec)
    if not declared:
        raise ConfigurationError(
            f"No modules to check: {where} declares none"
            + (
                f" and no Module(...) was found in the packages under {package!r}"
                if package
                else ""
            )
            + ". Declare each module's package and dependencies:\n\n"
            "    [tool.aura.boundaries.modules.billing]\n"
            '    package = "shop.billing"\n'
            '    depends_on = ["users"]\n\n'
            "or declare `module = Module(...)` in each module's __init__.py and set `modules` in "
            "[tool.aura]."
        )
    _check_dependencies(declared)
    _check_labels(declared)
    packages: dict[str, str] = {}
    for spec in declared.values():
        if spec.package in packages:
            raise ConfigurationError(
                f"Modules {packages[spec.package]!r} and {spec.name!r} are both declared as "
                f"package {spec.package!r} ({declared[packages[spec.package]].origin}; "
                f"{spec.origin}). Give each module its own package."
            )
        packages[spec.package] = spec.name
    specs = _with_files(list(declared.values()), roots, root, excluded)
    couplings = tuple(
        _coupling(entry, f"couplings[{index}] in {where}")
        for index, entry in enumerate(_list(table.get("couplings", []), f"couplings in {where}"))
    )
    return ModuleMap(
        root=root,
        source_roots=roots,
        modules=tuple(sorted(specs, key=_by_name)),
        couplings=couplings,
        cache=bool(table.get("cache", True)),
        aura_calls=bool(table.get("aura_calls", True)),
    )


def _source_roots(table: Mapping[str, Any], root: Path, where: str) -> tuple[Path, ...]:
    default = [".", "src"] if (root / "src").is_dir() else ["."]  # as put_on_path does
    given = _strings(table.get("source_roots", default), f"source_roots in {where}")
    roots = []
    for entry in given:
        folder = (root / entry).resolve()
        if not folder.is_dir():
            raise ConfigurationError(
                f"source_roots in {where} names {entry!r}, but {folder} is not a folder. Name "
                "the folders that hold your top-level packages, relative to pyproject.toml "
                '(["."] or ["src"]).'
            )
        roots.append(folder)
    return tuple(roots)


def _configured_module(
    name: str, entry: Any, config: ProjectConfig, default_layers: tuple[Layer, ...]
) -> ModuleSpec:
    table = f"[tool.aura.boundaries.modules.{name}]"
    origin = f"{_shown_config(config)} {table}"
    where = f"{table} in {config.path}" if config.path is not None else table
    if not _NAME.match(name):
        raise ConfigurationError(
            f"{where} names the module {name!r}; module names are lower-case "
            "identifiers such as 'billing' or 'user_accounts'."
        )
    _check_keys(entry, _MODULE_KEYS, where)
    package = entry.get("package")
    if package is None:
        raise ConfigurationError(
            f"{where} has no `package`: say which package is the module, "
            f'e.g. package = "shop.{name}".'
        )
    if not all(part.isidentifier() for part in package.split(".")):
        raise ConfigurationError(
            f"package in {where} is {package!r}, which is not a dotted package "
            f'name; expected e.g. "shop.{name}".'
        )
    interface = _strings(entry.get("interface", ["."]), f"interface in {where}")
    return ModuleSpec(
        name=name,
        package=package,
        depends_on=tuple(_strings(entry.get("depends_on", []), f"depends_on in {where}")),
        interface=tuple(_absolute_interface(package, item, where) for item in interface),
        layers=_layers(entry["layers"], f"layers in {where}")
        if "layers" in entry
        else default_layers,
        publishes=_publishes(entry["publishes"], name, where) if "publishes" in entry else None,
        labels=tuple(_strings(entry.get("labels", []), f"labels in {where}")),
        origins=(origin,),
    )


def _shown_config(config: ProjectConfig) -> str:
    if config.path is None:
        return "pyproject.toml"
    return config.path.name if config.path.parent == config.root else str(config.path)


def _absolute_interface(package: str, item: str, where: str) -> str:
    if item in (".", ""):
        return package
    relative = item.removeprefix(".")
    if not all(part.isidentifier() for part in relative.split(".")):
        raise ConfigurationError(
            f"interface in {where} lists {item!r}; expected sub-package names relative to the "
            'module, such as "api" or "api.v1", or "." for the package itself.'
        )
    return f"{package}.{relative}"


def _layers(given: Any, where: str) -> tuple[Layer, ...]:
    layers: list[Layer] = []
    for line in _strings(given, where):
        independent = ":" not in line
        names = tuple(part.strip() for part in re.split(r"[|:]", line))
        if ("|" in line and ":" in line) or not all(name.isidentifier() for name in names):
            raise ConfigurationError(
                f"{where} has {line!r}; expected sub-package names, with 'a | b' for independent "
                "siblings or 'a : b' for siblings that may import each other, e.g. "
                '["api", "application | infrastructure", "domain"].'
            )
        for name in names:
            earlier = next((layer for layer in layers if name in layer.names), None)
            if earlier is not None or names.count(name) > 1:
                twice = f"both {str(earlier)!r} and {line!r}" if earlier is not None else repr(line)
                raise ConfigurationError(
                    f"{where} names the layer {name!r} twice ({twice}); a sub-package is in one "
                    "layer. Remove one of them."
                )
        layers.append(Layer(names, independent))
    return tuple(layers)


def _coupling(entry: Any, where: str) -> Coupling:
    _check_keys(entry, _COUPLING_KEYS, where)
    call = entry.get("call")
    if not call or not all(part.isidentifier() for part in call.split(".")):
        given = "no `call`" if call is None else f"call = {call!r}"
        raise ConfigurationError(
            f"{where} has {given}; expected the called name, or a dotted suffix of it, "
            'such as "get_model" or "apps.get_model".'
        )
    pattern = entry.get("pattern", _DEFAULT_PATTERN)
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ConfigurationError(
            f"{where} has pattern = {pattern!r}, which is not a regular expression ({error})."
        ) from None
    if "module" not in compiled.groupindex:
        raise ConfigurationError(
            f"{where} has pattern = {pattern!r}, which has no group named 'module'; write the "
            "part that names the module as (?P<module>...), e.g. '^(?P<module>\\w+)\\.'."
        )
    keyword = entry.get("keyword")
    argument = entry.get("argument", None if keyword else 0)
    if argument is not None and argument < 0:
        raise ConfigurationError(f"{where} has argument = {argument}; expected 0 or more.")
    return Coupling(call=call, argument=argument, keyword=keyword, pattern=pattern)


def _check_dependencies(declared: Mapping[str, ModuleSpec]) -> None:
    for spec in declared.values():
        for dependency in spec.depends_on:
            if dependency == spec.name:
                raise ConfigurationError(
                    f"Module {spec.name!r} ({spec.origin}) lists itself in depends_on. Remove it."
                )
            if dependency not in declared:
                close = difflib.get_close_matches(dependency, declared, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ConfigurationError(
                    f"depends_on of module {spec.name!r} ({spec.origin}) names {dependency!r}, "
                    f"which is not a module. Modules: {', '.join(sorted(declared))}.{hint}"
                )


def _check_labels(declared: Mapping[str, ModuleSpec]) -> None:
    """A label names one module: string couplings would otherwise be charged to either."""
    owners = {name: name for name in declared}
    for spec in declared.values():
        for label in spec.labels:
            owner = owners.setdefault(label, spec.name)
            if owner != spec.name:
                raise ConfigurationError(
                    f"labels of module {spec.name!r} ({spec.origin}) hold {label!r}, which "
                    f"already names module {owner!r} ({declared[owner].origin}). Give each "
                    "label to one module only."
                )


def _merged(configured: ModuleSpec | None, parsed: ModuleSpec) -> ModuleSpec:
    """One module declared in pyproject.toml and in source: they must agree."""
    if configured is None:
        return parsed
    if parsed.seed:  # the table is the only declaration of a seed-style package
        return dataclasses.replace(configured, origins=(*configured.origins, *parsed.origins[1:]))
    for field, given, found in (
        ("package", configured.package, parsed.package),
        ("depends_on", sorted(configured.depends_on), sorted(parsed.depends_on)),
    ):
        if given != found:
            raise ConfigurationError(
                f"Module {parsed.name!r} is declared twice and the declarations disagree on "
                f"{field}: {given!r} in {configured.origin}, {found!r} in {parsed.origin}. Make "
                "them the same, or declare the module in one place only."
            )
    publishes = configured.publishes
    if (
        publishes is not None
        and parsed.publishes is not None
        and sorted(publishes) != sorted(parsed.publishes)
    ):
        raise ConfigurationError(
            f"Module {parsed.name!r} is declared twice and the declarations disagree on "
            f"publishes: {sorted(publishes)!r} in {configured.origin}, "
            f"{sorted(parsed.publishes)!r} in {parsed.origin}. Make them the same, or "
            "declare the events in one place only."
        )
    return dataclasses.replace(
        configured,
        publishes=publishes if publishes is not None else parsed.publishes,
        services=parsed.services,
        origins=(*configured.origins, *parsed.origins),
    )


def _with_files(
    specs: Sequence[ModuleSpec], roots: Sequence[Path], root: Path, excluded: Sequence[str]
) -> list[ModuleSpec]:
    """Each module with its source files; a package that is not there is an error."""
    packages = {spec.package for spec in specs}
    result = []
    for spec in specs:
        files = list(_package_files(spec.package, roots, root, excluded, packages))
        unfiltered = _package_files(spec.package, roots, root, (), packages)
        if not files and excluded and next(unfiltered, None) is not None:
            raise ConfigurationError(
                f"Module {spec.name!r} ({spec.origin}) has no file left to check: exclude in "
                f"[tool.aura.boundaries] ({', '.join(map(repr, excluded))}) leaves out every file "
                f"of {spec.package!r}. Narrow the pattern, or remove the module from the map."
            )
        if not files:
            places = " or ".join(
                f"{_shown(r, root)}/{spec.package.replace('.', '/')}" for r in roots
            )
            raise ConfigurationError(
                f"Module {spec.name!r} ({spec.origin}) is the package {spec.package!r}, but "
                f"there is no Python file at {places}(.py). Correct `package`, or add the folder "
                "that holds it to source_roots in [tool.aura.boundaries]."
            )
        result.append(dataclasses.replace(spec, files=tuple(files)))
    _check_names(result)
    return result


def _check_names(specs: Sequence[ModuleSpec]) -> None:
    """A layer or interface entry that names nothing in the tree would silently check nothing:
    a typo (``"servcie"``) is an error, naming what is there."""
    children: dict[str, set[str]] = {}
    for spec in specs:
        names = children.setdefault(spec.name, set())
        for file in spec.files:
            rest = file.dotted[len(spec.package) + 1 :] if file.dotted != spec.package else ""
            if rest:
                names.add(rest.split(".", 1)[0])
        dotted = {file.dotted for file in spec.files}
        for entry in spec.interface:
            if entry != spec.package and not any(
                name == entry or name.startswith(f"{entry}.") for name in dotted
            ):
                relative = entry[len(spec.package) + 1 :]
                raise ConfigurationError(
                    f"interface of module {spec.name!r} ({spec.origin}) lists {relative!r}, but "
                    f"{spec.package} has no sub-package or file {relative!r}. Its sub-packages: "
                    f"{', '.join(sorted(names)) or 'none'}. Correct the name."
                )
    by_layers: dict[tuple[Layer, ...], list[ModuleSpec]] = {}
    for spec in specs:
        if spec.layers:
            by_layers.setdefault(spec.layers, []).append(spec)
    for layers, users in by_layers.items():
        present = set().union(*(children[spec.name] for spec in users))
        for layer in layers:
            for name in layer.names:
                if name not in present:
                    which = users[0].origin if len(users) == 1 else "[tool.aura.boundaries]"
                    raise ConfigurationError(
                        f"The layers of {', '.join(spec.name for spec in users)} ({which}) name "
                        f"{name!r}, which is no sub-package of "
                        f"{'that module' if len(users) == 1 else 'any of those modules'}: their "
                        f"sub-packages are {', '.join(sorted(present)) or 'none'}. Correct the "
                        "layer's name."
                    )


def _package_files(
    package: str,
    roots: Sequence[Path],
    project: Path,
    excluded: Sequence[str],
    packages: set[str],
) -> Iterator[SourceFile]:
    relative = package.replace(".", os.sep)
    for root in roots:
        single = root / f"{relative}.py"
        folder = root / relative
        if single.is_file():
            yield SourceFile(single, package, False)
        if not folder.is_dir():
            continue
        others = packages - {package}
        # Each folder's dotted name, from its parent's: what dotted_name() gives, without a
        # path computation per file (2,000 files: a tenth of a cold check).
        prefixes = {_folder_key(folder): package}
        for current, folders, names in os.walk(folder):
            here = Path(current)
            prefix = prefixes.pop(_folder_key(current))
            folders[:] = sorted(
                name
                for name in folders
                if name != "__pycache__"
                and not name.startswith(".")
                and f"{prefix}.{name}" not in others
                and not (excluded and _excluded(here / name, project, excluded))
            )
            for name in folders:
                prefixes[_folder_key(os.path.join(current, name))] = f"{prefix}.{name}"
            for name in sorted(names):
                if not name.endswith(".py"):
                    continue
                path = here / name
                if excluded and _excluded(path, project, excluded):
                    continue
                is_package = name == "__init__.py"
                dotted = prefix if is_package else f"{prefix}.{name[:-3]}"
                if dotted != package and dotted in packages:
                    continue  # a module of its own (a single file), nested in this one
                yield SourceFile(path, dotted, is_package)


def _folder_key(folder: str | Path) -> str:
    """A folder as os.walk names it: the key of its dotted prefix in _package_files."""
    return os.path.normpath(folder)


def _excluded(path: Path, project: Path, patterns: Sequence[str]) -> bool:
    """Whether ``path``, or a folder above it, matches one of ``patterns`` (globs of paths
    relative to the project root)."""
    parts = _shown(path, project).split("/")
    return any(
        fnmatch("/".join(parts[:end]), pattern)
        for end in range(1, len(parts) + 1)
        for pattern in patterns
    )


# --- Module(...) declarations, parsed -------------------------------------------------------------


def _source_modules(
    package: str,
    origin: str,
    roots: Sequence[Path],
    project: Path,
    default_layers: tuple[Layer, ...],
) -> Iterator[ModuleSpec]:
    """The ``Module(...)`` declarations of the subpackages of ``package``, read from source."""
    relative = package.replace(".", os.sep)
    folders = [root / relative for root in roots if (root / relative).is_dir()]
    if not folders:
        places = " or ".join((Path(_shown(r, project)) / relative).as_posix() for r in roots)
        raise ConfigurationError(
            f"The modules package {package!r} ({origin}) is not in the project: there is no "
            f"folder {places}. Correct the package name, or add the folder that holds it to "
            "source_roots in [tool.aura.boundaries]."
        )
    seen: dict[str, str] = {}
    for folder in folders:
        for child in sorted(folder.iterdir()):
            init = child / "__init__.py"
            if not init.is_file():
                continue
            declaration = _parse_declaration(init, f"{package}.{child.name}", project)
            if declaration is None:
                continue
            if declaration.name in seen:
                raise ConfigurationError(
                    f"Module {declaration.name!r} is declared twice: in {seen[declaration.name]} "
                    f"and in {declaration.origin}. Give each module its own name."
                )
            seen[declaration.name] = declaration.origin
            extra = _declared_in_files(child, declaration)
            if declaration.seed:
                extra["publishes"] = None  # it may publish anything: nothing declares it
            yield dataclasses.replace(
                declaration, interface=(declaration.package,), layers=default_layers, **extra
            )


def _parse_declaration(init: Path, package: str, project: Path) -> ModuleSpec | None:
    try:
        tree = ast.parse(init.read_bytes(), filename=str(init))
    except (OSError, SyntaxError, ValueError) as error:
        line = getattr(error, "lineno", None) or 1
        raise ConfigurationError(
            f"Cannot read the module declaration in {_shown(init, project)}:{line}: "
            f"{type(error).__name__}: {error}. Fix the file; Aura parses it without importing it."
        ) from None
    for statement in tree.body:
        value = getattr(statement, "value", None)
        if not isinstance(statement, ast.Assign | ast.AnnAssign) or not isinstance(value, ast.Call):
            continue
        called = value.func
        name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
        if name != "Module":
            continue
        where = f"{_shown(init, project)}:{statement.lineno}"
        module_name = _constant(value.args[0] if value.args else _keyword(value, "name"), where)
        depends = value.args[1] if len(value.args) > 1 else _keyword(value, "depends_on")
        dependencies = _constant_list(depends, where) if depends is not None else []
        if not isinstance(module_name, str):
            raise ConfigurationError(
                f"The Module(...) in {where} has no name Aura can read without running the code: "
                'give it as a string literal, Module("billing", ...).'
            )
        if not _NAME.match(module_name):
            raise ConfigurationError(
                f"The Module(...) in {where} names the module {module_name!r}; module names are "
                "lower-case identifiers such as 'billing' or 'user_accounts'."
            )
        variable = statement.targets[0] if isinstance(statement, ast.Assign) else statement.target
        return ModuleSpec(
            name=module_name,
            package=package,
            depends_on=tuple(dependencies),
            origins=(where,),
            services=(),
            labels=(getattr(variable, "id", "module"),),  # the variable, until files are read
        )
    for statement in tree.body:  # the seed's convention: a package with register_services
        if isinstance(statement, ast.FunctionDef) and statement.name == "register_services":
            name = package.rpartition(".")[2]
            where = f"{_shown(init, project)}:{statement.lineno}"
            return ModuleSpec(
                name=name,
                package=package,
                origins=(
                    f"[tool.aura.boundaries.modules.{name}] in pyproject.toml; {where} is "
                    "seed-style (register_services) and declares nothing",
                ),
                labels=("",),
                seed=True,
            )
    return None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((keyword.value for keyword in call.keywords if keyword.arg == name), None)


def _constant(node: ast.expr | None, where: str) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _constant_list(node: ast.expr, where: str) -> list[str]:
    if isinstance(node, ast.List | ast.Tuple | ast.Set) and all(
        isinstance(item, ast.Constant) and isinstance(item.value, str) for item in node.elts
    ):
        return [item.value for item in node.elts]  # type: ignore[attr-defined]
    raise ConfigurationError(
        f"depends_on of the Module(...) in {where} is not a list of string literals, so Aura "
        'cannot read it without running the code. Write it as depends_on=["users"], or declare '
        "the module in [tool.aura.boundaries.modules]."
    )


def _declared_in_files(folder: Path, declaration: ModuleSpec) -> dict[str, Any]:
    """``publishes(...)`` and services of the declaration, from every file of its package."""
    variable = declaration.labels[0]
    publishes: list[str] = []
    opaque: list[str] = []  # where publishes(...) gives what Aura cannot read without running it
    services: list[tuple[str, tuple[str, ...]]] = []
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        try:
            source = path.read_bytes()
            if b"publishes" not in source and b"service" not in source:
                continue
            tree = ast.parse(source, filename=str(path))
        except (OSError, SyntaxError, ValueError):
            continue  # the checks report the file itself, with its line
        constants = string_constants(tree)
        # In source order (ast.walk goes breadth first), as the runtime would register them.
        found: list[tuple[int, int, ast.expr, str | None]] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                found.append((node.lineno, node.col_offset, node, None))
            elif isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                found.extend(
                    (decorator.lineno, decorator.col_offset, decorator, node.name)
                    for decorator in node.decorator_list
                )
        for _, _, expression, decorated in sorted(found, key=lambda item: item[:2]):
            if decorated is not None:
                _service_decorator(expression, variable, decorated, services)
            elif isinstance(expression, ast.Call):
                _declaration_call(expression, variable, constants, publishes, opaque, services)
    # Events named by what cannot be read statically (an imported constant, *EVENTS): what the
    # module publishes is unknown, rather than wrongly empty.
    known = None if opaque else tuple(publishes)
    return {"publishes": known, "services": tuple(services), "labels": ()}


def _owner_is(node: ast.expr, variable: str) -> bool:
    return isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == variable


def _declaration_call(
    node: ast.Call,
    variable: str,
    constants: Mapping[str, str],
    publishes: list[str],
    opaque: list[str],
    services: list[tuple[str, tuple[str, ...]]],
) -> None:
    if not _owner_is(node.func, variable):
        return
    method = node.func.attr  # type: ignore[attr-defined]
    if method == "publishes":
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                publishes.append(arg.value)
            elif isinstance(arg, ast.Name) and arg.id in constants:
                publishes.append(constants[arg.id])  # USER_CREATED = "user.created" above
            else:
                opaque.append(ast.unparse(arg))
    elif method == "add_service" and node.args:
        name = _constant(node.args[0], "")
        if name is not None:
            services.append((name, _container_names(node, name)))


def _service_decorator(
    decorator: ast.expr, variable: str, default: str, services: list[tuple[str, tuple[str, ...]]]
) -> None:
    if (
        isinstance(decorator, ast.Call)
        and _owner_is(decorator.func, variable)
        and decorator.func.attr == "service"  # type: ignore[attr-defined]
    ):
        given = _constant(decorator.args[0], "") if decorator.args else None
        name = given or _constant(_keyword(decorator, "name"), "") or default
        services.append((name, _container_names(decorator, name)))


def _container_names(call: ast.Call, name: str) -> tuple[str, ...]:
    key = _constant(_keyword(call, "key"), "") or snake_case(name)
    aliases = _keyword(call, "aliases")
    extra: Iterable[str] = ()
    if isinstance(aliases, ast.List | ast.Tuple):
        extra = [
            item.value
            for item in aliases.elts
            if isinstance(item, ast.Constant) and isinstance(item.value, str)
        ]
    return (key, *extra)


# --- checking the table -----------------------------------------------------------------------


def _check_keys(table: Any, known: Mapping[str, type], where: str) -> None:
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where} is {type(table).__name__} {table!r}; expected a table.")
    for key, value in table.items():
        expected = known.get(key)
        if expected is None:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigurationError(
                f"Unknown key {key!r} in {where}. Known keys: {', '.join(sorted(known))}.{hint}"
            )
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            # A single [table] where an array of tables ([[table]]) was meant: say how to write it.
            table_name = where.partition(" ")[0].strip("[]")
            hint = (
                f" Write each entry as its own [[{table_name}.{key}]] table."
                if key == "couplings" and isinstance(value, dict)
                else ""
            )
            raise ConfigurationError(
                f"{key} in {where} is {type(value).__name__} {value!r}; expected "
                f"{_TYPES[expected]}.{hint}"
            )


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigurationError(f"{where} is {value!r}; expected a list.")
    return value


def _publishes(value: Any, name: str, where: str) -> tuple[str, ...]:
    items = _list(value, f"publishes in {where}")
    for item in items:
        problem = not_publishable(item, f"Module {name!r} ({where})")
        if problem is not None:
            raise ConfigurationError(problem)
    return tuple(items)


def _strings(value: Any, where: str) -> list[str]:
    items = _list(value, where)
    for item in items:
        if not isinstance(item, str):
            raise ConfigurationError(
                f'{where} holds {item!r}; expected a list of strings, e.g. ["users"].'
            )
    return list(items)


def read_text(path: Path) -> str:
    """The text of the file at ``path``; empty when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def line_of(text: str, header: str, key: str = "") -> int:
    """The line of ``text`` that is ``header`` (a table or section), else 1; with ``key``, the
    line in that table that sets it (``key = ...``), when there is one."""
    found = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not found:
            if stripped == header:
                found = number
                if not key:
                    break
        elif stripped.startswith("["):
            break  # the next table: the key is not set in this one
        elif stripped.partition("=")[0].strip() == key:
            return number
    return found or 1


def relative_path(path: Path, root: Path) -> str:
    """``path`` from ``root`` (POSIX), or as it is when it is not under ``root``."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
