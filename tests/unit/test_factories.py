"""EventFactory builds valid envelopes from the registered contracts."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

import contracts  # noqa: F401  # registers the platform's event contracts
from aura.events import Event, EventCatalog, event_contract
from aura.exceptions import EventValidationError
from aura.testing.factories import EventFactory, sample_data


def test_an_event_is_built_from_its_contract() -> None:
    event = EventFactory(event_type="therapy_session.scheduled", data__patient_id=7)
    assert isinstance(event, Event)
    assert event.data["patient_id"] == 7
    assert set(event.data) == {
        "session_id",
        "patient_id",
        "therapist_id",
        "scheduled_at",
        "duration_minutes",  # required by version 2, the current one
    }
    assert event.source_module == "mentalhealth"


def test_metadata_parameters_fill_the_envelope() -> None:
    event = EventFactory(
        event_type="user.registered", source_module="users", correlation_id="c-1", user_id=3
    )
    assert (event.correlation_id, event.user_id, event.causation_id) == ("c-1", 3, None)


def test_an_override_that_breaks_the_contract_is_refused() -> None:
    with pytest.raises(EventValidationError, match=re.escape("field 'patient_id'")):
        EventFactory(event_type="therapy_session.scheduled", data__patient_id="seven")


def test_an_event_without_a_contract_takes_free_data() -> None:
    event = EventFactory(event_type="audit.noted", data__note="x")
    assert dict(event.data) == {"note": "x"}


@dataclass
class Place:
    city: str
    floor: int = 0


@dataclass
class Moved:
    place: Place
    tags: list[str]
    ratio: float
    open: bool
    note: str | None
    extra: dict[str, int]
    later: int = 5


def test_sample_data_fills_nested_optional_and_list_fields() -> None:
    catalog = EventCatalog()
    event_contract("clinic.moved", catalog=catalog)(Moved)
    contract = catalog.get("clinic.moved")
    assert contract is not None
    data = sample_data(contract, 3)
    assert data == {
        "place": {"city": "city-3"},
        "tags": ["tags-3"],
        "ratio": 3.0,
        "open": True,
        "note": "note-3",
        "extra": {},
    }
    contract.validate(data)
