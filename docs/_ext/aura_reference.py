"""Aura's reference pages, generated from the code at build time so that they cannot drift.

Each generated page has a *collection* function that returns plain data (tested by
``tests/unit/test_docs_site.py``) and a directive that renders it:

``.. aura-plugin-options::``
    every option of the pytest plugins :mod:`aura.testing.plugin` and
    :mod:`aura.architecture.pytest_plugin`, as their ``pytest_addoption`` declares it
    (recorded with a fake parser), with its ``[tool.aura]`` key from ``OPTIONS``;
``.. aura-plugin-markers::``
    their markers (``MARKERS`` and what ``pytest_configure`` declares);
``.. aura-plugin-fixtures::``
    every fixture defined in ``aura.testing.plugin`` and ``aura.testing.bdd``, with its docstring;
``.. aura-bdd-steps::``
    every step definition of ``aura.testing.bdd``: keywords, pattern, docstring;
``.. aura-cli-help:: [COMMAND]``
    the output of ``aura [COMMAND] --help``;
``.. aura-data:: aura.NAME``
    a module-level object documented by the attribute docstring where it is defined;
``.. aura-rest-of:: MODULE``
    a module with the public names that no other part of the reference documents;
``.. aura-every-module::``
    the same for every module of ``aura``, a section each.

Two build-time checks keep the API reference whole: every name in the ``__all__`` of the
modules listed in ``aura_api_modules`` (conf.py) must be documented, under that module or under
another one of the list; and a reference to an object under another of its names
(``aura.bus.EventBus`` in a signature) resolves to the name it is documented under
(``aura.EventBus``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import inspect
import io
import os
import pkgutil
import re
import sys
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

from _pytest.fixtures import FixtureFunctionDefinition
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import make_refnode
from sphinx.util.parsing import nested_parse_to_nodes

__all__ = [
    "FixtureInfo",
    "MarkerInfo",
    "OptionInfo",
    "StepInfo",
    "cli_help",
    "collect_bdd_steps",
    "collect_fixtures",
    "collect_markers",
    "collect_options",
    "setup",
]

logger = logging.getLogger(__name__)

PLUGINS = ("aura.testing.plugin", "aura.architecture.pytest_plugin")
"""The pytest plugins Aura registers through the ``pytest11`` entry point."""

FIXTURE_MODULES = ("aura.testing.plugin", "aura.testing.bdd", "aura.testing.postgres")
"""Where Aura's fixtures are defined (the second is loaded with ``aura_bdd``, the third with
``-p aura.testing.postgres``)."""

STEP_MODULE = "aura.testing.bdd"
"""The step library."""

CLI_WIDTH = 100
"""Columns of the generated ``--help`` texts (argparse reads ``$COLUMNS``)."""


# --- data -----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OptionInfo:
    """One setting of a pytest plugin: command-line flag and/or ini option."""

    plugin: str
    ini: str
    flag: str | None
    help: str
    kind: str = "string"
    """``string``, ``bool``, ``lines`` (one value per line) or ``arguments``."""
    choices: tuple[str, ...] = ()
    table_key: str | None = None
    """Its key in ``[tool.aura]`` (``testing.database`` is ``[tool.aura.testing] database``)."""


@dataclasses.dataclass(frozen=True)
class MarkerInfo:
    """One marker a plugin declares."""

    plugin: str
    name: str
    signature: str
    description: str


@dataclasses.dataclass(frozen=True)
class FixtureInfo:
    """One pytest fixture."""

    module: str
    name: str
    doc: str
    requests: tuple[str, ...]
    """The fixtures it requests."""


@dataclasses.dataclass(frozen=True)
class StepInfo:
    """One pytest-bdd step definition."""

    keywords: tuple[str, ...]
    pattern: str
    parser: str
    """``string`` (the exact text), ``re``, ``parse`` or ``cfparse``."""
    function: str
    doc: str
    line: int


# --- collection: plain functions returning data ---------------------------------------------------


class _RecordingGroup:
    def __init__(self, parser: _RecordingParser) -> None:
        self._parser = parser

    def addoption(self, *names: str, **options: Any) -> None:
        self._parser.flags.append((names, options))


class _RecordingParser:
    """Stands for ``pytest.Parser`` and records what a plugin declares."""

    def __init__(self) -> None:
        self.flags: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        self.inis: list[tuple[str, str, dict[str, Any]]] = []

    def getgroup(self, name: str, description: str = "") -> _RecordingGroup:
        return _RecordingGroup(self)

    def addoption(self, *names: str, **options: Any) -> None:
        self.flags.append((names, options))

    def addini(self, name: str, help: str, type: str | None = None, **options: Any) -> None:
        self.inis.append((name, help, {"type": type, **options}))


class _RecordingConfig:
    """Stands for ``pytest.Config`` in ``pytest_configure`` and records the markers added."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def addinivalue_line(self, name: str, line: str) -> None:
        if name == "markers":
            self.lines.append(line)


def _recorded_options(plugin: str) -> _RecordingParser:
    parser = _RecordingParser()
    importlib.import_module(plugin).pytest_addoption(parser)
    return parser


def collect_options() -> list[OptionInfo]:
    """Every option of Aura's pytest plugins, in declaration order, flags paired with inis."""
    from aura.testing.plugin import OPTIONS

    table_keys = {option.ini: option.table_key for option in OPTIONS}
    helps = {option.ini: option.help for option in OPTIONS}
    found: list[OptionInfo] = []
    for plugin in PLUGINS:
        parser = _recorded_options(plugin)
        flags = {
            options.get("dest", names[0].lstrip("-").replace("-", "_")): (names, options)
            for names, options in parser.flags
        }
        for ini, ini_help, ini_options in parser.inis:
            names, flag_options = flags.pop(ini, ((), {}))
            kind = {"bool": "bool", "linelist": "lines", "args": "arguments"}.get(
                str(ini_options.get("type")), "string"
            )
            choices = tuple(flag_options.get("choices") or ())
            found.append(
                OptionInfo(
                    plugin=plugin,
                    ini=ini,
                    flag=names[0] if names else None,
                    help=_sentence(
                        helps.get(ini, ini_help)
                        if plugin == PLUGINS[0]
                        else str(flag_options.get("help") or ini_help)
                    ),
                    kind=kind,
                    choices=choices,
                    table_key=table_keys.get(ini) if plugin == PLUGINS[0] else None,
                )
            )
        for dest, (names, flag_options) in flags.items():  # a flag without an ini option
            found.append(
                OptionInfo(plugin, dest, names[0], _sentence(flag_options.get("help", "")))
            )
    return found


def _sentence(text: object) -> str:
    """``"the package ..."`` as ``"The package ..."``."""
    words = str(text).strip()
    return words[:1].upper() + words[1:]


def collect_markers() -> list[MarkerInfo]:
    """Every marker of Aura's pytest plugins, as ``pytest --markers`` shows it."""
    from aura.testing.plugin import MARKERS

    lines = list(MARKERS.values())
    config = _RecordingConfig()
    importlib.import_module(PLUGINS[1]).pytest_configure(config)
    found = [(PLUGINS[0], line) for line in lines] + [(PLUGINS[1], line) for line in config.lines]
    markers = []
    for plugin, line in found:
        signature, _, description = line.partition(": ")
        name = re.split(r"[(:]", signature, maxsplit=1)[0]
        markers.append(MarkerInfo(plugin, name, signature, _sentence(description)))
    return markers


def collect_fixtures() -> list[FixtureInfo]:
    """Every fixture defined in Aura's fixture modules (step definitions excluded)."""
    fixtures = []
    for module_name in FIXTURE_MODULES:
        module = importlib.import_module(module_name)
        for definition in _fixture_definitions(module):
            if definition.name.startswith("pytestbdd_"):
                continue  # pytest-bdd's step definitions: see collect_bdd_steps()
            function = definition.__wrapped__  # type: ignore[attr-defined]
            requests = tuple(inspect.signature(function).parameters)
            fixtures.append(
                FixtureInfo(module_name, definition.name, inspect.getdoc(function) or "", requests)
            )
    return fixtures


def _fixture_definitions(module: ModuleType) -> Iterator[FixtureFunctionDefinition]:
    for value in vars(module).values():
        if isinstance(value, FixtureFunctionDefinition):
            yield value


def collect_bdd_steps() -> list[StepInfo]:
    """Every step definition of the step library, in source order.

    pytest-bdd 9 registers each ``@given/@when/@then/@step`` as a fixture named
    ``pytestbdd_stepdef_<type>_<pattern>`` in the defining module; the fixture returns the step's
    ``StepFunctionContext`` (its type, parser and function).
    """
    module = importlib.import_module(STEP_MODULE)
    steps = []
    for definition in _fixture_definitions(module):
        if not definition.name.startswith("pytestbdd_stepdef_"):
            continue
        context = definition.__wrapped__()  # type: ignore[attr-defined]
        function = context.step_func
        keywords = (context.type,) if context.type else ("given", "when", "then")
        steps.append(
            StepInfo(
                keywords=tuple(keyword.capitalize() for keyword in keywords),
                pattern=str(context.parser.name),
                parser=type(context.parser).__name__,
                function=function.__name__,
                doc=inspect.getdoc(function) or "",
                line=inspect.getsourcelines(function)[1],
            )
        )
    return sorted(steps, key=lambda step: step.line)


def cli_help(command: str | None = None) -> str:
    """Return what ``aura [COMMAND] --help`` prints, ``CLI_WIDTH`` columns wide."""
    from aura.cli import main

    argv = [command, "--help"] if command else ["--help"]
    out = io.StringIO()
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(CLI_WIDTH)
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            main(argv)
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return out.getvalue().rstrip()


# --- rendering ------------------------------------------------------------------------------------


def _escape(text: str) -> str:
    """Make plain text safe inside reST (no emphasis, references or substitutions)."""
    return re.sub(r"([\\*`_|])", r"\\\1", text)


def _indented(text: str, prefix: str = "   ") -> list[str]:
    return [prefix + line if line else "" for line in text.splitlines()]


def _table_key(key: str) -> str:
    table, _, name = key.rpartition(".")
    return f"``[tool.aura.{table}] {name}``" if table else f"``[tool.aura] {name}``"


class _GeneratedDirective(SphinxDirective):
    """A directive whose reST is generated: subclasses return its lines."""

    def lines(self) -> Iterable[str]:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        source, line = self.get_source_info()
        content = StringList()
        try:
            generated = list(self.lines())
        except Exception as error:  # the code it reads is broken: say so where the page uses it
            logger.warning(
                "%s could not be generated: %s: %s",
                self.name,
                type(error).__name__,
                error,
                location=self.get_location(),
            )
            return []
        for text in generated:
            content.append(text, source, line)
        return list(nested_parse_to_nodes(self.state, content, source=source, offset=line))


class PluginOptions(_GeneratedDirective):
    """``.. aura-plugin-options::``: per plugin, a summary table, the ini options and the flags."""

    def lines(self) -> Iterable[str]:
        by_plugin: dict[str, list[OptionInfo]] = {}
        for option in collect_options():
            by_plugin.setdefault(option.plugin, []).append(option)
        yield ".. program:: pytest"
        yield ""
        for plugin, options in by_plugin.items():
            yield f".. rubric:: Options of :mod:`{plugin}`"
            yield ""
            yield ".. list-table::"
            yield "   :header-rows: 1"
            yield ""
            yield "   * - ini option"
            yield "     - command line"
            yield "     - ``[tool.aura]``"
            yield "     - type"
            for option in options:
                yield f"   * - :confval:`{option.ini}`"
                yield f"     - :option:`{option.flag}`" if option.flag else "     - —"
                yield f"     - {_table_key(option.table_key)}" if option.table_key else "     - —"
                yield f"     - {option.kind}"
            yield ""
            for option in options:
                yield f".. confval:: {option.ini}"
                yield f"   :type: {option.kind}"
                yield ""
                yield f"   {_escape(option.help.rstrip('.'))}."
                if option.choices:
                    yield "   One of " + ", ".join(f"``{c}``" for c in option.choices) + "."
                yield ""
                where = []
                if option.flag:
                    where.append(f"on the command line as :option:`{option.flag}`")
                if option.table_key:
                    where.append(f"in ``pyproject.toml`` as {_table_key(option.table_key)}")
                if where:
                    yield f"   Also set {' or '.join(where)}."
                    yield ""
            for option in options:
                if option.flag:
                    value = "" if option.kind == "bool" else " VALUE"
                    if option.choices:
                        value = " {" + ",".join(option.choices) + "}"
                    yield f".. option:: {option.flag}{value}"
                    yield ""
                    yield f"   Sets :confval:`{option.ini}` for this run."
                    yield ""


class PluginMarkers(_GeneratedDirective):
    """``.. aura-plugin-markers::``: every marker with its signature."""

    def lines(self) -> Iterable[str]:
        for marker in collect_markers():
            yield f".. marker:: {marker.name}"
            yield ""
            yield f"   ``@pytest.mark.{marker.signature}`` (:mod:`{marker.plugin}`)"
            yield ""
            yield f"   {_escape(marker.description)}"
            yield ""


class PluginFixtures(_GeneratedDirective):
    """``.. aura-plugin-fixtures::``: every fixture with its docstring."""

    def lines(self) -> Iterable[str]:
        for fixture in collect_fixtures():
            yield f".. fixture:: {fixture.name}"
            yield ""
            requests = ", ".join(f"``{name}``" for name in fixture.requests) or "nothing"
            yield f"   *Defined in* :mod:`{fixture.module}`; *requests* {requests}."
            yield ""
            yield from _indented(fixture.doc)
            yield ""


class BddSteps(_GeneratedDirective):
    """``.. aura-bdd-steps::``: every step with its keywords, pattern and docstring."""

    def lines(self) -> Iterable[str]:
        for step in collect_bdd_steps():
            kinds = {"re": "regular expression", "string": "exact text"}
            kind = kinds.get(step.parser, f"{step.parser} pattern")
            yield f".. step:: {step.function}"
            yield ""
            keywords = " / ".join(f"**{keyword}**" for keyword in step.keywords)
            yield f"   {keywords}, matched as {kind}:"
            yield ""
            yield "   .. code-block:: text"
            yield ""
            yield f"      {step.pattern}"
            yield ""
            yield from _indented(step.doc)
            yield ""


class CliHelp(_GeneratedDirective):
    """``.. aura-cli-help:: [COMMAND]``: ``aura [COMMAND] --help`` as a literal block."""

    optional_arguments = 1

    def lines(self) -> Iterable[str]:
        yield ".. code-block:: text"
        yield ""
        yield from _indented(cli_help(self.arguments[0] if self.arguments else None))


class ModuleData(_GeneratedDirective):
    """``.. aura-data:: aura.NAME``: an object documented where it is defined.

    ``aura.event_bus`` is imported into ``aura`` from ``aura.defaults``; its docstring (the
    string below the assignment) is read from there. The directive's content stands in for a
    missing docstring (without either, the build warns); a constant's value is shown as it is
    in the code.
    """

    required_arguments = 1
    has_content = True
    option_spec = {"type": lambda text: text}  # noqa: RUF012

    def lines(self) -> Iterable[str]:
        module_name, _, name = self.arguments[0].rpartition(".")
        value = getattr(importlib.import_module(module_name), name)
        doc = _attribute_doc(name, value) or "\n".join(self.content)
        if not doc:
            logger.warning(
                "%s has no docstring: write one below its assignment, or give the directive "
                "content",
                self.arguments[0],
                location=self.get_location(),
            )
        yield f".. py:data:: {name}"
        yield f"   :module: {module_name}"
        if "type" in self.options:
            yield f"   :type: {self.options['type']}"
        if isinstance(value, str | int | float | os.PathLike):
            yield f"   :value: {value!r}"
        yield ""
        yield from _indented(doc)


def _exported(config: Any) -> set[int]:
    """The objects the API reference documents by name: ``aura_api_modules`` and ``_objects``."""
    exported = {
        id(getattr(importlib.import_module(name), public))
        for name in config.aura_api_modules
        for public in getattr(importlib.import_module(name), "__all__", ())
    }
    exported.update(id(_resolve(target)) for target in config.aura_api_objects)
    return exported


def rest_of(module_name: str, exported: set[int]) -> list[str]:
    """The names of a module's ``__all__`` that the API reference does not document already.

    Classes and functions a module only re-exports are left to the module that defines them.
    """
    module = importlib.import_module(module_name)
    return [
        name
        for name in getattr(module, "__all__", ())
        if id(getattr(module, name)) not in exported
        and _defined_in(getattr(module, name), module_name)
    ]


def aura_modules(skip: Iterable[str]) -> list[str]:
    """Every module of the ``aura`` package, sorted, except those in ``skip``."""
    import aura

    skipped = set(skip)
    found = pkgutil.walk_packages(aura.__path__, "aura.", onerror=lambda name: None)
    names = ["aura"] + [info.name for info in found]
    return sorted(name for name in names if name not in skipped)


class RestOfModule(_GeneratedDirective):
    """``.. aura-rest-of:: aura.bus``: a module, with the names of its ``__all__`` documented
    nowhere else (see :func:`rest_of`)."""

    required_arguments = 1

    def lines(self) -> Iterable[str]:
        yield from _module_lines(
            self.arguments[0], rest_of(self.arguments[0], _exported(self.config))
        )


class EveryModule(_GeneratedDirective):
    """``.. aura-every-module::``: a section per module of ``aura``, with the rest of its API.

    Modules documented elsewhere (``aura_api_modules``, and ``aura_modules_elsewhere``: the
    pytest plugins, which have pages of their own, and ``aura.__main__``) are skipped.
    """

    def lines(self) -> Iterable[str]:
        skip = [*self.config.aura_api_modules, *self.config.aura_modules_elsewhere]
        exported = _exported(self.config)
        for module_name in aura_modules(skip):
            try:
                members = rest_of(module_name, exported)
            except Exception as error:  # one broken module: say which, document the others
                logger.warning(
                    "%s cannot be imported: %s: %s",
                    module_name,
                    type(error).__name__,
                    error,
                    location=self.get_location(),
                )
                continue
            title = f"``{module_name}``"
            yield title
            yield "=" * len(title)
            yield ""
            yield from _module_lines(module_name, members)
            yield ""


def _module_lines(module_name: str, members: list[str]) -> Iterator[str]:
    yield f".. automodule:: {module_name}"
    yield f"   :members: {', '.join(members)}" if members else "   :no-members:"
    yield ""


def _defined_in(value: object, module_name: str) -> bool:
    if inspect.isclass(value) or inspect.isfunction(value):
        return getattr(value, "__module__", None) == module_name
    return True


def _attribute_doc(name: str, value: object) -> str:
    for module_name in sorted(sys.modules):
        if not module_name.startswith("aura."):
            continue
        module = sys.modules[module_name]
        if getattr(module, name, None) is not value:
            continue
        docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
        lines = docs.get(("", name))
        if lines:
            return "\n".join(lines).strip()
    return ""


# --- the API reference stays whole ----------------------------------------------------------------


def _documented(env: BuildEnvironment) -> dict[str, Any]:
    return env.get_domain("py").objects  # type: ignore[attr-defined,no-any-return]


def check_api_complete(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn for each public name of ``aura_api_modules`` that no page documents."""
    documented = _documented(env)
    modules: list[str] = list(app.config.aura_api_modules)
    for module_name in modules:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            homes = [f"{other}.{name}" for other in modules]
            if not any(home in documented and _resolve(home) is value for home in homes):
                logger.warning(
                    "%s.%s is public (in __all__) but documented nowhere; add it to a page of "
                    "docs/reference/",
                    module_name,
                    name,
                    type="aura",
                    subtype="api",
                )
    for target in app.config.aura_api_objects:
        if target not in documented:
            logger.warning("%s is documented nowhere", target, type="aura", subtype="api")


def _resolve(dotted: str) -> Any:
    """Import ``package.module.Name.attr``; ``None`` when it names nothing."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:]:
                value = getattr(value, part)
        except AttributeError:
            return None
        return value
    return None


def resolve_alias(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.Element
) -> nodes.reference | None:
    """Resolve ``aura.bus.EventBus`` to where the same object is documented: ``aura.EventBus``."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("aura"):
        return None
    value = _resolve(target)
    if isinstance(value, str | int | float | bool | tuple):
        return None
    found = _aliases(env).get(id(value)) if value is not None else None
    if found is None:
        # Imported for the type checker only, or a private stand-in (a Protocol) of a documented
        # class: the one documented object of that name, if there is exactly one.
        last = target.rsplit(".", 1)[-1]
        named = [
            (name, entry)
            for name, entry in _documented(env).items()
            if name.startswith("aura") and name.rsplit(".", 1)[-1] == last and not entry.aliased
        ]
        found = named[0] if len(named) == 1 else None
    if found is None:
        return None
    name, entry = found
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, name)


def _aliases(env: BuildEnvironment) -> dict[int, tuple[str, Any]]:
    cached: dict[int, tuple[str, Any]] | None = getattr(env, "_aura_aliases", None)
    if cached is None:
        cached = {}
        for name, entry in sorted(_documented(env).items()):
            if name.startswith("aura") and not entry.aliased:
                value = _resolve(name)
                if value is not None and not isinstance(value, str | int | float | bool):
                    cached.setdefault(id(value), (name, entry))
        env._aura_aliases = cached  # type: ignore[attr-defined]  # one build's cache
    return cached


def _forget_aliases(app: Sphinx, env: BuildEnvironment, *args: object) -> None:
    with contextlib.suppress(AttributeError):
        del env._aura_aliases  # type: ignore[attr-defined]


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directives, the object types, the checks and the alias resolution."""
    app.add_config_value("aura_api_modules", [], "env", list)
    app.add_config_value("aura_api_objects", [], "env", list)
    app.add_config_value("aura_modules_elsewhere", [], "env", list)
    app.add_object_type(
        "fixture", "fixture", indextemplate="pair: %s; pytest fixture", objname="pytest fixture"
    )
    app.add_object_type(
        "marker", "marker", indextemplate="pair: %s; pytest marker", objname="pytest marker"
    )
    app.add_object_type("step", "step", indextemplate="pair: %s; BDD step", objname="BDD step")
    app.add_directive("aura-plugin-options", PluginOptions)
    app.add_directive("aura-plugin-markers", PluginMarkers)
    app.add_directive("aura-plugin-fixtures", PluginFixtures)
    app.add_directive("aura-bdd-steps", BddSteps)
    app.add_directive("aura-cli-help", CliHelp)
    app.add_directive("aura-data", ModuleData)
    app.add_directive("aura-rest-of", RestOfModule)
    app.add_directive("aura-every-module", EveryModule)
    app.connect("env-check-consistency", check_api_complete)
    app.connect("env-updated", _forget_aliases)
    app.connect("missing-reference", resolve_alias)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
