"""Event contracts written as pydantic models, as FastAPI shops write them (issue 18)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from aura.bus import EventBus
from aura.events import EventCatalog, contract_fields, event_contract
from aura.exceptions import EventValidationError
from aura.testing.factories import sample_data

catalog = EventCatalog()


class Address(BaseModel):
    city: str


@event_contract("patient.moved", catalog=catalog)
class PatientMoved(BaseModel):
    """A patient moved house."""

    patient_id: int
    moved_at: datetime
    address: Address
    note: str = ""
    tags: list[str] = Field(default_factory=list)


@event_contract("patient.tagged", catalog=catalog)
class PatientTagged(BaseModel):
    model_config = ConfigDict(extra="allow")

    patient_id: int


DATA = {"patient_id": 7, "moved_at": "2030-01-07T10:00:00+00:00", "address": {"city": "Gent"}}


def bus_with(received: list[Any]) -> EventBus:
    bus = EventBus(catalog=catalog)
    bus.subscribe("patient.moved", received.append, "billing")
    return bus


def test_data_matching_a_model_contract_is_published() -> None:
    received: list[Any] = []
    bus_with(received).publish("patient.moved", DATA, "users")
    assert received == [DATA]


def test_a_model_contract_refuses_wrong_types_naming_the_field() -> None:
    bus = bus_with([])
    with pytest.raises(EventValidationError) as caught:
        bus.publish("patient.moved", {**DATA, "patient_id": "seven"}, "users")
    assert str(caught.value) == (
        "Invalid data for event 'patient.moved' (contract PatientMoved, version 1):\n"
        "  - field 'patient_id': expected a valid integer, got 'seven' (str)\n"
        "Fix the data to match PatientMoved."
    )


def test_a_model_contract_refuses_unknown_fields_unless_the_model_allows_them() -> None:
    bus = bus_with([])
    with pytest.raises(EventValidationError) as caught:
        bus.publish("patient.moved", {**DATA, "shoe_size": 44}, "users")
    assert str(caught.value).splitlines()[1] == (
        "  - field 'shoe_size': not part of the contract (expected fields: patient_id, "
        "moved_at, address, note, tags)"
    )
    received: list[Any] = []
    bus.subscribe("patient.tagged", received.append, "billing")
    bus.publish("patient.tagged", {"patient_id": 1, "colour": "red"}, "users")
    assert received == [{"patient_id": 1, "colour": "red"}]


def test_a_handler_typed_with_the_model_gets_an_instance_of_the_model_itself() -> None:
    received: list[PatientMoved] = []

    def on_moved(event: PatientMoved) -> None:
        received.append(event)

    bus = EventBus(catalog=catalog)
    bus.subscribe("patient.moved", on_moved, "billing")
    bus.publish("patient.moved", DATA, "users")
    assert type(received[0]) is PatientMoved
    assert received[0].address.city == "Gent"
    assert received[0].tags == []


def test_a_model_instance_publishes_as_its_json() -> None:
    received: list[Any] = []
    bus = bus_with(received)
    moved = PatientMoved(
        patient_id=7,
        moved_at=datetime.fromisoformat(DATA["moved_at"]),
        address=Address(city="Gent"),
    )
    bus.publish(moved, source_module="users")
    # pydantic's JSON form of the instance, frozen as all event data is (lists as tuples)
    assert received == [{**DATA, "moved_at": "2030-01-07T10:00:00Z", "note": "", "tags": ()}]


def test_the_fields_of_a_model_contract_are_described_as_a_dataclasss_are() -> None:
    fields = {field.name: field for field in contract_fields(PatientMoved)}
    assert list(fields) == ["patient_id", "moved_at", "address", "note", "tags"]
    assert [name for name, field in fields.items() if field.required] == [
        "patient_id",
        "moved_at",
        "address",
    ]
    assert fields["note"].default == ""
    assert fields["tags"].default_factory is list


def test_sample_data_fills_a_model_contract() -> None:
    contract = catalog.get("patient.moved")
    assert contract is not None
    data = sample_data(contract, 3)
    assert data == {
        "patient_id": 3,
        "moved_at": "2030-01-07T10:00:00+00:00",
        "address": {"city": "city-3"},
    }
    contract.validate(data)


def test_a_model_instance_inside_dict_data_says_how_to_send_it() -> None:
    with pytest.raises(EventValidationError) as caught:
        EventBus().publish("patient.noted", {"address": Address(city="Gent")}, "users")
    assert str(caught.value).endswith(
        "(publish the contract instance itself, or model_dump(mode='json') it)."
    )
