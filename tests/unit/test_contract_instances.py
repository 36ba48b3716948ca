"""Handlers typed with a contract class: one instance per event when nothing can change it, one
per handler otherwise, so that no handler sees what another changed."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

import pydantic
import pytest

from aura.bus import EventBus
from aura.events import EventCatalog, deeply_immutable, event_contract
from aura.exceptions import EventValidationError


class Colour(enum.Enum):
    RED = "red"


@dataclass(frozen=True)
class Room:
    number: int
    label: str | None = None


@dataclass(frozen=True)
class Booked:
    session_id: int
    at: datetime
    room: Room
    tags: tuple[str, ...] = ()


@dataclass
class Draft:
    session_id: int
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FrozenWithList:
    session_id: int
    notes: list[str] = field(default_factory=list)


class FrozenModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True)
    session_id: int


class OpenModel(pydantic.BaseModel):
    session_id: int


def _bus_with(contract: type, event_type: str) -> EventBus:
    catalog = EventCatalog()
    event_contract(event_type, catalog=catalog)(contract)
    return EventBus(catalog=catalog)


def test_an_immutable_contract_instance_is_built_once_per_event_for_every_handler() -> None:
    bus = _bus_with(Booked, "session.booked")
    seen: list[Booked] = []

    def first(event: Booked) -> None:
        seen.append(event)

    def second(event: Booked) -> None:
        seen.append(event)

    bus.subscribe("session.booked", first, "billing")
    bus.subscribe("session.booked", second, "notifications")
    data = {"session_id": 1, "at": "2030-01-07T10:00:00+00:00", "room": {"number": 4}}
    bus.publish("session.booked", data, "mentalhealth")
    bus.publish("session.booked", {**data, "session_id": 2}, "mentalhealth")
    assert [e.session_id for e in seen] == [1, 1, 2, 2]
    assert seen[0] is seen[1]
    assert seen[2] is seen[3]
    assert seen[2] is not seen[0]
    assert seen[0].room == Room(4)
    assert seen[0].at.isoformat() == "2030-01-07T10:00:00+00:00"


@pytest.mark.parametrize(
    ("contract", "data"),
    [
        (Draft, {"session_id": 1, "notes": ["a"]}),
        (FrozenWithList, {"session_id": 1, "notes": ["a"]}),
        (OpenModel, {"session_id": 1}),
    ],
    ids=["mutable dataclass", "frozen dataclass holding a list", "mutable model"],
)
def test_a_changeable_contract_instance_is_each_handlers_own(contract: type, data: Any) -> None:
    bus = _bus_with(contract, "session.drafted")
    seen: list[Any] = []

    def changes_it(event: contract) -> None:  # type: ignore[valid-type]
        seen.append(event)
        if isinstance(event, pydantic.BaseModel):
            event.session_id = 99
        else:
            event.notes.append("changed")

    def reads_it(event: contract) -> None:  # type: ignore[valid-type]
        seen.append(event)

    changes_it.__annotations__["event"] = contract
    reads_it.__annotations__["event"] = contract
    bus.subscribe("session.drafted", changes_it, "billing")
    bus.subscribe("session.drafted", reads_it, "notifications")
    bus.publish("session.drafted", data, "mentalhealth")
    assert seen[0] is not seen[1]
    assert seen[1].session_id == 1
    if not isinstance(seen[1], pydantic.BaseModel):
        assert seen[1].notes == ["a"]


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (int, True),
        (str | None, True),
        (Decimal, True),
        (UUID, True),
        (Colour, True),
        (Literal["a", "b"], True),
        (tuple[int, ...], True),
        (tuple[int, str], True),
        (frozenset[str], True),
        (Booked, True),
        (FrozenModel, True),
        (list[int], False),
        (dict[str, int], False),
        (tuple[list[int], ...], False),
        (Any, False),
        (Draft, False),
        (FrozenWithList, False),
        (OpenModel, False),
    ],
)
def test_deeply_immutable_tells_what_no_handler_can_change(annotation: Any, expected: bool) -> None:
    assert deeply_immutable(annotation) is expected


class FrozenWithExtras(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="allow")
    session_id: int


class FrozenWithPrivate(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True)
    session_id: int
    _seen: list[str] = pydantic.PrivateAttr(default_factory=list)


@pytest.mark.parametrize("contract", [FrozenWithExtras, FrozenWithPrivate])
def test_a_frozen_model_that_still_holds_changeable_parts_is_not_shared(contract: type) -> None:
    assert deeply_immutable(contract) is False
    bus = _bus_with(contract, "session.noted")
    seen: list[Any] = []

    def first(event: contract) -> None:  # type: ignore[valid-type]
        seen.append(event)

    def second(event: contract) -> None:  # type: ignore[valid-type]
        seen.append(event)

    first.__annotations__["event"] = second.__annotations__["event"] = contract
    bus.subscribe("session.noted", first, "billing")
    bus.subscribe("session.noted", second, "notifications")
    data = {"session_id": 1, **({"tags": []} if contract is FrozenWithExtras else {})}
    bus.publish("session.noted", data, "mentalhealth")
    assert seen[0] is not seen[1]


def test_data_changed_after_validation_is_instantiated_as_it_is_now() -> None:
    catalog = EventCatalog()
    event_contract("room.booked", catalog=catalog)(Room)
    contract = catalog.get("room.booked")
    assert contract is not None
    data = {"number": 1}
    contract.validate(data)
    data["number"] = 2  # a plain dict, not an event's frozen data: nothing is kept for it
    assert contract.instantiate(data) == Room(2)


def test_text_that_is_not_unicode_is_refused_as_invalid_data() -> None:
    bus = _bus_with(Room, "room.booked")
    delivered: list[Any] = []
    bus.subscribe("room.booked", delivered.append, "rooms")
    with pytest.raises(EventValidationError) as raised:
        bus.publish("room.booked", {"number": 1, "label": "\ud800"}, "rooms")
    assert str(raised.value) == (
        "Event data is not JSON text: data['label'] holds '\\ud800' at position 0, a lone "
        "surrogate, which is not Unicode (JSON and UTF-8 cannot carry it). Decode the text it "
        "came from strictly, or replace the character."
    )
    assert delivered == []


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (
            {"notes": [{"text": "caf\u00e9 \udc80"}]},
            "data['notes'][0]['text'] holds '\\udc80' at position 5",
        ),
        (
            {"caf\u00e9\ud83d": 1},
            "the key 'caf\u00e9\\ud83d' of data holds '\\ud83d' at position 4",
        ),
    ],
    ids=["nested", "a key"],
)
def test_a_lone_surrogate_anywhere_is_named_by_its_path(data: dict[str, Any], where: str) -> None:
    bus = EventBus(catalog=EventCatalog())
    with pytest.raises(EventValidationError) as raised:
        bus.publish("note.added", data, "notes")
    assert str(raised.value).startswith(f"Event data is not JSON text: {where}, a lone surrogate")
    # Text that is Unicode, accents and emoji included, is kept as it is.
    event = bus.publish("note.added", {"text": "caf\u00e9 \U0001f600", "n\u00e9": 1}, "notes")
    assert event.data == {"text": "caf\u00e9 \U0001f600", "n\u00e9": 1}
