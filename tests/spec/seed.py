"""The seed's code blocks, read from ``docs/specification.rst`` and run as written.

``docs/specification.rst`` is the seed, byte for byte (``tests/unit/test_docs_site.py`` compares
them where the seed is beside the checkout). Each ``code-block:: python`` is compiled from the
text the reader sees; blocks of one section run in order in one namespace. The only change is
the table :data:`SEED_IMPORTS`: the seed's ``from config.<module> import <name>`` lines import
Aura's objects. The names a block uses without defining or importing them (``user_id``,
``session``, ``logger``...) are given by the test of its section, and listed in the docs.
"""

from __future__ import annotations

import dataclasses
import sys
import textwrap
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docutils.core
import docutils.nodes

import aura

__all__ = ["SEED_IMPORTS", "SPECIFICATION", "Block", "Namespace", "blocks", "seed_imports"]

SEED_MODULE = "seed_examples"
"""The module the blocks run in (``__module__`` of what they define), while :func:`seed_imports`
is in force."""

SPECIFICATION = Path(__file__).resolve().parents[2] / "docs" / "specification.rst"

SEED_IMPORTS: dict[str, dict[str, object]] = {
    "config.service_registry": {
        "service_registry": aura.service_registry,
        "event_bus": aura.event_bus,
        "ServiceRegistry": aura.ServiceRegistry,
        "InterModuleEventBus": aura.EventBus,
    },
    "config.dependency_injection": {
        "get_container": aura.get_container,
        "Container": aura.Container,
    },
}
"""What each of the seed's ``config`` modules is in Aura: module → name → Aura's object."""


@dataclasses.dataclass(frozen=True)
class Block:
    """One ``code-block:: python`` of the seed: its section's titles, its line and its code."""

    section: str
    line: int
    code: str

    def compile(self) -> types.CodeType:
        """The block's code object, named after its place in the specification."""
        return compile(self.code, f"{SPECIFICATION.name}:{self.line} ({self.section})", "exec")


def blocks(path: Path = SPECIFICATION) -> list[Block]:
    """Every Python code block of the document, in reading order."""
    source = path.read_text(encoding="utf-8")
    tree = docutils.core.publish_doctree(
        source, settings_overrides={"report_level": 5, "halt_level": 5}
    )
    lines = source.splitlines()
    found = []
    for node in tree.findall(docutils.nodes.literal_block):
        if "python" not in node.get("classes", []):
            continue
        titles = []
        parent = node.parent
        while parent is not None:
            if isinstance(parent, docutils.nodes.section):
                titles.insert(0, parent[0].astext())
            parent = parent.parent
        code = node.astext()
        found.append(Block(" / ".join(titles), _first_line(lines, code), code))
    return found


def _first_line(lines: list[str], code: str) -> int:
    first = code.splitlines()[0].strip()
    for number, line in enumerate(lines, start=1):
        if line.strip() == first and ".. code-block::" in lines[number - 3]:
            return number
    raise LookupError(f"The block starting {first!r} is not in the specification.")


def sections(path: Path = SPECIFICATION) -> dict[str, list[Block]]:
    """The Python blocks grouped by section, in reading order."""
    grouped: dict[str, list[Block]] = {}
    for block in blocks(path):
        grouped.setdefault(block.section, []).append(block)
    return grouped


class Namespace(dict[str, Any]):
    """The names a section's blocks run in; remembers every value each name was given.

    The seed's last example defines ``handle_session_scheduled`` twice (the notifications' and
    the billing module's); :meth:`definitions` returns both.
    """

    def __init__(self, given: dict[str, Any]) -> None:
        super().__init__(given)
        self.history: list[tuple[str, Any]] = []
        # A real module, so classes defined here (dataclasses, contracts) find their globals.
        module = types.ModuleType(SEED_MODULE, "The seed's code blocks, run by the test suite.")
        module.__dict__.update(given)
        sys.modules[SEED_MODULE] = module
        self.globals: dict[str, Any] = module.__dict__

    def __setitem__(self, name: str, value: Any) -> None:
        self.history.append((name, value))
        self.globals[name] = value
        super().__setitem__(name, value)

    def definitions(self, name: str) -> list[Any]:
        """Every value ``name`` was bound to, in order."""
        return [value for bound, value in self.history if bound == name]

    def run(self, block: Block) -> None:
        """Run one block here: its top-level names land in this namespace."""
        exec(block.compile(), self.globals, self)

    def evaluate(self, block: Block) -> Any:
        """The value of a block that is one expression (the seed's event format)."""
        return eval(compile(textwrap.dedent(block.code), block.section, "eval"), self.globals)


@contextmanager
def seed_imports() -> Iterator[None]:
    """Make ``from config.<module> import <name>`` import Aura's objects, for a block."""
    added = {"config": types.ModuleType("config")}
    for name, members in SEED_IMPORTS.items():
        module = types.ModuleType(name)
        module.__dict__.update(members)
        setattr(added["config"], name.split(".", 1)[1], module)
        added[name] = module
    taken = sorted(set(added) & set(sys.modules))
    if taken:
        raise RuntimeError(f"A module named {taken[0]!r} is already imported here.")
    sys.modules.update(added)
    try:
        yield
    finally:
        for name in (*added, SEED_MODULE):
            sys.modules.pop(name, None)
