"""Event contracts that evolve: versions recorded on the envelope, upcasters on every read path.

A contract's new version declares how its older versions are read (``upcasters={1: fn}``);
events keep the version they were written with, and handlers, replays and the stores' reads get
the current version. Stored rows name a contract by event type and version only, so a stored
event survives a restart with its contract class renamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import contracts.events as reference
from aura import Event, EventCatalog, Module, Platform, event_contract
from aura.bus import EventBus
from aura.database import Database
from aura.events import VERSION_KEY, contract_fields, default_catalog, thaw_json
from aura.exceptions import (
    EventContractError,
    EventValidationError,
    EventVersionError,
    HandlerSignatureError,
)
from aura.store import InMemoryEventStore, SqliteEventStore

TYPE = "visit.booked"


def to_v2(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "minutes": 50}


def to_v3(data: dict[str, Any]) -> dict[str, Any]:
    patient = data.pop("patient")
    return {**data, "patient_id": patient}


def three_versions() -> tuple[EventCatalog, type[Any], type[Any], type[Any]]:
    catalog = EventCatalog()

    @event_contract(TYPE, catalog=catalog)
    @dataclass(frozen=True)
    class V1:
        patient: int

    @event_contract(TYPE, version=2, upcasters={1: to_v2}, catalog=catalog)
    @dataclass(frozen=True)
    class V2:
        patient: int
        minutes: int

    @event_contract(TYPE, version=3, upcasters={2: to_v3}, catalog=catalog)
    @dataclass(frozen=True)
    class V3:
        patient_id: int
        minutes: int

    return catalog, V1, V2, V3


def written(version: int, data: dict[str, Any]) -> Event:
    metadata = {VERSION_KEY: version} if version != 1 else {}
    return Event.create(TYPE, data, "visits", metadata=metadata)


# --- the envelope records its version -----------------------------------------------------------


def test_a_publish_records_the_version_its_data_was_validated_against() -> None:
    catalog, V1, _, V3 = three_versions()
    bus = EventBus(catalog=catalog)
    current = bus.publish(TYPE, {"patient_id": 7, "minutes": 30}, "visits")
    assert (current.version, current.metadata[VERSION_KEY]) == (3, 3)
    # a publisher not migrated yet: its data is version 1's, recorded as version 1
    old = bus.publish(TYPE, {"patient": 7}, "visits")
    assert old.version == 1
    assert VERSION_KEY not in old.metadata  # version 1 is left unsaid
    assert (
        bus.publish(V1(patient=8), source_module="visits").version == 1
    )  # an instance: its own class's version
    assert bus.publish(V3(patient_id=8, minutes=1), source_module="visits").version == 3
    # the caller cannot claim another version
    claimed = bus.publish(
        TYPE, {"patient_id": 7, "minutes": 30}, "visits", metadata={VERSION_KEY: 1}
    )
    assert claimed.version == 3


def test_data_of_no_version_is_refused_with_the_latest_version_s_error() -> None:
    catalog, *_ = three_versions()
    bus = EventBus(catalog=catalog)
    with pytest.raises(EventValidationError) as refused:
        bus.publish(TYPE, {"patient_id": "seven"}, "visits")
    assert str(refused.value).splitlines()[0] == (
        f"Invalid data for event {TYPE!r} (contract three_versions.<locals>.V3, version 3):"
    )


# --- handlers get the current version -----------------------------------------------------------


def test_every_kind_of_handler_gets_an_old_event_as_the_current_version() -> None:
    catalog, _, _, V3 = three_versions()
    bus = EventBus(catalog=catalog)
    seen: list[object] = []
    bus.subscribe(TYPE, seen.append, "billing", name="data")

    def as_contract(event: V3) -> None:  # type: ignore[valid-type]
        seen.append(event)

    def as_envelope(event: Event) -> None:
        seen.append((event.version, dict(event.data), event.metadata.get(VERSION_KEY)))

    as_contract.__annotations__["event"] = V3
    bus.subscribe(TYPE, as_contract, "billing", name="contract")
    bus.subscribe(TYPE, as_envelope, "billing", name="event")
    published = bus.publish(TYPE, {"patient": 7}, "visits")
    assert published.version == 1  # the envelope as written
    assert seen == [
        {"patient_id": 7, "minutes": 50},
        V3(patient_id=7, minutes=50),
        (3, {"patient_id": 7, "minutes": 50}, 3),
    ]


def test_a_replay_and_the_stores_reads_give_the_current_version() -> None:
    catalog, *_ = three_versions()
    bus = EventBus(catalog=catalog)
    store = InMemoryEventStore(bus=bus)
    store.append(written(1, {"patient": 1}))
    store.append(written(2, {"patient": 2, "minutes": 20}))
    store.append(written(3, {"patient_id": 3, "minutes": 30}))
    assert [dict(event.data) for event in store.read()] == [
        {"patient_id": 1, "minutes": 50},
        {"patient_id": 2, "minutes": 20},
        {"patient_id": 3, "minutes": 30},
    ]
    assert [event.version for event in store.stream()] == [3, 3, 3]
    assert [event.version for event in store.read(as_written=True)] == [1, 2, 3]
    replayed: list[dict[str, Any]] = []
    assert store.replay(lambda event: replayed.append(dict(event.data))) == 3
    assert replayed[0] == {"patient_id": 1, "minutes": 50}


# --- what cannot be read ------------------------------------------------------------------------


def test_a_missing_upcaster_is_a_typed_error_naming_the_versions_and_the_fix() -> None:
    catalog = EventCatalog()
    event_contract(TYPE, catalog=catalog)(
        dataclass(type("V1", (), {"__annotations__": {"patient": int}}))
    )

    @event_contract(TYPE, version=2, catalog=catalog)  # no upcasters
    @dataclass
    class V2:
        patient_id: int

    event = written(1, {"patient": 1})
    with pytest.raises(EventVersionError) as refused:
        catalog.current(event)
    assert str(refused.value) == (
        f"Event {TYPE!r} {event.event_id} was written as version 1, and its contract is at "
        "version 2: no upcaster reads version 1 as version 2. Declare one on the contract: "
        f"@event_contract({TYPE!r}, version=2, upcasters={{1: upcast}}) with "
        "def upcast(data: dict) -> dict returning version 2's data."
    )
    assert isinstance(refused.value, EventValidationError)


def test_an_event_newer_than_this_process_is_refused() -> None:
    catalog, *_ = three_versions()
    event = written(4, {"patient_id": 1, "minutes": 1, "room": "b"})
    with pytest.raises(EventVersionError) as refused:
        catalog.current(event)
    assert str(refused.value) == (
        f"Event {TYPE!r} {event.event_id} was written as version 4, newer than any contract "
        "this process knows (the latest is version 3, "
        "tests.unit.test_event_versions.three_versions.<locals>.V3): a newer release wrote it. "
        "Deploy that release's contracts here before this process reads the event."
    )


def test_an_upcaster_that_fails_or_returns_wrong_data_is_named() -> None:
    catalog = EventCatalog()

    def broken(data: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("minutes")

    def wrong(data: dict[str, Any]) -> Any:
        return [data]

    def short(data: dict[str, Any]) -> dict[str, Any]:
        return data  # forgets the new field

    for number, upcaster in enumerate((broken, wrong, short)):
        name = f"t{number}.booked"

        @event_contract(name, catalog=catalog)
        @dataclass
        class Old:
            patient: int

        @event_contract(name, version=2, upcasters={1: upcaster}, catalog=catalog)
        @dataclass
        class New:
            patient: int
            minutes: int

    messages = []
    for number in range(3):
        with pytest.raises(EventVersionError) as refused:
            catalog.upcast(f"t{number}.booked", {"patient": 1}, 1, "e-1")
        messages.append(str(refused.value).splitlines()[0])
    assert messages == [
        "Event 't0.booked' e-1: the upcaster test_an_upcaster_that_fails_or_returns_wrong_data_"
        "is_named.<locals>.broken (version 1 to 2) failed on its data: KeyError: 'minutes'. "
        "Fix the upcaster.",
        "Event 't1.booked' e-1: the upcaster test_an_upcaster_that_fails_or_returns_wrong_data_"
        "is_named.<locals>.wrong (version 1 to 2) returned list, not a dict of version 2's data.",
        "Event 't2.booked' e-1, written as version 1 and upcast by test_an_upcaster_that_fails_"
        "or_returns_wrong_data_is_named.<locals>.short, does not satisfy version 2:",
    ]


@pytest.mark.parametrize(
    ("upcasters", "message"),
    [
        (
            {2: to_v2},
            "upcasters of 'visit.booked' version 2 has the key 2: a key is the older "
            "version the function reads, an int from 1 to 1.",
        ),
        (
            {"1": to_v2},
            "upcasters of 'visit.booked' version 2 has the key '1': a key is the "
            "older version the function reads, an int from 1 to 1.",
        ),
        (
            {1: "to_v2"},
            "upcasters[1] of 'visit.booked' version 2 must be a function of version "
            "1's data returning version 2's, got str ('to_v2').",
        ),
        (
            [to_v2],
            "upcasters of 'visit.booked' version 2 must be a dict of older version -> "
            "function, got list. Write upcasters={1: upcast}.",
        ),
    ],
    ids=["key-not-older", "key-not-int", "not-callable", "not-a-dict"],
)
def test_malformed_upcasters_are_refused_at_registration(upcasters: Any, message: str) -> None:
    catalog = EventCatalog()
    with pytest.raises(EventContractError) as refused:

        @event_contract(TYPE, version=2, upcasters=upcasters, catalog=catalog)
        @dataclass
        class V2:
            patient: int

    assert str(refused.value) == message
    assert catalog.get(TYPE) is None  # nothing registered


def test_two_upcasters_for_one_step_are_refused() -> None:
    catalog, *_ = three_versions()
    with pytest.raises(EventContractError) as refused:

        @event_contract(TYPE, version=4, upcasters={1: lambda data: data}, catalog=catalog)
        @dataclass
        class V4:
            patient_id: int

    assert str(refused.value) == (
        f"Event {TYPE!r}: version 4 and version 2 both declare an upcaster from version 1. "
        "Keep one of them."
    )
    assert catalog.get(TYPE).version == 3  # type: ignore[union-attr]


# --- stored events outlive a release ------------------------------------------------------------


def release(catalog: EventCatalog, *, second: bool, class_name: str) -> EventCatalog:
    """The contracts of one release: version 1 under ``class_name``; version 2 if ``second``."""
    old = dataclass(type(class_name, (), {"__annotations__": {"patient": int}}))
    catalog.register(old, TYPE, 1)
    if second:
        new = dataclass(type("Booked", (), {"__annotations__": {"patient": int, "minutes": int}}))
        catalog.register(new, TYPE, 2, upcasters={1: to_v2})
    return catalog


def platform_of(database: Path, catalog: EventCatalog, seen: list[Any], **options: Any) -> Platform:
    visits = Module("visits")
    visits.publishes(TYPE)
    billing = Module("billing")

    @billing.subscribe(TYPE, name="invoice")
    def invoice(data: dict[str, Any]) -> None:
        if data.get("patient") == 66:
            raise RuntimeError("cannot invoice 66")
        seen.append(dict(data))

    return Platform(
        [visits, billing],
        database=database,
        durable=True,
        poll_interval=None,
        catalog=catalog,
        **options,
    )


def test_a_stored_v1_event_is_delivered_as_v2_after_a_restart_and_a_class_rename(
    tmp_path: Path,
) -> None:
    database = tmp_path / "aura.db"
    seen: list[Any] = []
    # release 1: web processes only record (workers=0); the process stops before delivery
    with platform_of(
        database, release(EventCatalog(), second=False, class_name="VisitBooked"), seen, workers=0
    ) as first:
        first.start()
        with first.transaction():
            first.bus.publish(TYPE, {"patient": 7}, "visits")
    assert seen == []
    # release 2: the v1 class is renamed, version 2 has an upcaster; the restart delivers
    renamed = release(EventCatalog(), second=True, class_name="LegacyVisitBooked")
    with platform_of(database, renamed, seen) as second:
        second.start()
    assert seen == [{"patient": 7, "minutes": 50}]
    with platform_of(database, release(EventCatalog(), second=True, class_name="X"), []) as third:
        [stored] = SqliteEventStore(third.database).read(as_written=True)
        assert (stored.version, dict(stored.data)) == (1, {"patient": 7})  # as it was written


def test_a_dead_letter_of_v1_is_retried_as_v2(tmp_path: Path) -> None:
    database = tmp_path / "aura.db"
    seen: list[Any] = []
    with platform_of(
        database, release(EventCatalog(), second=False, class_name="A"), seen
    ) as first:
        first.start()
        with first.transaction():
            first.bus.publish(TYPE, {"patient": 66}, "visits")
        [letter] = first.bus.dead_letters()
        assert letter.event.version == 1

    def fixed(data: dict[str, Any]) -> dict[str, Any]:
        return {"patient": 67, "minutes": 50}  # the fix shipped with version 2

    catalog = EventCatalog()
    catalog.register(dataclass(type("A", (), {"__annotations__": {"patient": int}})), TYPE, 1)
    catalog.register(
        dataclass(type("B", (), {"__annotations__": {"patient": int, "minutes": int}})),
        TYPE,
        2,
        upcasters={1: fixed},
    )
    with platform_of(database, catalog, seen) as second:
        second.start()
        report = second.bus.retry_dead_letters()
        assert len(report.succeeded) == 1
    assert seen == [{"patient": 67, "minutes": 50}]


# --- the reference platform's contracts, version 1 -> current, property-based ----------------


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_INTS = st.integers(-(2**53), 2**53)
_MOMENTS = st.datetimes(timezones=st.just(UTC))
REFERENCE_TYPES = sorted(
    {
        getattr(reference, name).__aura_event_type__
        for name in reference.__all__
        if hasattr(getattr(reference, name), "__aura_event_type__")
    }
)


def _strategy(annotation: Any) -> st.SearchStrategy[Any]:
    text = str(annotation)
    if "Timestamp" in text or "datetime" in text:
        return _MOMENTS
    if "list[str]" in text:
        return st.lists(_TEXT, max_size=3)
    strategy: st.SearchStrategy[Any] = _INTS if text.startswith("int") else _TEXT
    return st.one_of(st.none(), strategy) if "None" in text else strategy


def _v1_data(event_type: str) -> st.SearchStrategy[dict[str, Any]]:
    v1 = default_catalog.get(event_type, 1)
    assert v1 is not None
    fields = {f.name: _strategy(f.annotation) for f in contract_fields(v1.contract_class)}
    return st.builds(v1.contract_class, **fields).map(v1.dump)


def test_the_reference_platform_has_a_contract_at_version_2() -> None:
    assert default_catalog.get("therapy_session.scheduled").version == 2  # type: ignore[union-attr]
    assert len(REFERENCE_TYPES) == 12


@pytest.mark.parametrize("event_type", REFERENCE_TYPES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_stored_version_1_events_of_the_reference_contracts_read_as_the_current_version(
    event_type: str, data: st.DataObject
) -> None:
    written_data = data.draw(_v1_data(event_type))
    event = Event.create(event_type, written_data, "mentalhealth")
    assert event.version == 1
    store = SqliteEventStore(Database(":memory:"))
    store.append(event)
    [current] = store.read()
    latest = default_catalog.get(event_type)
    assert latest is not None
    expected = dict(written_data)
    if event_type == "therapy_session.scheduled":
        kind = written_data.get("session_type", "individual")
        expected["duration_minutes"] = reference.SESSION_MINUTES.get(kind, 50)
    assert thaw_json(current.data) == expected
    assert current.version == latest.version
    assert current.event_id == event.event_id
    latest.instantiate(current.data)  # the current contract accepts what the upcast gave
    [stored] = store.read(as_written=True)
    assert thaw_json(stored.data) == written_data  # the row itself is as it was written


# --- what the review found: unreadable events fail per subscriber, and are refused early ------


def test_a_stored_event_no_upcaster_reads_becomes_a_dead_letter_and_the_rest_goes_on(
    tmp_path: Path,
) -> None:
    database = tmp_path / "aura.db"
    seen: list[Any] = []
    with platform_of(
        database, release(EventCatalog(), second=False, class_name="A"), seen, workers=0
    ) as first:
        first.start()
        for patient in (1, 2):
            with first.transaction():
                first.bus.publish(TYPE, {"patient": patient}, "visits")
    catalog = EventCatalog()
    catalog.register(dataclass(type("A", (), {"__annotations__": {"patient": int}})), TYPE, 1)
    catalog.register(  # version 2 without an upcaster from 1
        dataclass(type("B", (), {"__annotations__": {"patient": int, "minutes": int}})), TYPE, 2
    )
    with platform_of(database, catalog, seen) as second:
        second.start()  # the pass goes through both: neither raises out of start()
        letters = second.bus.dead_letters()
    assert seen == []
    assert [(letter.error_type, letter.subscriber_module) for letter in letters] == [
        ("EventVersionError", "billing"),
        ("EventVersionError", "billing"),
    ]
    assert "no upcaster reads version 1 as version 2" in letters[0].error_message


def test_an_older_instance_no_upcaster_reads_is_refused_before_anything_is_recorded() -> None:
    catalog = EventCatalog()

    @event_contract(TYPE, catalog=catalog)
    @dataclass(frozen=True)
    class V1:
        patient: int

    @event_contract(TYPE, version=2, catalog=catalog)
    @dataclass(frozen=True)
    class V2:
        patient: int
        minutes: int

    bus = EventBus(catalog=catalog)
    seen: list[Any] = []
    bus.subscribe(TYPE, seen.append, "billing", name="invoice")
    with pytest.raises(EventVersionError, match="no upcaster reads version 1 as version 2"):
        bus.publish(V1(1), source_module="visits")
    assert seen == []
    assert bus.dead_letters() == []


def test_events_built_outside_a_bus_record_the_version_their_data_is() -> None:
    from aura.testing.factories import EventFactory

    data = {
        "session_id": 1,
        "patient_id": 2,
        "therapist_id": 3,
        "scheduled_at": "2030-01-07T10:00:00+00:00",
        "duration_minutes": 45,
        "session_type": "group",
    }
    built = EventFactory(event_type="therapy_session.scheduled", data=data)
    assert built.version == 2
    store = InMemoryEventStore()
    stored = store.store_event("therapy_session.scheduled", data, "mentalhealth")
    assert stored.version == 2
    # read as written, not upcast again: the group session keeps its 45 minutes
    assert store.read()[0].data["duration_minutes"] == 45
    assert store.get(stored.event_id).data["duration_minutes"] == 45  # type: ignore[union-attr]


@pytest.mark.parametrize("given", ["2", None, 2.0, 0, -1, True])
def test_a_recorded_version_must_be_a_whole_number_of_at_least_1(given: object) -> None:
    with pytest.raises(EventValidationError) as refused:
        Event.create(TYPE, {"patient": 1}, "visits", metadata={VERSION_KEY: given})
    assert str(refused.value) == (
        "Event metadata 'event_version' must be a whole number of at least 1 (the contract "
        f"version the data was written with), got {type(given).__name__} ({given!r}). Leave it "
        "out: publishing sets it."
    )


def test_a_handler_annotated_with_an_older_version_is_refused_at_subscription() -> None:
    catalog, V1, _, V3 = three_versions()
    bus = EventBus(catalog=catalog)

    def old(event: Any) -> None:
        pass

    old.__annotations__["event"] = V1
    with pytest.raises(HandlerSignatureError) as refused:
        bus.subscribe(TYPE, old, "billing", name="old")
    assert str(refused.value) == (
        f"Handler {__name__}.test_a_handler_annotated_with_an_older_version_is_refused_at_"
        f"subscription.<locals>.old for {TYPE!r} is annotated with {V1.__qualname__}, version 1 "
        f"of the contract, and handlers get every event as the current version, 3 "
        f"({V3.__qualname__}). Annotate it with {V3.__qualname__}, or as dict."
    )


def test_the_store_gets_one_event_as_the_current_version_unless_as_written() -> None:
    catalog, *_ = three_versions()
    store = InMemoryEventStore(bus=EventBus(catalog=catalog))
    event = written(1, {"patient": 5})
    store.append(event)
    assert dict(store.get(event.event_id).data) == {"patient_id": 5, "minutes": 50}  # type: ignore[union-attr]
    assert store.get(event.event_id, as_written=True) is event
