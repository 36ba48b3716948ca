"""Breaking changes to event contracts, found by ``aura check`` against the committed catalog.

``aura docs`` commits each contract version's JSON Schema (``events.schema.json``); a change that
stored events or consumers cannot take fails ``aura check`` unless it is a new version with an
upcaster. Each rule is planted once, in a catalog of its own (no global state), then the whole
path runs as a user runs it: ``aura docs``, an edit, ``aura check``, in a project of its own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import Field

from aura.architecture.schemas import breaking_changes, catalog_schemas, read_schemas
from aura.events import EventCatalog

TYPE = "visit.booked"


def catalog_of(*versions: tuple[dict[str, Any], dict[int, Any] | None]) -> EventCatalog:
    """A catalog with one contract per version: (fields -> (type, default or ...), upcasters)."""
    catalog = EventCatalog()
    for number, (fields, upcasters) in enumerate(versions, start=1):
        spec = [
            (name, kind) if default is ... else (name, kind, dataclasses.field(default=default))
            for name, (kind, default) in sorted(fields.items(), key=lambda f: f[1][1] is not ...)
        ]
        cls = dataclasses.make_dataclass(f"VisitBookedV{number}", spec, frozen=True)
        catalog.register(cls, TYPE, number, upcasters=upcasters)
    return catalog


BASE = {"patient": (int, ...), "room": (str, ...), "note": (str | None, None)}


def committed(catalog: EventCatalog) -> dict[str, Any]:
    """What ``aura docs`` writes, read back as ``aura check`` reads it."""
    return json.loads(json.dumps(catalog_schemas(catalog, [TYPE])))


def changes(new: EventCatalog, old: EventCatalog | None = None) -> list[tuple[str, str]]:
    found = breaking_changes(committed(old or catalog_of((BASE, None))), new, [TYPE])
    return [(finding.rule, finding.subject) for finding in found]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({k: v for k, v in BASE.items() if k != "room"}, "field 'room' was removed (or renamed)"),
        (
            {**{k: v for k, v in BASE.items() if k != "room"}, "ward": (str, ...)},
            "field 'room' was removed (or renamed)",
        ),
        ({**BASE, "room": (int, ...)}, "field 'room' changed type from string to integer"),
        (
            {**BASE, "note": (str, "")},
            "field 'note' changed type from string | null to string",
        ),
        (
            {**BASE, "minutes": (int, ...)},
            "field 'minutes' is new and required (it has no default)",
        ),
        ({**BASE, "note": (str | None, ...)}, "field 'note' became required"),
    ],
    ids=["removed", "renamed", "type-changed", "type-narrowed", "new-required", "now-required"],
)
def test_each_incompatible_change_of_a_committed_version_is_a_finding(
    fields: dict[str, Any], expected: str
) -> None:
    found = changes(catalog_of((fields, None)))
    assert (found[0][0], found[0][1].removeprefix(f"{TYPE} v1 ")) == (
        "event-breaking-change",
        expected,
    )


@pytest.mark.parametrize(
    "fields",
    [
        {**BASE, "minutes": (int, 50)},  # a new field with a default
        {**BASE, "patient": (int | None, ...)},  # widened to accept null
        {**BASE, "patient": (float, ...)},  # integers are numbers
        {**BASE, "note": (str | int | None, None)},  # one more alternative
    ],
    ids=["additive", "optional", "int-to-float", "more-alternatives"],
)
def test_backward_compatible_changes_pass(fields: dict[str, Any]) -> None:
    assert changes(catalog_of((fields, None))) == []


def test_a_finding_says_what_changed_and_how_to_version_it() -> None:
    [finding] = breaking_changes(
        committed(catalog_of((BASE, None))),
        catalog_of(({k: v for k, v in BASE.items() if k != "room"}, None)),
        [TYPE],
    )
    assert finding.message == (
        f"Event {TYPE!r} version 1 (types.VisitBookedV1) changed in a way its stored events "
        "and consumers cannot take: field 'room' was removed (or renamed)."
    )
    assert finding.fix == (
        "Keep version 1 as committed and declare version 2 with an upcaster from 1: "
        f"@event_contract({TYPE!r}, version=2, upcasters={{1: upcast}})."
    )


def test_a_new_version_needs_an_upcaster_from_the_committed_one() -> None:
    v2 = {k: v for k, v in BASE.items() if k != "room"}
    assert changes(catalog_of((BASE, None), (v2, {1: lambda data: data}))) == []
    [finding] = breaking_changes(
        committed(catalog_of((BASE, None))), catalog_of((BASE, None), (v2, None)), [TYPE]
    )
    assert (finding.rule, finding.message) == (
        "event-missing-upcaster",
        f"Event {TYPE!r} is at version 2, and the committed catalog has version 1: no upcaster "
        "reads version 1 as version 2, so stored events of version 1 could not be read.",
    )
    # the older class may go: the committed schema and the upcaster are what stored rows need
    only_v2 = EventCatalog()
    only_v2.register(
        dataclasses.make_dataclass("Booked", [("patient", int)]), TYPE, 2, upcasters={1: dict}
    )
    assert changes(only_v2) == []


def test_a_committed_version_the_code_lost_is_a_finding() -> None:
    two = catalog_of((BASE, None), (BASE, {1: dict}))
    assert changes(catalog_of((BASE, None)), old=two) == [("event-version-removed", f"{TYPE} v2")]


# --- the whole path, as a user runs it ---------------------------------------------------------

FILES = {
    "pyproject.toml": """
        [tool.aura]
        modules = "clinic.modules"
    """,
    "clinic/__init__.py": "",
    "clinic/contracts.py": """
        from dataclasses import dataclass

        from aura import event_contract


        @event_contract("visit.booked")
        @dataclass(frozen=True)
        class VisitBooked:
            patient: int
            room: str
    """,
    "clinic/modules/__init__.py": "",
    "clinic/modules/visits/__init__.py": """
        import clinic.contracts  # noqa: F401
        from aura import Module

        module = Module("visits")
        module.publishes("visit.booked")
    """,
    "clinic/modules/billing/__init__.py": """
        import clinic.contracts  # noqa: F401
        from aura import Module

        module = Module("billing")


        @module.subscribe("visit.booked", name="invoice")
        def invoice(data):
            pass
    """,
}

V2 = """
    from dataclasses import dataclass

    from aura import event_contract


    @event_contract("visit.booked")
    @dataclass(frozen=True)
    class VisitBookedV1:  # renamed: stored rows name the type and version, not the class
        patient: int
        room: str


    def without_room(data):
        return {"patient": data["patient"]}


    @event_contract("visit.booked", version=2, upcasters=UPCASTERS)
    @dataclass(frozen=True)
    class VisitBooked:
        patient: int
"""


def aura(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aura", *arguments],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(project), "PYTHONDONTWRITEBYTECODE": "1"},
    )


def test_aura_docs_commits_the_schemas_and_aura_check_holds_contracts_to_them(
    tmp_path: Path,
) -> None:
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    assert aura(tmp_path, "docs").returncode == 0
    schemas = read_schemas(tmp_path / "docs/architecture/events.schema.json")
    assert schemas is not None
    assert schemas[TYPE]["1"]["contract"] == "clinic.contracts.VisitBooked"
    assert aura(tmp_path, "check").returncode == 0

    contracts = tmp_path / "clinic/contracts.py"
    contracts.write_text(contracts.read_text().replace("    room: str\n", ""))
    broken = aura(tmp_path, "check")
    assert broken.returncode == 1
    assert broken.stdout.splitlines()[1] == (
        "clinic/contracts.py:6: event 'visit.booked' version 1 (clinic.contracts.VisitBooked) "
        "changed in a way its stored events and consumers cannot take: field 'room' was "
        "removed (or renamed); keep version 1 as committed and declare version 2 with an "
        "upcaster from 1: @event_contract('visit.booked', version=2, upcasters={1: upcast})"
    )

    contracts.write_text(textwrap.dedent(V2).lstrip().replace("UPCASTERS", "None"))
    missing = aura(tmp_path, "check")
    assert missing.returncode == 1
    assert "no upcaster reads version 1 as version 2" in missing.stdout

    contracts.write_text(textwrap.dedent(V2).lstrip().replace("UPCASTERS", "{1: without_room}"))
    fixed = aura(tmp_path, "check")
    assert fixed.returncode == 0, fixed.stdout
    assert aura(tmp_path, "docs").returncode == 0
    kept = read_schemas(tmp_path / "docs/architecture/events.schema.json")
    assert kept is not None
    assert sorted(kept[TYPE]) == ["1", "2"]
    assert kept[TYPE]["2"]["upcasts_from"] == [1]
    events = (tmp_path / "docs/architecture/events.md").read_text()
    assert "older versions 1 (`clinic.contracts.VisitBookedV1`)" in events


def test_nested_and_recursive_models_compare_by_their_fields() -> None:
    from pydantic import BaseModel

    def nested(title_type: type, extra: bool = False) -> EventCatalog:
        namespace: dict[str, Any] = {"__annotations__": {"title": title_type}}
        if extra:
            namespace["__annotations__"]["floor"] = int | None
            namespace["floor"] = None
        room = type("Room", (BaseModel,), namespace)
        node = type(
            "Node",
            (BaseModel,),
            {"__annotations__": {"room": room, "children": list["Node"]}, "__module__": __name__},  # noqa: F821
        )
        globals()["Node"] = node
        node.model_rebuild()
        catalog = EventCatalog()
        catalog.register(node, TYPE, 1)
        return catalog

    old = nested(str)
    # a recursive model compares without end; a nested field may be named like an annotation
    assert breaking_changes(committed(old), nested(str), [TYPE]) == []
    assert [f.subject for f in breaking_changes(committed(old), nested(int), [TYPE])] == [
        f"{TYPE} v1 field 'room.title' changed type from string to integer",
        f"{TYPE} v1 field 'children[].room.title' changed type from string to integer",
    ]
    assert breaking_changes(committed(old), nested(str, extra=True), [TYPE]) == []


def test_an_unreadable_committed_catalog_is_an_error_not_a_pass(tmp_path: Path) -> None:
    from aura.exceptions import ConfigurationError

    path = tmp_path / "events.schema.json"
    path.write_text('{"events": {<<<<<<< HEAD\n')
    with pytest.raises(ConfigurationError) as refused:
        read_schemas(path)
    assert str(refused.value).startswith(f"{path} is not valid JSON (")
    assert str(refused.value).endswith(
        "): the committed event catalog cannot be compared with the contracts. Restore it from "
        "version control (a merge conflict?), then run `aura docs`."
    )
    path.write_text("[]")
    with pytest.raises(ConfigurationError, match="has no 'events' table"):
        read_schemas(path)


@pytest.mark.parametrize(
    ("before", "after", "breaking"),
    [
        (Literal["a", "b"], Literal["a", "b", "c"], False),  # a value added
        (Literal["a", "b"], Literal["a"], True),  # a value removed
        (Annotated[str, Field(max_length=5)], str, False),  # a constraint dropped
        (str, Annotated[str, Field(max_length=5)], True),  # a constraint added
        (list[int | str], list[int | str | None], False),
        (list[int], list[str], True),
    ],
    ids=[
        "enum-added",
        "enum-removed",
        "constraint-dropped",
        "constraint-added",
        "list-widened",
        "list-changed",
    ],
)
def test_enums_constraints_and_lists(before: Any, after: Any, breaking: bool) -> None:
    old = catalog_of(({"kind": (before, ...)}, None))
    new = catalog_of(({"kind": (after, ...)}, None))
    assert bool(breaking_changes(committed(old), new, [TYPE])) is breaking
