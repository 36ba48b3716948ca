"""The docs page "The specification, run as written" lists exactly what the seed's test gives."""

from __future__ import annotations

import re
from pathlib import Path

import docutils.core
import docutils.nodes

import aura
from tests.spec.seed import SEED_IMPORTS
from tests.spec.test_seed_examples import GIVEN

PAGE = Path(__file__).resolve().parents[2] / "docs" / "seed-run.rst"


def rows(name: str) -> list[list[str]]:
    """The body rows of the page's list-table ``name``, as the text of each cell."""
    tree = docutils.core.publish_doctree(
        PAGE.read_text(encoding="utf-8"), settings_overrides={"report_level": 5}
    )
    (table,) = [t for t in tree.findall(docutils.nodes.table) if name in t.get("ids", [])]
    (body,) = table.findall(docutils.nodes.tbody)
    return [[entry.astext() for entry in row] for row in body.findall(docutils.nodes.row)]


def test_the_page_lists_every_seed_import_and_the_aura_object_it_is() -> None:
    listed = {}
    for seed_import, aura_object in rows("seed-imports"):
        module, name = re.fullmatch(r"from (\S+) import (\S+)", seed_import).groups()  # type: ignore[union-attr]
        listed.setdefault(module, {})[name] = aura_object
    assert {m: set(names) for m, names in listed.items()} == {
        m: set(names) for m, names in SEED_IMPORTS.items()
    }
    for module, names in listed.items():
        for name, written in names.items():
            attribute = re.search(r"`aura\.(\w+)`", written).group(1)  # type: ignore[union-attr]
            assert getattr(aura, attribute) is SEED_IMPORTS[module][name], written


def test_the_page_lists_the_names_each_section_is_given() -> None:
    listed = {
        section: tuple(re.findall(r"[A-Za-z_]+", given) if given != "—" else ())
        for section, given, _ in rows("seed-given")
    }
    assert listed == GIVEN
