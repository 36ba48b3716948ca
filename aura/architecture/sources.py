"""Read what a project's source files import and which strings they couple by, without running it.

:func:`scan_files` parses each file once (``ast``; nothing is imported or executed) and returns a
:class:`FileScan` per file: its imports (absolute, with their line) and the calls whose name is
one of the *coupling names* it was asked about (``get_service``, ``subscribe``,
``apps.get_model``...), with their string arguments. A file the running interpreter cannot parse
or decode is not skipped: its scan carries the error and its line, and the checks report it.

Parsing is most of the cost, so results are kept in a cache file keyed by each file's size and
modification time (``.aura_cache/`` under the project root, ignored by git), and files not in the
cache are parsed on every core when there are many of them. A file whose source mentions no
coupling name is only walked for its import statements.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "CACHE_DIR",
    "Call",
    "FileScan",
    "Import",
    "SourceFile",
    "dotted_name",
    "scan_files",
    "scan_source",
    "string_constants",
]

CACHE_DIR = ".aura_cache"
"""The cache folder under the project root (it holds a ``.gitignore`` of ``*``)."""

_CACHE_FORMAT = 4
_PARALLEL_FROM = 400
"""Parse on several processes only from this many uncached files: below, starting them costs
more than it saves."""


@dataclasses.dataclass(frozen=True, slots=True)
class Import:
    """One imported name: ``import a.b`` gives ``a.b``; ``from a import b, c`` gives ``a`` with
    the names ``b`` and ``c`` (each may be a submodule or an attribute; the map decides)."""

    line: int
    module: str
    names: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    """A call whose name is a coupling name, with its string-constant arguments.

    ``name`` is the called expression as written (``registry.get_service``, ``apps.get_model``);
    ``args`` are the positional arguments (``None`` where one is not a string constant) and
    ``keywords`` the keyword arguments that are.
    """

    line: int
    name: str
    args: tuple[str | None, ...]
    keywords: tuple[tuple[str, str], ...] = ()

    def argument(self, position: int | None, keyword: str | None) -> str | None:
        """The string given at ``position`` or as ``keyword`` (the keyword wins), if any."""
        for name, value in self.keywords:
            if name == keyword:
                return value
        if position is not None and position < len(self.args):
            return self.args[position]
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class FileScan:
    """What one file imports and couples by, or why it could not be read."""

    imports: tuple[Import, ...] = ()
    calls: tuple[Call, ...] = ()
    error: str | None = None
    """Why the file could not be parsed or decoded (``SyntaxError: invalid syntax``)."""
    error_line: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class SourceFile:
    """A source file to scan: where it is, and its dotted module name.

    ``package`` tells whether it is a package's ``__init__.py`` (relative imports then start at
    the package itself).
    """

    path: Path
    dotted: str
    package: bool = False


def dotted_name(path: Path, root: Path) -> tuple[str, bool]:
    """The module name of ``path`` under the source root ``root``, and whether it is a package.

    Folders count whether or not they have an ``__init__.py`` (namespace packages are code too).
    """
    parts = list(path.relative_to(root).with_suffix("").parts)
    package = parts[-1] == "__init__"
    if package:
        parts.pop()
    return ".".join(parts), package


def scan_source(
    source: bytes | str, path: str, dotted: str, *, package: bool, names: frozenset[str]
) -> FileScan:
    """Scan one file's ``source``; ``names`` are the coupling names to record calls of.

    A coupling name is the called name's last part (``get_service``) or a dotted suffix of the
    called expression (``apps.get_model``).
    """
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as error:
        message = error.msg or "invalid syntax"
        return FileScan(error=f"SyntaxError: {message}", error_line=error.lineno or 1)
    except (ValueError, UnicodeDecodeError) as error:  # null bytes, undecodable text
        return FileScan(error=f"{type(error).__name__}: {error}", error_line=1)
    except (RecursionError, MemoryError) as error:  # nested too deeply for the parser
        return FileScan(error=f"{type(error).__name__}: too deeply nested to parse", error_line=1)
    base = dotted if package else dotted.rpartition(".")[0]
    imports = _imports(tree, base)
    text = source if isinstance(source, str) else source.decode("utf-8", "replace")
    lasts = {name.rpartition(".")[2] for name in names}
    if not any(last in text for last in lasts):
        return FileScan(imports=tuple(imports))
    return FileScan(imports=tuple(imports), calls=tuple(_calls(tree, names, lasts)))


def _imports(tree: ast.Module, base: str) -> list[Import]:
    found: list[Import] = []
    stack: list[ast.AST] = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is ast.Import:
            found.extend(Import(node.lineno, alias.name) for alias in node.names)  # type: ignore[attr-defined]
        elif kind is ast.ImportFrom:
            module = _absolute(node.module, node.level, base)  # type: ignore[attr-defined]
            if module:
                names = tuple(alias.name for alias in node.names if alias.name != "*")  # type: ignore[attr-defined]
                found.append(Import(node.lineno, module, names))  # type: ignore[attr-defined]
        elif kind not in _SIMPLE:
            # Pushed last block first, so that imports come out in source order.
            for field in ("cases", "finalbody", "orelse", "handlers", "body"):
                children = getattr(node, field, None)
                if children:
                    stack.extend(reversed(children))
    return found


_SIMPLE = frozenset(
    {
        ast.Expr,
        ast.Assign,
        ast.AugAssign,
        ast.AnnAssign,
        ast.Return,
        ast.Pass,
        ast.Raise,
        ast.Delete,
        ast.Global,
        ast.Nonlocal,
        ast.Break,
        ast.Continue,
        ast.Assert,
    }
)


def _absolute(module: str | None, level: int, base: str) -> str:
    if level == 0:
        return module or ""
    parts = base.split(".") if base else []
    if level > len(parts):
        return ""  # beyond the top-level package: Python refuses it too
    anchor = parts[: len(parts) - (level - 1)]
    return ".".join([*anchor, *([module] if module else [])])


SERVICES_GET = "ModuleServices.get"
"""The name a scan records for ``get(module, service)`` on a :class:`ModuleServices` (the
FastAPI and Django integrations' lookup): what ``module_services(...)`` returns, a name bound to
it, or a parameter annotated ``ModuleServices``."""


def _calls(tree: ast.Module, names: frozenset[str], lasts: set[str]) -> Iterator[Call]:
    constants = string_constants(tree)
    scopes = _service_scopes(tree) if "module_services" in lasts else None
    for node in ast.walk(tree):
        if type(node) is not ast.Call:
            continue
        function = node.func
        if (
            scopes is not None
            and type(function) is ast.Attribute
            and function.attr == "get"
            and _is_services(function.value, scopes.get(id(node), scopes[0]))
            and _names_a_service(node)
        ):
            yield _call(node, SERVICES_GET, constants)
            continue
        called = _called(node.func)
        if called is None or called.rpartition(".")[2] not in lasts:
            continue
        if not any(called == name or called.endswith(f".{name}") for name in names):
            continue
        yield _call(node, called, constants)


def _call(node: ast.Call, called: str, constants: Mapping[str, str]) -> Call:
    args = tuple(_string(arg, constants) for arg in node.args)
    keywords = tuple(
        (keyword.arg, value)
        for keyword in node.keywords
        if keyword.arg is not None and (value := _string(keyword.value, constants)) is not None
    )
    return Call(node.lineno, called, args, keywords)


def _names_a_service(node: ast.Call) -> bool:
    """Whether a ``get`` call names a service as ``ModuleServices.get`` does: its second
    argument (or ``service_name``) text or a name, not ``None`` or a number (a dict's default)."""
    given = node.args[1] if len(node.args) >= 2 else None
    for keyword in node.keywords:
        if keyword.arg == "service_name":
            given = keyword.value
    if type(given) is ast.Constant:
        return isinstance(given.value, str)
    return type(given) in (ast.Name, ast.Attribute, ast.JoinedStr)


_Scopes = dict[int, frozenset[str]]
"""For each call in a tree (by ``id``), the names that hold a ``ModuleServices`` where it is;
key 0: the module's own (for calls at module level)."""


def _service_scopes(tree: ast.Module) -> _Scopes:
    """Which names hold a ``ModuleServices`` in each scope of ``tree``: bound to
    ``module_services(...)``, annotated ``ModuleServices`` (also inside ``Annotated[...]``,
    ``Optional[...]``, ``X | None`` or a string), or ``self.<name>`` set to one anywhere in the
    file. A function or class sees its own and the enclosing scopes' names."""
    attributes = frozenset(
        f"self.{target.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
        and _holds_services(node)
    )
    # Type aliases of the module: Services = Annotated[ModuleServices, Depends(...)].
    aliases = frozenset(
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and isinstance(node.value, ast.Subscript | ast.Name | ast.Attribute)
        and _names_services(node.value)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    )
    scopes: _Scopes = {}

    def annotated(annotation: ast.expr) -> bool:
        return _names_services(annotation) or any(
            isinstance(node, ast.Name) and node.id in aliases for node in ast.walk(annotation)
        )

    def visit(scope: ast.AST, outer: frozenset[str]) -> None:
        own = set(outer) | attributes
        body_nodes = list(_scope_nodes(scope))
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            arguments = scope.args
            for argument in (
                *arguments.posonlyargs,
                *arguments.args,
                *arguments.kwonlyargs,
                *([arguments.vararg] if arguments.vararg else []),
                *([arguments.kwarg] if arguments.kwarg else []),
            ):
                if argument.annotation is not None and annotated(argument.annotation):
                    own.add(argument.arg)
                elif argument.arg in own:
                    own.discard(argument.arg)  # a parameter of another kind hides the outer name
        for node in body_nodes:
            if isinstance(node, ast.Assign | ast.AnnAssign) and _holds_services(node):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                own.update(target.id for target in targets if isinstance(target, ast.Name))
        names = frozenset(own)
        for node in body_nodes:
            if type(node) is ast.Call:
                scopes[id(node)] = names
        for node in body_nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(node, names)
            elif isinstance(node, ast.ClassDef):
                visit(node, names)  # its methods see the names around the class

    visit(tree, frozenset())
    scopes[0] = frozenset(attributes)
    return scopes


def _scope_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of ``scope``'s own code: nested functions and classes themselves, not their
    bodies (a function's decorators and defaults belong to the scope around it)."""
    stack: list[ast.AST] = (
        [scope.body] if isinstance(scope, ast.Lambda) else list(getattr(scope, "body", []))
    )
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            if not isinstance(node, ast.Lambda):
                stack.extend(node.decorator_list)
            if not isinstance(node, ast.ClassDef):
                stack.extend(d for d in (*node.args.defaults, *node.args.kw_defaults) if d)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _holds_services(node: ast.Assign | ast.AnnAssign) -> bool:
    value = node.value
    if isinstance(node, ast.AnnAssign) and _names_services(node.annotation):
        return True
    return value is not None and _is_services(value, frozenset())


def _is_services(value: ast.expr, services: frozenset[str]) -> bool:
    """Whether ``value`` is a ``ModuleServices``: ``module_services(...)``, or a name of one."""
    if type(value) is ast.Name:
        return value.id in services
    if type(value) is ast.Attribute and type(value.value) is ast.Name:
        return f"{value.value.id}.{value.attr}" in services
    if type(value) is ast.Call:
        called = _called(value.func)
        return called is not None and called.rpartition(".")[2] == "module_services"
    return False


_SERVICES_WORD = re.compile(r"\bModuleServices\b")


def _names_services(annotation: ast.expr) -> bool:
    """Whether an annotation names ``ModuleServices``: as a name or an attribute, a string, or
    inside ``Annotated[...]``, ``Optional[...]`` and ``X | None``."""
    for node in ast.walk(annotation):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            named = _SERVICES_WORD.search(node.value) is not None
        elif isinstance(node, ast.Name):
            named = node.id == "ModuleServices"
        else:
            named = isinstance(node, ast.Attribute) and node.attr == "ModuleServices"
        if named:
            return True
    return False


def _called(function: ast.expr) -> str | None:
    parts = []
    while isinstance(function, ast.Attribute):
        parts.append(function.attr)
        function = function.value
    if isinstance(function, ast.Name):
        parts.append(function.id)
    elif not parts:
        return None
    return ".".join(reversed(parts))


def _string(value: ast.expr, constants: Mapping[str, str]) -> str | None:
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return value.value
    if isinstance(value, ast.Name):
        return constants.get(value.id)
    return None


def string_constants(tree: ast.Module) -> dict[str, str]:
    """Names bound once, at module level, to a string (``USERS = "users"``)."""
    constants: dict[str, str] = {}
    assigned: set[str] = set()
    for statement in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        elif isinstance(statement, ast.AugAssign):  # USERS += "x": changed, not a constant
            targets = [statement.target]
        for target in targets:
            if not isinstance(target, ast.Name):  # A, B = ...: each name bound to something
                names = [node.id for node in ast.walk(target) if isinstance(node, ast.Name)]
                assigned.update(names)
                for name in names:
                    constants.pop(name, None)
                continue
            if target.id in assigned:  # bound twice: not a constant to trust
                constants.pop(target.id, None)
            elif isinstance(value, ast.Constant) and isinstance(value.value, str):
                constants[target.id] = value.value
            assigned.add(target.id)
    return constants


# --- many files, cached ---------------------------------------------------------------------------


def scan_files(
    files: Sequence[SourceFile],
    names: Iterable[str],
    *,
    cache_root: Path | None = None,
) -> dict[Path, FileScan]:
    """Scan every file; with ``cache_root``, reuse and refresh the cache under it.

    A cached scan is reused when the file's size and modification time are those recorded, or
    else when its content is (its digest): a fresh checkout, such as a CI job that restores
    ``.aura_cache/``, parses only the files that really changed. Entries of files another
    caller scanned (``aura check`` scans the modules, ``--aura-changed`` the tests too) are
    kept while those files exist. A file that cannot be read at all gives a scan with its error.
    """
    wanted = frozenset(names)
    signature = _signature(wanted)
    cache = _read_cache(cache_root, signature) if cache_root is not None else {}
    results: dict[Path, FileScan] = {}
    entries: dict[str, list[Any]] = {}
    todo: list[tuple[SourceFile, str, list[int], str]] = []
    changed = False
    for file in files:
        key = _cache_key(file.path, cache_root)
        try:
            status = file.path.stat()
        except OSError as error:
            results[file.path] = FileScan(error=f"{type(error).__name__}: {error}", error_line=1)
            continue
        stamp = [status.st_mtime_ns, status.st_size]
        entry = cache.get(key)
        cached = _cached(entry, stamp, file.dotted, None)
        if cached is not None:
            results[file.path] = cached
            entries[key] = entry  # type: ignore[assignment]  # checked by _cached
            continue
        # The content is compared only with an entry of this file; a new file's digest comes
        # from the parse, which reads it anyway.
        digest = _digest(file.path) if cache_root is not None and entry is not None else ""
        cached = _cached(entry, None, file.dotted, digest) if digest else None
        if cached is not None:  # the same content under a new stamp: a fresh checkout
            results[file.path] = cached
            entries[key] = [stamp, file.dotted, entry[2], digest]  # type: ignore[index]
            changed = True
        else:
            todo.append((file, key, stamp, digest))
    fresh = _scan_many([item[0] for item in todo], wanted)
    results.update((path, scan) for path, (scan, _) in fresh.items())
    if cache_root is None:
        return results
    for file, key, stamp, _ in todo:
        scan, digest = fresh[file.path]
        if digest and not _unreadable(scan):
            entries[key] = [stamp, file.dotted, _to_json(scan), digest]
    for key, entry in cache.items():  # what other callers scanned, while it is still there
        if key not in entries and (cache_root / key).exists():
            entries[key] = entry
    if todo or changed or len(entries) != len(cache):
        _write_cache(cache_root, signature, entries)
    return results


def _cache_key(path: Path, root: Path | None) -> str:
    """A file's key in the cache: its path relative to the project, so that a checkout in
    another folder finds it (absolute when outside the project)."""
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return str(path)


def _digest(path: Path) -> str:
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    except OSError:
        return ""  # unreadable: parsed (and reported) without a cache entry


def _cached(
    entry: Any, stamp: list[int] | None, dotted: str, digest: str | None
) -> FileScan | None:
    """The scan kept in the cache ``entry`` when it is of this very file (same ``stamp``, or
    the same content ``digest``), else None (a damaged entry counts as missing: the file is
    parsed again)."""
    try:
        if entry[1] != dotted:
            return None
        if (stamp is not None and entry[0] == stamp) or (digest and entry[3] == digest):
            return _from_json(entry[2])
    except (TypeError, ValueError, KeyError, IndexError):
        pass
    return None


def _unreadable(scan: FileScan) -> bool:
    """Whether the file could not be read at all (not kept: its stamp does not change when its
    permissions are repaired)."""
    if scan.error is None:
        return False
    kind = getattr(builtins, scan.error.partition(":")[0], None)
    return isinstance(kind, type) and issubclass(kind, OSError)


def _scan_many(
    files: Sequence[SourceFile], names: frozenset[str]
) -> dict[Path, tuple[FileScan, str]]:
    """Each file's scan and the digest of what was read (empty when it could not be read)."""
    workers = min(os.cpu_count() or 1, 8)
    if len(files) < _PARALLEL_FROM or workers < 2 or sys.platform == "win32":
        return {file.path: _scan_one(file, names) for file in files}
    # Only when there is much to parse; from its own module, not the package's cached name:
    # pickling a call looks its class up there, so after a sys.modules restore (pytester's,
    # in-process) the package's name would be a stale copy the pickler refuses.
    from concurrent.futures.process import ProcessPoolExecutor
    from multiprocessing import get_context

    # Plain tuples both ways: pickling paths and dataclasses costs more than the parse saves.
    # The forked workers take all shares but one, which this process parses meanwhile: one
    # fork fewer, and its share's scans need no trip through JSON and a pipe.
    chunks = [
        [(str(file.path), file.dotted, file.package) for file in files[index::workers]]
        for index in range(1, workers)
    ]
    with ProcessPoolExecutor(workers - 1, mp_context=get_context("fork")) as pool:
        pending = pool.map(_scan_chunk, chunks, [names] * (workers - 1))
        found = {file.path: _scan_one(file, names) for file in files[0::workers]}
        parts = list(pending)
    order = [files[index::workers] for index in range(1, workers)]
    found.update(
        (file.path, (_from_json(data), digest))
        for part, chunk in zip(parts, order, strict=True)
        for file, (data, digest) in zip(chunk, part, strict=True)
    )
    return found


def _scan_chunk(
    files: Sequence[tuple[str, str, bool]], names: frozenset[str]
) -> list[tuple[list[Any], str]]:
    found = []
    for path, dotted, package in files:
        scan, digest = _scan_one(SourceFile(Path(path), dotted, package), names)
        found.append((_to_json(scan), digest))
    return found


def _scan_one(file: SourceFile, names: frozenset[str]) -> tuple[FileScan, str]:
    try:
        source = file.path.read_bytes()
    except OSError as error:
        return FileScan(error=f"{type(error).__name__}: {error}", error_line=1), ""
    scan = scan_source(source, str(file.path), file.dotted, package=file.package, names=names)
    return scan, hashlib.blake2b(source, digest_size=16).hexdigest()


def _signature(names: frozenset[str]) -> str:
    from aura import __version__

    text = json.dumps([_CACHE_FORMAT, __version__, sys.version_info[:2], sorted(names)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cache_file(root: Path) -> Path:
    return root / CACHE_DIR / "boundaries.json"


def _read_cache(root: Path, signature: str) -> dict[str, Any]:
    try:
        data = json.loads(_cache_file(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("signature") != signature:
        return {}
    files = data.get("files")
    return files if isinstance(files, dict) else {}


def _write_cache(root: Path, signature: str, entries: Mapping[str, Any]) -> None:
    folder = root / CACHE_DIR
    try:
        folder.mkdir(exist_ok=True)
        ignore = folder / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# Created by aura check; safe to delete.\n*\n", encoding="utf-8")
        target = _cache_file(root)
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(
            json.dumps({"signature": signature, "files": entries}, separators=(",", ":")),
            encoding="utf-8",
        )
        temporary.replace(target)  # atomic: a concurrent run reads the old file or the new one
    except OSError:
        pass  # a read-only checkout: the check still runs, only slower next time


def _to_json(scan: FileScan) -> list[Any]:
    return [
        [[item.line, item.module, list(item.names)] for item in scan.imports],
        [
            [call.line, call.name, list(call.args), [list(k) for k in call.keywords]]
            for call in scan.calls
        ],
        scan.error,
        scan.error_line,
    ]


def _from_json(data: list[Any]) -> FileScan:
    """A scan from its cache entry; ``ValueError`` when the entry is not one (a damaged cache)."""
    imports, calls, error, error_line = data
    scan = FileScan(
        imports=tuple(Import(line, module, tuple(names)) for line, module, names in imports),
        calls=tuple(
            Call(line, name, tuple(args), tuple((k, v) for k, v in keywords))
            for line, name, args, keywords in calls
        ),
        error=error,
        error_line=error_line,
    )
    fields_ok = all(
        isinstance(item.line, int)
        and isinstance(item.module, str)
        and all(isinstance(name, str) for name in item.names)
        for item in scan.imports
    ) and all(
        isinstance(call.line, int)
        and isinstance(call.name, str)
        and all(arg is None or isinstance(arg, str) for arg in call.args)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in call.keywords)
        for call in scan.calls
    )
    if (
        not fields_ok
        or not (error is None or isinstance(error, str))
        or not isinstance(error_line, int)
    ):
        raise ValueError("not a scan")
    return scan
