"""The event envelope, JSON freezing, event contracts and the catalog."""

from __future__ import annotations

import copy
import json
import pickle
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aura.events import (
    MAX_NESTING,
    Event,
    EventCatalog,
    event_contract,
    freeze_json,
    thaw_json,
)
from aura.exceptions import EventContractError, EventValidationError, InvalidEventTypeError
from aura.testing import FrozenClock

CID = "0b7c7a4e-5f4a-4c32-9a55-6a9f4cbb8f01"


def make_event(**overrides: Any) -> Event:
    arguments: dict[str, Any] = {
        "event_type": "therapy_session.scheduled",
        "data": {"session_id": 1, "patient_id": 7},
        "source_module": "mentalhealth",
        "metadata": {"correlation_id": CID},
    }
    arguments.update(overrides)
    return Event.create(**arguments)


# --- the envelope --------------------------------------------------------------------------------


def test_envelope_has_a_uuid_id_and_a_utc_timestamp(frozen_time: FrozenClock) -> None:
    frozen_time.move_to("2030-01-07 10:00:00")
    event = make_event()
    assert str(uuid.UUID(event.event_id)) == event.event_id
    assert event.timestamp == datetime(2030, 1, 7, 10, 0, tzinfo=UTC)


def test_envelope_is_immutable() -> None:
    event = make_event()
    with pytest.raises(AttributeError):
        event.event_type = "user.registered"  # type: ignore[misc]


def test_envelope_data_is_read_only_but_still_a_dict() -> None:
    event = make_event(data={"tags": ["a"], "nested": {"x": 1}})
    assert isinstance(event.data, dict)
    with pytest.raises(TypeError, match=re.escape("Event data is read-only")):
        event.data["tags"] = []
    with pytest.raises(TypeError):
        event.data["nested"]["x"] = 2
    assert event.data["tags"] == ("a",)
    assert json.loads(json.dumps(event.data)) == {"tags": ["a"], "nested": {"x": 1}}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("a"),
        lambda d: d.popitem(),
        lambda d: d.clear(),
        lambda d: d.setdefault("b", 1),
        lambda d: d.update(b=1),
        lambda d: d.__delitem__("a"),
        lambda d: d.__ior__({"b": 1}),
    ],
)
def test_every_mutator_of_frozen_data_refuses(mutate: Any) -> None:
    frozen = freeze_json({"a": 1})
    with pytest.raises(TypeError):
        mutate(frozen)
    assert frozen == {"a": 1}


def test_frozen_data_is_hashable_copyable_and_picklable() -> None:
    frozen = freeze_json({"b": 2, "a": [1, 2]})
    assert hash(frozen) == hash(freeze_json({"a": [1, 2], "b": 2}))
    assert copy.copy(frozen) is frozen
    assert copy.deepcopy(frozen) is frozen
    assert pickle.loads(pickle.dumps(frozen)) == frozen


def test_metadata_always_has_the_standard_keys() -> None:
    event = make_event(metadata={"correlation_id": CID, "tenant": "eu"})
    assert dict(event.metadata) == {
        "correlation_id": CID,
        "causation_id": None,
        "user_id": None,
        "tenant": "eu",
    }
    assert (event.correlation_id, event.causation_id, event.user_id) == (CID, None, None)


def test_to_dict_is_the_seed_event_format(frozen_time: FrozenClock) -> None:
    frozen_time.move_to("2030-01-07 10:00:00.123456")
    event = make_event(data={"session_id": 1, "tags": ["x"]})
    assert event.to_dict() == {
        "event_id": event.event_id,
        "timestamp": "2030-01-07T10:00:00.123456+00:00",
        "source_module": "mentalhealth",
        "event_type": "therapy_session.scheduled",
        "data": {"session_id": 1, "tags": ["x"]},
        "metadata": {"correlation_id": CID, "causation_id": None, "user_id": None},
    }


def test_from_dict_inverts_to_dict() -> None:
    event = make_event(metadata={"correlation_id": CID, "user_id": 7, "causation_id": CID})
    assert Event.from_dict(event.to_dict()) == event


def test_from_dict_converts_a_non_utc_offset_to_utc() -> None:
    raw = make_event().to_dict()
    raw["timestamp"] = "2030-01-07T12:00:00+02:00"
    rebuilt = Event.from_dict(raw)
    assert rebuilt.timestamp == datetime(2030, 1, 7, 10, 0, tzinfo=UTC)
    assert rebuilt.timestamp.tzinfo is UTC


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    data=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    user_id=st.none() | st.integers() | st.text(max_size=10),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
    moment=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 1, 1)),
)
def test_json_round_trip_is_lossless(
    data: dict[str, Any], user_id: Any, offset_minutes: int, moment: datetime
) -> None:
    stamp = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes))).astimezone(UTC)
    event = Event.create(
        "user.registered",
        data,
        "users",
        metadata={"user_id": user_id, "correlation_id": CID},
        timestamp=stamp,
    )
    rebuilt = Event.from_json(event.to_json())
    assert rebuilt == event
    assert rebuilt.to_dict() == event.to_dict()
    assert thaw_json(rebuilt.data) == data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda raw: raw.pop("data"),
            "Malformed event: missing 'data'. An event has exactly the keys event_id, "
            "timestamp, source_module, event_type, data, metadata.",
        ),
        (
            lambda raw: raw.update(extra=1, more=2),
            "Malformed event: unknown 'extra', 'more'. An event has exactly the keys event_id, "
            "timestamp, source_module, event_type, data, metadata.",
        ),
        (
            lambda raw: raw.update(event_id="42"),
            "Malformed event: 'event_id' must be a UUID string, got '42'.",
        ),
        (
            lambda raw: raw.update(timestamp="2030-01-07T10:00:00"),
            "Malformed event: 'timestamp' must be an ISO-8601 string with a UTC offset such as "
            "'2026-01-31T09:30:00+00:00', got '2030-01-07T10:00:00'.",
        ),
        (
            lambda raw: raw.update(timestamp="yesterday"),
            "Malformed event: 'timestamp' must be an ISO-8601 string with a UTC offset such as "
            "'2026-01-31T09:30:00+00:00', got 'yesterday'.",
        ),
        (
            lambda raw: raw.update(data=[1]),
            "Malformed event: 'data' must be a dict, got list.",
        ),
        (
            lambda raw: raw.update(metadata="x"),
            "Malformed event: 'metadata' must be a dict, got str.",
        ),
        (
            lambda raw: raw.update(event_type="Session Scheduled"),
            "Invalid event type 'Session Scheduled': expected dotted lowercase words such as "
            "'therapy_session.scheduled' (letters, digits and underscores, each word starting "
            "with a letter, at least two words). Rename the event type.",
        ),
        (
            lambda raw: raw.update(source_module="Mental Health"),
            "Invalid source module name 'Mental Health': expected a lowercase identifier such "
            "as 'notifications' or 'mental_health'. Use the module's package name.",
        ),
        (
            lambda raw: raw["metadata"].update(correlation_id=5),
            "Event metadata 'correlation_id' must be a string or None, got int (5).",
        ),
        (
            lambda raw: raw["metadata"].update(user_id=1.5),
            "Event metadata 'user_id' must be a string, an int or None, got float (1.5).",
        ),
    ],
)
def test_from_dict_refuses_a_malformed_event_naming_the_key(change: Any, message: str) -> None:
    raw = make_event().to_dict()
    change(raw)
    with pytest.raises(EventValidationError) as caught:
        Event.from_dict(raw)
    assert str(caught.value) == message


def test_from_dict_refuses_a_non_mapping() -> None:
    with pytest.raises(EventValidationError) as caught:
        Event.from_dict([])  # type: ignore[arg-type]
    assert str(caught.value) == (
        "An event must be a dict in the seed's format, got list. Pass the output of "
        "Event.to_dict()."
    )


def test_from_json_refuses_invalid_json() -> None:
    with pytest.raises(EventValidationError) as caught:
        Event.from_json("{nope")
    assert str(caught.value).startswith("Malformed event: not valid JSON (")


def test_create_refuses_data_that_is_not_a_dict() -> None:
    with pytest.raises(EventValidationError) as caught:
        make_event(data=[1, 2])
    assert str(caught.value) == (
        "Event data for 'therapy_session.scheduled' must be a dict, got list ([1, 2]). "
        "Wrap the value in a dict such as {'value': ...}."
    )


def test_create_refuses_metadata_that_is_not_a_dict() -> None:
    with pytest.raises(EventValidationError) as caught:
        make_event(metadata=["x"])
    assert str(caught.value) == (
        "Event metadata must be a dict, got list. Pass metadata={'user_id': ...}."
    )


# --- JSON-only data ------------------------------------------------------------------------------


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque>"


@dataclass
class Point:
    x: int


def _cyclic() -> dict[str, Any]:
    inner: dict[str, Any] = {}
    inner["self"] = inner
    return {"a": [inner]}


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"when": datetime(2030, 1, 1)},
            "Event data is not JSON: data['when'] is a datetime (datetime.datetime(2030, 1, 1, "
            "0, 0)). Send only str, int, float, bool, None, lists and dicts (for a datetime, "
            "send value.isoformat()).",
        ),
        (
            {"items": [1, {"obj": Opaque()}]},
            "Event data is not JSON: data['items'][1]['obj'] is a Opaque (<Opaque>). Send only "
            "str, int, float, bool, None, lists and dicts.",
        ),
        (
            {"p": Point(1)},
            "Event data is not JSON: data['p'] is a Point (Point(x=1)). Send only str, int, "
            "float, bool, None, lists and dicts (publish the contract instance itself, or "
            "dataclasses.asdict() it).",
        ),
        (
            {"ratio": float("nan")},
            "Event data is not JSON: data['ratio'] is nan, which JSON cannot represent. Use "
            "null or a finite number.",
        ),
        (
            {"n": {1: "one"}},
            "Event data is not JSON: data['n'] has the key 1 of type int; JSON object keys must "
            "be strings. Convert the key with str().",
        ),
        (
            _cyclic(),
            "Event data is not JSON: data['a'][0]['self'] contains itself (a cycle). Send a "
            "tree of values, not a graph.",
        ),
        (
            {"s": {1, 2}},
            "Event data is not JSON: data['s'] is a set ({1, 2}). Send only str, int, float, "
            "bool, None, lists and dicts.",
        ),
    ],
)
def test_non_json_data_is_refused_with_the_path(data: dict[str, Any], message: str) -> None:
    with pytest.raises(EventValidationError) as caught:
        freeze_json(data)
    assert str(caught.value) == message


def test_nesting_up_to_the_limit_is_accepted_and_deeper_is_refused() -> None:
    assert thaw_json(freeze_json(_deep(MAX_NESTING - 1))) == _deep(MAX_NESTING - 1)
    with pytest.raises(EventValidationError) as caught:
        freeze_json(_deep(MAX_NESTING + 1))
    path = "data" + "['a']" * MAX_NESTING
    assert str(caught.value) == (
        f"Event data nests deeper than {MAX_NESTING} levels at {path}. Flatten the payload or "
        "send a reference to the data instead."
    )


def test_the_same_list_may_appear_twice_without_being_a_cycle() -> None:
    shared = [1, 2]
    assert thaw_json(freeze_json({"a": shared, "b": shared})) == {"a": [1, 2], "b": [1, 2]}


# --- contracts -----------------------------------------------------------------------------------


@dataclass
class Address:
    city: str


def make_catalog() -> EventCatalog:
    return EventCatalog()


def test_the_seed_dataclass_form_registers_as_a_contract() -> None:
    catalog = make_catalog()

    @event_contract("therapy_session.scheduled", version=1, catalog=catalog)
    @dataclass
    class TherapySessionScheduledEvent:
        session_id: int
        patient_id: int
        therapist_id: int
        scheduled_at: datetime
        session_type: str
        correlation_id: str | None = None

    contract = catalog.get("therapy_session.scheduled")
    assert contract is not None
    assert contract.contract_class is TherapySessionScheduledEvent
    assert contract.version == 1
    assert catalog.for_class(TherapySessionScheduledEvent) is contract
    assert "therapy_session.scheduled" in catalog
    assert catalog.types() == ["therapy_session.scheduled"]
    assert list(catalog) == [contract]
    assert repr(contract) == (
        "EventContract('therapy_session.scheduled', version=1, "
        "test_the_seed_dataclass_form_registers_as_a_contract.<locals>."
        "TherapySessionScheduledEvent)"
    )
    contract.validate(
        {
            "session_id": 1,
            "patient_id": 7,
            "therapist_id": 3,
            "scheduled_at": "2030-01-07T10:00:00+00:00",
            "session_type": "video",
        }
    )


@pytest.fixture
def visit_contract() -> Any:
    catalog = make_catalog()

    @event_contract("clinic.visited", catalog=catalog)
    @dataclass
    class Visited:
        patient_id: int
        at: datetime
        address: Address
        tags: list[str]
        note: str | None = None

    contract = catalog.get("clinic.visited")
    assert contract is not None
    return contract


VALID_VISIT: dict[str, Any] = {
    "patient_id": 7,
    "at": "2030-01-07T10:00:00+00:00",
    "address": {"city": "Lyon"},
    "tags": ["first"],
}


def test_valid_data_passes_including_iso_datetimes_and_nested_dataclasses(
    visit_contract: Any,
) -> None:
    visit_contract.validate(freeze_json(VALID_VISIT))
    instance = visit_contract.instantiate(freeze_json(VALID_VISIT))
    assert instance.at == datetime(2030, 1, 7, 10, 0, tzinfo=UTC)
    assert instance.address == Address("Lyon")
    assert visit_contract.dump(instance) == {
        **VALID_VISIT,
        "at": "2030-01-07T10:00:00Z",
        "note": None,
    }


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (lambda d: d.pop("patient_id"), "  - field 'patient_id': required, but missing"),
        (
            lambda d: d.update(colour="red"),
            "  - field 'colour': not part of the contract (expected fields: patient_id, at, "
            "address, tags, note)",
        ),
        (
            lambda d: d.update(patient_id="7"),
            "  - field 'patient_id': expected a valid integer, got '7' (str)",
        ),
        (
            lambda d: d.update(at="next tuesday"),
            "  - field 'at': expected a valid datetime, invalid character in year, got 'next "
            "tuesday' (str)",
        ),
        (
            lambda d: d.update(note=5),
            "  - field 'note': expected a valid string, got 5 (int)",
        ),
        (
            lambda d: d.update(address={"city": 1}),
            "  - field 'address.city': expected a valid string, got 1 (int)",
        ),
        (
            lambda d: d.update(tags=["ok", 2]),
            "  - field 'tags[1]': expected a valid string, got 2 (int)",
        ),
    ],
)
def test_invalid_data_names_event_field_expected_and_given(
    visit_contract: Any, change: Any, line: str
) -> None:
    data = copy.deepcopy(VALID_VISIT)
    change(data)
    with pytest.raises(EventValidationError) as caught:
        visit_contract.validate(freeze_json(data))
    header, *lines, footer = str(caught.value).splitlines()
    assert header.startswith("Invalid data for event 'clinic.visited' (contract ")
    assert header.endswith("Visited, version 1):")
    assert lines == [line]
    assert footer.startswith("Fix the data to match ")


def test_every_problem_is_listed_at_once(visit_contract: Any) -> None:
    with pytest.raises(EventValidationError) as caught:
        visit_contract.validate({"patient_id": "x"})
    assert len(str(caught.value).splitlines()) == 6  # header, 4 problems, footer


def test_a_second_class_for_the_same_type_and_version_is_refused() -> None:
    catalog = make_catalog()

    @event_contract("user.registered", catalog=catalog)
    @dataclass
    class UserRegistered:
        user_id: int

    with pytest.raises(EventContractError) as caught:

        @event_contract("user.registered", catalog=catalog)
        @dataclass
        class OtherUserRegistered:
            user_id: int

    assert str(caught.value) == (
        "Event 'user.registered' version 1 already has the contract "
        "tests.unit.test_events.test_a_second_class_for_the_same_type_and_version_is_refused."
        "<locals>.UserRegistered; cannot register tests.unit.test_events."
        "test_a_second_class_for_the_same_type_and_version_is_refused.<locals>."
        "OtherUserRegistered too. Give the new contract version 2."
    )
    registered = catalog.get("user.registered")
    assert registered is not None
    assert registered.contract_class is UserRegistered


def test_versions_coexist_and_the_latest_validates() -> None:
    catalog = make_catalog()

    @event_contract("user.registered", version=2, catalog=catalog)
    @dataclass
    class V2:
        user_id: int
        email: str

    @event_contract("user.registered", version=1, catalog=catalog)
    @dataclass
    class V1:
        user_id: int

    latest = catalog.get("user.registered")
    first = catalog.get("user.registered", version=1)
    assert latest is not None
    assert first is not None
    assert latest.contract_class is V2
    assert first.contract_class is V1


def test_a_contract_must_be_a_dataclass_or_a_pydantic_model() -> None:
    class NotADataclass:
        pass

    with pytest.raises(EventContractError) as caught:
        event_contract("user.registered", catalog=make_catalog())(NotADataclass)

    assert str(caught.value) == (
        "Event contract for 'user.registered' must be a dataclass or a pydantic model, got "
        f"{str(NotADataclass)[:57]}.... Put @event_contract(...) above @dataclass, or on a "
        "class deriving from pydantic.BaseModel."
    )


@pytest.mark.parametrize("version", [0, -1, "1", 1.0])
def test_a_contract_version_must_be_a_positive_int(version: Any) -> None:
    @dataclass
    class Registered:
        user_id: int

    with pytest.raises(EventContractError) as caught:
        make_catalog().register(Registered, "user.registered", version)
    assert str(caught.value) == (
        f"Event contract version for 'user.registered' must be an int of at least 1, "
        f"got {version!r}."
    )


def test_a_forward_reference_is_resolved_on_first_use() -> None:
    catalog = make_catalog()

    @event_contract("clinic.opened", catalog=catalog)
    @dataclass
    class Opened:
        place: LaterPlace  # noqa: F821  # defined below, on purpose

    contract = catalog.get("clinic.opened")
    assert contract is not None
    globals()["LaterPlace"] = Address
    try:
        contract.validate({"place": {"city": "Nice"}})
    finally:
        del globals()["LaterPlace"]


@pytest.mark.parametrize(
    "event_type",
    ["", "user", "User.Registered", "user registered", "user.*", "user..x", "1user.x", 7, None],
)
def test_event_types_must_be_dotted_lowercase_words(event_type: Any) -> None:
    with pytest.raises(InvalidEventTypeError) as caught:
        event_contract(event_type)
    assert str(caught.value) == (
        f"Invalid event type {event_type!r}: expected dotted lowercase words such as "
        "'therapy_session.scheduled' (letters, digits and underscores, each word starting "
        "with a letter, at least two words). Rename the event type."
    )


def test_a_very_long_event_type_is_refused_and_shown_shortened() -> None:
    with pytest.raises(InvalidEventTypeError) as caught:
        make_event(event_type="x" * 5_000 + ".y")
    assert str(caught.value) == (
        f"Invalid event type '{'x' * 56}...' (5002 characters): names are at most 200 "
        "characters. Shorten it."
    )


def test_text_beyond_the_size_limit_is_refused_with_its_path() -> None:
    assert freeze_json({"a": "x" * 10}, max_size=12) == {"a": "x" * 10}
    with pytest.raises(EventValidationError) as caught:
        freeze_json({"a": "x" * 10, "b": ["yy"]}, max_size=12)
    assert str(caught.value) == (
        "Event data holds more than 12 characters of text (the limit was passed at "
        "data['b'][0]). Send a reference to the content (an id or a URL) instead of the content "
        "itself, or raise the bus's max_event_size."
    )


@event_contract("payment.completed", catalog=EventCatalog())
@dataclass
class PaymentCompleted:
    payment_id: int
    amount: float
    currency: str
    paid_at: datetime


FIELD_TYPES = {"payment_id": int, "amount": float, "currency": str, "paid_at": datetime}
any_value = st.one_of(
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet="abcxyz -", max_size=5),  # never a number, which pydantic reads as a time
    st.booleans(),
    st.none(),
    st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat()),
)


def _fits(field: str, value: Any) -> bool:
    kind = FIELD_TYPES[field]
    if kind is int:
        return type(value) is int
    if kind is float:
        return type(value) in (int, float)
    if kind is datetime:
        if not isinstance(value, str):
            return False
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    return type(value) is str


@given(st.fixed_dictionaries({}, optional=dict.fromkeys(FIELD_TYPES, any_value)))
def test_validation_accepts_exactly_the_data_that_fits_the_contract(data: dict[str, Any]) -> None:
    contract = PaymentCompleted.__aura_event_type__  # type: ignore[attr-defined]
    assert contract == "payment.completed"
    catalog = EventCatalog()
    registered = catalog.register(PaymentCompleted, "payment.completed")
    fits = set(data) == set(FIELD_TYPES) and all(_fits(k, v) for k, v in data.items())
    if fits:
        registered.validate(freeze_json(data))
    else:
        with pytest.raises(EventValidationError) as caught:
            registered.validate(freeze_json(data))
        reported = {line.split("'")[1] for line in str(caught.value).splitlines()[1:-1]}
        wrong = {k for k, v in data.items() if not _fits(k, v)} | (set(FIELD_TYPES) - set(data))
        assert reported == wrong


def test_a_naive_timestamp_is_local_time_and_an_offset_becomes_utc() -> None:
    naive = datetime(2030, 1, 1, 9)
    assert make_event(timestamp=naive).timestamp == naive.astimezone(UTC)
    assert make_event(timestamp=naive).timestamp.tzinfo is UTC
    with pytest.raises(EventValidationError) as caught:
        make_event(timestamp="2030-01-01T09:00:00")  # type: ignore[arg-type]
    assert str(caught.value) == (
        "An event's timestamp must be a datetime, got str ('2030-01-01T09:00:00'). "
        "Pass e.g. datetime.now(UTC)."
    )
    shifted = make_event(timestamp=datetime(2030, 1, 1, 11, tzinfo=timezone(timedelta(hours=2))))
    assert shifted.timestamp == datetime(2030, 1, 1, 9, tzinfo=UTC)
    assert Event.from_dict(shifted.to_dict()) == shifted
