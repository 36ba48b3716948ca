"""The event envelope, event contracts and their catalog.

Its length (~630 lines) is the envelope and the contracts together: they share the JSON
freezing rules that make an event's data immutable and comparable.

An :class:`Event` is the immutable envelope of the seed's "Event Data Format". Its ``data`` is
checked to be JSON and frozen on the way in. An event contract is a dataclass registered with
:func:`event_contract`; publishing an event of that type validates ``data`` against it with a
pydantic ``TypeAdapter`` built once per contract.
"""

from __future__ import annotations

import contextlib
import dataclasses
import decimal
import enum
import json
import math
import sys
import threading
import types
import typing
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from types import FrameType
from typing import Any, NamedTuple, NoReturn, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic.errors import PydanticUndefinedAnnotation
from pydantic_core import (
    PydanticSerializationError,
    PydanticUndefined,
    SchemaSerializer,
    core_schema,
)

from aura.exceptions import (
    EventContractError,
    EventValidationError,
    EventVersionError,
    InvalidNameError,
)
from aura.frozen_time import make_frozen_time_validatable
from aura.ids import new_id
from aura.naming import check_event_type, check_module_name

__all__ = [
    "MAX_NESTING",
    "VERSION_KEY",
    "CatalogSnapshot",
    "ContractField",
    "Event",
    "EventCatalog",
    "EventContract",
    "FrozenDict",
    "Upcaster",
    "build_metadata",
    "contract_fields",
    "default_catalog",
    "event_contract",
    "freeze_json",
    "is_contract_class",
    "thaw_json",
]

MAX_NESTING = 32
"""How deep containers may nest in event data and metadata."""

VERSION_KEY = "event_version"
"""The metadata key holding the contract version an event was written with, when above 1: an
envelope without it was written as version 1 (every event before versions were recorded)."""

Upcaster = Callable[[dict[str, Any]], Mapping[str, Any]]
"""Reads one version's data as the next version's: ``upcasters={1: v1_to_v2}`` on a contract."""

_ENVELOPE_KEYS = ("event_id", "timestamp", "source_module", "event_type", "data", "metadata")
_STANDARD_METADATA = ("correlation_id", "causation_id", "user_id")

T = TypeVar("T")


class FrozenDict(dict[str, Any]):
    """A read-only ``dict``: event data that handlers can read, serialise, but not change.

    It stays a ``dict`` so that ``json.dumps`` and ``isinstance(data, dict)`` keep working in
    handlers written in the seed's style.
    """

    __slots__ = ()

    def _readonly(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError(
            "Event data is read-only: handlers share one envelope. Copy it first "
            "(dict(data)) to build a changed version."
        )

    __setitem__ = _readonly
    __delitem__ = _readonly
    __ior__ = _readonly
    clear = _readonly
    pop = _readonly
    popitem = _readonly
    setdefault = _readonly
    update = _readonly

    def __hash__(self) -> int:  # type: ignore[override]  # frozen, hence hashable
        return hash(tuple(sorted(self.items(), key=lambda item: item[0])))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> FrozenDict:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


def _path_text(path: tuple[str | int, ...], root: str) -> str:
    return root + "".join(f"[{part!r}]" for part in path)


def freeze_json(
    value: object,
    *,
    root: str = "data",
    what: str = "Event data",
    max_size: int | None = None,
) -> Any:
    """Check that ``value`` is JSON and return a frozen copy (``FrozenDict`` and tuples).

    Refuses, with the path of the offending value: non-JSON types, non-string keys, NaN and
    infinities, text that is not Unicode (a lone surrogate), cycles, nesting deeper than
    :data:`MAX_NESTING`, and (with ``max_size``) more than ``max_size`` characters of text in
    all.
    """
    if type(value) is dict:
        flat = _flat(value, max_size)
        if flat is not None:
            return flat
    return _Freezer(root, what, max_size).freeze(value, ())


_SCALARS = frozenset({str, int, bool, type(None)})


def _flat(value: dict[Any, Any], max_size: int | None) -> FrozenDict | None:
    """The common case in one pass: a dict of string keys and plain scalar values.

    Anything else (nesting, floats that may be NaN, a size over the limit) returns ``None`` and
    takes the full walk, which also names the offending path.
    """
    size = 0
    for key, item in value.items():
        kind = type(item)
        if type(key) is not str or kind not in _SCALARS:
            return None
        if not key.isascii() and _not_unicode(key) is not None:
            return None
        if kind is str:
            if not item.isascii() and _not_unicode(item) is not None:
                return None
            size += len(item)
        size += len(key)
    if max_size is not None and size > max_size:
        return None
    return FrozenDict(value)


class _Freezer:
    """One walk over a value: the containers on the current path, and the text budget left."""

    __slots__ = ("budget", "limit", "root", "seen", "what")

    def __init__(self, root: str, what: str, max_size: int | None) -> None:
        self.root = root
        self.what = what
        self.limit = max_size
        self.budget = max_size if max_size is not None else -1
        self.seen: set[int] = set()

    def freeze(self, value: object, path: tuple[str | int, ...]) -> Any:
        kind = type(value)
        if kind is str:
            if self.limit is not None:
                self.spend(len(value), path)  # type: ignore[arg-type]  # kind is str
            if not value.isascii():  # type: ignore[attr-defined]  # kind is str
                self.check_text(value, path)  # type: ignore[arg-type]  # kind is str
            return value
        if kind is int or kind is bool or value is None:
            return value
        if kind is float:
            if math.isfinite(value):  # type: ignore[arg-type]  # kind is float
                return value
            raise EventValidationError(
                f"{self.what} is not JSON: {self.at(path)} is {value!r}, which JSON cannot "
                "represent. Use null or a finite number."
            )
        if isinstance(value, Mapping | list | tuple):
            return self.container(value, path)
        hint = ""
        if isinstance(value, datetime):
            hint = " (for a datetime, send value.isoformat())"
        elif dataclasses.is_dataclass(value):
            hint = " (publish the contract instance itself, or dataclasses.asdict() it)"
        elif isinstance(value, BaseModel):
            hint = " (publish the contract instance itself, or model_dump(mode='json') it)"
        raise EventValidationError(
            f"{self.what} is not JSON: {self.at(path)} is a {kind.__name__} ({_short(value)}). "
            f"Send only str, int, float, bool, None, lists and dicts{hint}."
        )

    def container(
        self, value: Mapping[Any, Any] | list[Any] | tuple[Any, ...], path: tuple[str | int, ...]
    ) -> Any:
        if len(path) >= MAX_NESTING:
            raise EventValidationError(
                f"{self.what} nests deeper than {MAX_NESTING} levels at {self.at(path)}. "
                "Flatten the payload or send a reference to the data instead."
            )
        if id(value) in self.seen:
            raise EventValidationError(
                f"{self.what} is not JSON: {self.at(path)} contains itself (a cycle). "
                "Send a tree of values, not a graph."
            )
        self.seen.add(id(value))
        try:
            if isinstance(value, Mapping):
                return self.mapping(value, path)
            return tuple(self.freeze(item, (*path, i)) for i, item in enumerate(value))
        finally:
            self.seen.discard(id(value))

    def mapping(self, value: Mapping[Any, Any], path: tuple[str | int, ...]) -> FrozenDict:
        frozen: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise EventValidationError(
                    f"{self.what} is not JSON: {self.at(path)} has the key {key!r} of type "
                    f"{type(key).__name__}; JSON object keys must be strings. Convert the key "
                    "with str()."
                )
            if self.limit is not None:
                self.spend(len(key), path)
            if not key.isascii():
                self.check_text(key, path, key=True)
            frozen[key] = self.freeze(item, (*path, key))
        return FrozenDict(frozen)

    def check_text(self, text: str, path: tuple[str | int, ...], *, key: bool = False) -> None:
        at = _not_unicode(text)
        if at is None:
            return
        where = f"the key {_short(text)} of {self.at(path)}" if key else self.at(path)
        raise EventValidationError(
            f"{self.what} is not JSON text: {where} holds {text[at]!r} at position {at}, a lone "
            "surrogate, which is not Unicode (JSON and UTF-8 cannot carry it). Decode the text it "
            "came from strictly, or replace the character."
        )

    def spend(self, size: int, path: tuple[str | int, ...]) -> None:
        self.budget -= size
        if self.budget < 0:
            raise EventValidationError(
                f"{self.what} holds more than {self.limit:,} characters of text (the limit was "
                f"passed at {self.at(path)}). Send a reference to the content (an id or a URL) "
                "instead of the content itself, or raise the bus's max_event_size."
            )

    def at(self, path: tuple[str | int, ...]) -> str:
        return _path_text(path, self.root)


def _not_unicode(text: str) -> int | None:
    """Where ``text`` holds a lone surrogate (what ``json.loads`` makes of ``"\\ud800"``,
    ``os.fsdecode`` of undecodable bytes), else ``None``. Called for non-ASCII text only."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return error.start
    return None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def thaw_json(value: Any) -> Any:
    """Return a plain, mutable copy of frozen JSON (dicts and lists)."""
    if isinstance(value, dict):
        return {key: thaw_json(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [thaw_json(item) for item in value]
    return value


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class Event:
    """The immutable envelope of one published event (the seed's "Event Data Format").

    ``metadata`` always holds ``correlation_id``, ``causation_id`` (the id of the event whose
    handler published this one, else ``None``) and ``user_id``, plus any extra keys given.

    Built as the seed builds one, ``Event(event_type=..., data=..., source_module=...,
    timestamp=datetime.now())``, it is checked like :meth:`create`: the id is new unless given,
    and a naive ``timestamp`` is read as the machine's local time (what ``datetime.now()``
    returns, as :meth:`datetime.astimezone` reads it) and kept in UTC.
    """

    event_id: str
    timestamp: datetime
    source_module: str
    event_type: str
    data: FrozenDict
    metadata: FrozenDict

    def __init__(
        self,
        *,
        event_type: str,
        data: Mapping[str, Any],
        source_module: str,
        metadata: Mapping[str, Any] | None = None,
        event_id: str | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        check_event_type(event_type)
        check_module_name(source_module, role="source module")
        if not isinstance(data, Mapping):
            raise EventValidationError(
                f"Event data for {event_type!r} must be a dict, got {type(data).__name__} "
                f"({_short(data)}). Wrap the value in a dict such as {{'value': ...}}."
            )
        if timestamp is not None and not isinstance(timestamp, datetime):
            raise EventValidationError(
                f"An event's timestamp must be a datetime, got {type(timestamp).__name__} "
                f"({_short(timestamp)}). Pass e.g. datetime.now(UTC)."
            )
        setattr_ = object.__setattr__
        setattr_(self, "event_id", event_id if event_id is not None else new_id())
        setattr_(
            self,
            "timestamp",
            timestamp.astimezone(UTC) if timestamp is not None else datetime.now(UTC),
        )
        setattr_(self, "source_module", source_module)
        setattr_(self, "event_type", event_type)
        setattr_(self, "data", freeze_json(data))
        setattr_(self, "metadata", build_metadata(metadata))

    @classmethod
    def restore(
        cls,
        event_id: str,
        timestamp: datetime,
        source_module: str,
        event_type: str,
        data: FrozenDict,
        metadata: FrozenDict,
    ) -> Event:
        """Build an envelope from parts already checked and frozen (the bus, the stores).

        Nothing is checked: use :meth:`create` or the constructor for anything else.
        """
        event = object.__new__(cls)
        # Each slot set through its own descriptor (see _SET_EVENT_ID): half the cost of
        # object.__setattr__, which looks each name up along the class's MRO. Every publish
        # builds its envelope here.
        _SET_EVENT_ID(event, event_id)
        _SET_TIMESTAMP(event, timestamp)
        _SET_SOURCE_MODULE(event, source_module)
        _SET_EVENT_TYPE(event, event_type)
        _SET_DATA(event, data)
        _SET_METADATA(event, metadata)
        return event

    def __hash__(self) -> int:
        return hash(self.event_id)

    @property
    def correlation_id(self) -> str | None:
        """The id shared by every event and call of one flow."""
        value: str | None = self.metadata["correlation_id"]
        return value

    @property
    def causation_id(self) -> str | None:
        """The ``event_id`` of the event whose handler published this one, else ``None``."""
        value: str | None = self.metadata["causation_id"]
        return value

    @property
    def user_id(self) -> str | int | None:
        """The user on whose behalf the event was published, when known."""
        value: str | int | None = self.metadata["user_id"]
        return value

    @property
    def version(self) -> int:
        """The version of its contract the event's data was written with (1 unless recorded)."""
        value: int = self.metadata.get(VERSION_KEY, 1)
        return value

    @classmethod
    def create(
        cls,
        event_type: str,
        data: Mapping[str, Any],
        source_module: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        event_id: str | None = None,
        timestamp: datetime | None = None,
    ) -> Event:
        """Build a checked envelope: valid names, JSON data, a new id and a UTC timestamp."""
        return cls(
            event_type=event_type,
            data=data,
            source_module=source_module,
            metadata=metadata,
            event_id=event_id,
            timestamp=timestamp,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the seed's event format: plain dicts and an ISO-8601 timestamp string."""
        return {
            "event_id": self.event_id,
            "timestamp": self.timestamp.isoformat(),
            "source_module": self.source_module,
            "event_type": self.event_type,
            "data": thaw_json(self.data),
            "metadata": thaw_json(self.metadata),
        }

    def to_json(self) -> str:
        """Return :meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Event:
        """Rebuild an envelope from :meth:`to_dict` output, refusing any malformed key."""
        if not isinstance(raw, Mapping):
            raise EventValidationError(
                f"An event must be a dict in the seed's format, got {type(raw).__name__}. "
                f"Pass the output of Event.to_dict()."
            )
        missing = [key for key in _ENVELOPE_KEYS if key not in raw]
        unknown = sorted(str(key) for key in raw if key not in _ENVELOPE_KEYS)
        if missing or unknown:
            parts = []
            if missing:
                parts.append("missing " + ", ".join(repr(k) for k in missing))
            if unknown:
                parts.append("unknown " + ", ".join(repr(k) for k in unknown))
            raise EventValidationError(
                f"Malformed event: {'; '.join(parts)}. An event has exactly the keys "
                f"{', '.join(_ENVELOPE_KEYS)}."
            )
        event_id = raw["event_id"]
        if not _is_uuid(event_id):
            raise EventValidationError(
                f"Malformed event: 'event_id' must be a UUID string, got {_short(event_id)}."
            )
        data = raw["data"]
        if not isinstance(data, Mapping):
            raise EventValidationError(
                f"Malformed event: 'data' must be a dict, got {type(data).__name__}."
            )
        metadata = raw["metadata"]
        if not isinstance(metadata, Mapping):
            raise EventValidationError(
                f"Malformed event: 'metadata' must be a dict, got {type(metadata).__name__}."
            )
        try:
            return cls.create(
                raw["event_type"],
                data,
                raw["source_module"],
                metadata=metadata,
                event_id=event_id,
                timestamp=_parse_timestamp(raw["timestamp"]),
            )
        except InvalidNameError as exc:  # a malformed event is one error type for the caller
            raise EventValidationError(str(exc)) from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        """Rebuild an envelope from :meth:`to_json` output."""
        try:
            raw = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise EventValidationError(
                f"Malformed event: not valid JSON ({exc}). Pass the output of Event.to_json()."
            ) from None
        return cls.from_dict(raw)


# The setters of Event's slots (frozen: its own __setattr__ refuses), for Event.restore.
_SET_EVENT_ID = Event.__dict__["event_id"].__set__
_SET_TIMESTAMP = Event.__dict__["timestamp"].__set__
_SET_SOURCE_MODULE = Event.__dict__["source_module"].__set__
_SET_EVENT_TYPE = Event.__dict__["event_type"].__set__
_SET_DATA = Event.__dict__["data"].__set__
_SET_METADATA = Event.__dict__["metadata"].__set__


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _parse_timestamp(value: object) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
    raise EventValidationError(
        f"Malformed event: 'timestamp' must be an ISO-8601 string with a UTC offset such as "
        f"'2026-01-31T09:30:00+00:00', got {_short(value)}."
    )


def build_metadata(metadata: Mapping[str, Any] | None) -> FrozenDict:
    """Return checked, frozen envelope metadata with the standard keys always present."""
    merged: dict[str, Any] = dict.fromkeys(_STANDARD_METADATA)
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise EventValidationError(
                f"Event metadata must be a dict, got {type(metadata).__name__}. "
                "Pass metadata={'user_id': ...}."
            )
        merged.update(metadata)
    for key in ("correlation_id", "causation_id"):
        value = merged[key]
        if value is not None and not isinstance(value, str):
            raise EventValidationError(
                f"Event metadata {key!r} must be a string or None, got "
                f"{type(value).__name__} ({_short(value)})."
            )
    user_id = merged["user_id"]
    if user_id is not None and type(user_id) not in (str, int):
        raise EventValidationError(
            f"Event metadata 'user_id' must be a string, an int or None, got "
            f"{type(user_id).__name__} ({_short(user_id)})."
        )
    version = merged.get(VERSION_KEY, 1)
    if type(version) is not int or version < 1:
        raise EventValidationError(
            f"Event metadata {VERSION_KEY!r} must be a whole number of at least 1 (the "
            f"contract version the data was written with), got {type(version).__name__} "
            f"({_short(version)}). Leave it out: publishing sets it."
        )
    frozen: FrozenDict = freeze_json(merged, root="metadata", what="Event metadata")
    return frozen


# --- contracts ----------------------------------------------------------------------------------

_serialise: Callable[[Mapping[str, Any]], bytes] = SchemaSerializer(
    core_schema.dict_schema(core_schema.str_schema(), core_schema.any_schema())
).to_json


def _to_json(data: Mapping[str, Any]) -> bytes | str:
    """Event data (already JSON: str keys, frozen) as JSON: pydantic's encoder, told the top
    level is a dict of str keys, which it then serialises five times as fast as ``to_json``.
    Text it cannot encode as UTF-8 (a lone surrogate, as ``json.loads`` makes of ``"\\ud800"``)
    goes through ``json.dumps``, whose escapes the validator then refuses as invalid text."""
    try:
        return _serialise(data)
    except PydanticSerializationError:
        return json.dumps(data)


class EventContract:
    """A registered event contract: its type, version, class (dataclass or model), validator."""

    __slots__ = (
        "_adapter",
        "_decided",
        "_last",
        "_validate_json",
        "at_import",
        "contract_class",
        "event_type",
        "fields",
        "upcasters",
        "version",
    )

    def __init__(
        self,
        event_type: str,
        version: int,
        contract_class: type[Any],
        upcasters: Mapping[int, Upcaster] | None = None,
    ) -> None:
        self.event_type = event_type
        self.version = version
        self.contract_class = contract_class
        self.upcasters: dict[int, Upcaster] = dict(upcasters or {})
        """How older versions are read: from version -> a function returning the next one's
        data (``{1: v1_to_v2}`` on version 2; a chain reaches the latest version)."""
        self.fields = tuple(field.name for field in contract_fields(contract_class))
        self.at_import = _importing()
        """Whether it was registered while a module was being imported (the harness keeps
        those across tests: the module will not be imported again)."""
        self._adapter: TypeAdapter[Any] | None = None
        self._validate_json: Callable[..., Any] | None = None
        # A deeply immutable contract's instance is built once per event, for all its handlers
        # (decided on first use, once forward references resolve): the last one built.
        self._decided: tuple[bool, bool] | None = None
        self._last: tuple[object, Any] = (None, None)
        # A forward reference not yet defined leaves the adapter to be built on first use.
        with contextlib.suppress(PydanticUndefinedAnnotation, NameError):
            self._adapter = _build_adapter(contract_class)
            self._validate_json = self._adapter.validator.validate_json

    @property
    def adapter(self) -> TypeAdapter[Any]:
        """The pydantic validator of the contract, built once."""
        if self._adapter is None:
            self._adapter = _build_adapter(self.contract_class)
            self._validate_json = self._adapter.validator.validate_json
        return self._adapter

    def __repr__(self) -> str:
        return (
            f"EventContract({self.event_type!r}, version={self.version}, "
            f"{self.contract_class.__qualname__})"
        )

    def validate(self, data: Mapping[str, Any]) -> None:
        """Raise EventValidationError unless ``data`` (already JSON) satisfies the contract.

        Validated as the JSON it is (strict JSON rules: a timestamp is an ISO string, a number
        is never a string), serialised by pydantic's own encoder. The instance validation
        builds is kept for :meth:`instantiate` when handlers may share it."""
        validate_json = self._validate_json
        if validate_json is None:
            self.adapter  # noqa: B018  # builds the validator, or raises what blocks it
            validate_json = self._validate_json
            assert validate_json is not None  # the adapter property sets it
        try:
            instance = validate_json(_to_json(data), strict=True)
        except ValidationError as exc:
            raise EventValidationError(self._describe(exc)) from None
        # Only an event's own data cannot change before its handlers read it.
        if type(data) is FrozenDict and (self._decided or self._decide())[1]:
            self._last = (data, instance)

    def instantiate(self, data: Mapping[str, Any]) -> Any:
        """Return an instance of the contract class built from valid ``data``.

        An instance nothing can change (a frozen dataclass or model whose fields are all
        immutable) is built once for one event's data and given to each handler typed with
        the class; any other is built afresh for each, so no handler sees another's changes.
        """
        last = self._last
        if last[0] is data:
            return last[1]
        if _is_model(self.contract_class):  # the model itself, not the validating subclass
            instance = self.contract_class.model_validate_json(_to_json(data), strict=True)
        else:
            self.adapter  # noqa: B018  # built on first use
            assert self._validate_json is not None
            instance = self._validate_json(_to_json(data), strict=True)
        if type(data) is FrozenDict and (self._decided or self._decide())[0]:
            self._last = (data, instance)
        return instance

    def _decide(self) -> tuple[bool, bool]:
        """Once: whether handlers may share an instance, and whether the one validation builds
        is it (not the subclass refusing unknown fields of a model that did not choose)."""
        cls = self.contract_class
        shared = deeply_immutable(cls)
        own = not (_is_model(cls) and "extra" not in cls.model_config)
        self._decided = (shared, shared and own)
        return self._decided

    def dump(self, instance: object) -> dict[str, Any]:
        """Return the JSON form of a contract instance."""
        if isinstance(instance, BaseModel):
            return instance.model_dump(mode="json")
        dumped: dict[str, Any] = self.adapter.dump_python(instance, mode="json")
        return dumped

    def _describe(self, exc: ValidationError) -> str:
        lines = [
            f"Invalid data for event {self.event_type!r} (contract "
            f"{self.contract_class.__qualname__}, version {self.version}):"
        ]
        for error in exc.errors():
            field = _loc_text(error["loc"])
            kind = error["type"]
            if kind == "missing":
                lines.append(f"  - field {field!r}: required, but missing")
            elif kind in ("unexpected_keyword_argument", "extra_forbidden"):
                lines.append(
                    f"  - field {field!r}: not part of the contract "
                    f"(expected fields: {', '.join(self.fields)})"
                )
            else:
                message = error["msg"].removeprefix("Input should be ")
                given = error["input"]
                lines.append(
                    f"  - field {field!r}: expected {message}, "
                    f"got {_short(given)} ({type(given).__name__})"
                )
        lines.append(f"Fix the data to match {self.contract_class.__qualname__}.")
        return "\n".join(lines)


def _build_adapter(contract_class: type[Any]) -> TypeAdapter[Any]:
    make_frozen_time_validatable()  # the contract may hold freezegun's classes
    _forbid_unknown_fields(contract_class, set())
    if _is_model(contract_class) and "extra" not in contract_class.model_config:
        # A model that does not choose for itself refuses unknown fields, as a dataclass
        # contract does; the handlers still receive an instance of the model itself.
        strict = type(
            contract_class.__name__,
            (contract_class,),
            {"model_config": ConfigDict(extra="forbid"), "__module__": contract_class.__module__},
        )
        return TypeAdapter(strict)
    return TypeAdapter(contract_class)


def is_contract_class(candidate: object) -> bool:
    """Whether ``candidate`` can be an event contract: a dataclass or a pydantic model class."""
    return isinstance(candidate, type) and (
        dataclasses.is_dataclass(candidate) or _is_model(candidate)
    )


def _is_model(candidate: object) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)


class ContractField(NamedTuple):
    """One field of an event contract, however the contract is written."""

    name: str
    annotation: Any
    """The annotation as written (source text under ``from __future__ import annotations``)."""
    default: Any = dataclasses.MISSING
    """Its default value, or ``dataclasses.MISSING``."""
    default_factory: Any = dataclasses.MISSING
    """What builds its default, or ``dataclasses.MISSING``."""

    @property
    def required(self) -> bool:
        """Whether data must give the field."""
        return self.default is dataclasses.MISSING and self.default_factory is dataclasses.MISSING


def contract_fields(contract_class: type[Any]) -> tuple[ContractField, ...]:
    """The fields of a dataclass or pydantic model contract, in declaration order."""
    if _is_model(contract_class):
        found = []
        for name, info in contract_class.model_fields.items():
            default = dataclasses.MISSING if info.default is PydanticUndefined else info.default
            factory = dataclasses.MISSING if info.default_factory is None else info.default_factory
            found.append(ContractField(name, info.annotation, default, factory))
        return tuple(found)
    return tuple(
        ContractField(field.name, field.type, field.default, field.default_factory)
        for field in dataclasses.fields(contract_class)
    )


_IMMUTABLE_LEAVES: frozenset[object] = frozenset(
    (
        int,
        float,
        str,
        bool,
        bytes,
        type(None),
        decimal.Decimal,
        uuid.UUID,
        datetime,
        date,
        time,
        timedelta,
    )
)


def deeply_immutable(annotation: object, seen: frozenset[int] = frozenset()) -> bool:
    """Whether a value of ``annotation`` can never change once built: immutable scalars,
    enums, literals, tuples and frozensets of such, unions of such, and frozen dataclasses or
    models whose fields all are. Anything unknown (a list, a dict, ``Any``) is not."""
    if annotation in _IMMUTABLE_LEAVES:
        return True
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return True
    if origin in (typing.Union, types.UnionType, tuple, frozenset):
        return all(
            argument is Ellipsis or deeply_immutable(argument, seen)
            for argument in typing.get_args(annotation)
        )
    if origin is typing.Annotated:
        return deeply_immutable(typing.get_args(annotation)[0], seen)
    if not isinstance(annotation, type) or id(annotation) in seen:
        return isinstance(annotation, type)  # a recursive contract: judged where it began
    if dataclasses.is_dataclass(annotation):
        if not annotation.__dataclass_params__.frozen:  # type: ignore[attr-defined]
            return False
        pydantic_config = getattr(annotation, "__pydantic_config__", None) or {}
        if pydantic_config.get("extra") == "allow":  # a pydantic dataclass keeping extras
            return False
        try:
            hints = typing.get_type_hints(annotation, include_extras=True)
        except Exception:  # an unresolvable forward reference: cannot tell, so not shared
            return False
        fields = [hints.get(field.name, Any) for field in dataclasses.fields(annotation)]
    elif issubclass(annotation, BaseModel):
        config = annotation.model_config
        if not config.get("frozen", False) or config.get("extra") == "allow":
            return False  # extra fields hold whatever came, lists and dicts included
        if annotation.__private_attributes__:
            return False  # private attributes are not frozen with the model
        fields = [info.annotation for info in annotation.model_fields.values()]
    else:
        return False
    inner = seen | {id(annotation)}
    return all(deeply_immutable(field, inner) for field in fields)


def _forbid_unknown_fields(annotation: object, seen: set[int]) -> None:
    """Make pydantic refuse unknown keys in a contract and the dataclasses nested in it.

    pydantic ignores unknown keys of a standard dataclass unless the class carries a config;
    a class that sets its own ``__pydantic_config__`` keeps it.
    """
    if id(annotation) in seen:
        return
    seen.add(id(annotation))
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        if "__pydantic_config__" not in vars(annotation):
            annotation.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
        for hint in typing.get_type_hints(annotation).values():
            _forbid_unknown_fields(hint, seen)
        return
    for argument in typing.get_args(annotation):
        _forbid_unknown_fields(argument, seen)


def _loc_text(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class EventCatalog:
    """The event contracts known to a bus, by event type and version.

    An open catalog (the default) lets events without a contract through; a strict one refuses
    them, so every event type in the system must have a contract.
    """

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict
        self._by_type: dict[str, dict[int, EventContract]] = {}
        self._latest: dict[str, EventContract] = {}
        self._by_class: dict[type[Any], EventContract] = {}
        self._lock = threading.Lock()

    def register(
        self,
        contract_class: type[Any],
        event_type: str,
        version: int = 1,
        *,
        upcasters: Mapping[int, Upcaster] | None = None,
    ) -> EventContract:
        """Register ``contract_class`` as version ``version`` of ``event_type``; ``upcasters``
        read older versions' data as the next version's (``{1: v1_to_v2}``)."""
        check_event_type(event_type)
        if not is_contract_class(contract_class):
            raise EventContractError(
                f"Event contract for {event_type!r} must be a dataclass or a pydantic model, "
                f"got {_short(contract_class)}. Put @event_contract(...) above @dataclass, or "
                "on a class deriving from pydantic.BaseModel."
            )
        if type(version) is not int or version < 1:
            raise EventContractError(
                f"Event contract version for {event_type!r} must be an int of at least 1, "
                f"got {version!r}."
            )
        steps = _checked_upcasters(event_type, version, upcasters)
        with self._lock:
            versions = self._by_type.get(event_type, {})
            _check_steps(event_type, versions, version, steps)
            existing = versions.get(version)
            if existing is not None and _class_path(existing.contract_class) != _class_path(
                contract_class
            ):
                raise EventContractError(
                    f"Event {event_type!r} version {version} already has the contract "
                    f"{_class_path(existing.contract_class)}; cannot register "
                    f"{_class_path(contract_class)} too. Give the new contract version "
                    f"{max(versions) + 1}."
                )
            contract = EventContract(event_type, version, contract_class, steps)
            self._by_type[event_type] = {**versions, version: contract}
            self._by_class[contract_class] = contract
            if version >= max(self._by_type[event_type]):
                self._latest[event_type] = contract
        return contract

    def snapshot(self) -> CatalogSnapshot:
        """The catalog's contracts now, for :meth:`restore` (cheap: the tables are copied)."""
        with self._lock:
            return CatalogSnapshot(dict(self._by_type), dict(self._latest), dict(self._by_class))

    def restore(self, snapshot: CatalogSnapshot, *, keep_imported: bool = True) -> None:
        """Forget what was registered since ``snapshot``.

        With ``keep_imported`` (the harness's choice), contracts registered meanwhile while a
        module was being imported stay, however they were registered (a decorator, a factory,
        ``register``): that module was imported during the test and will not be imported
        again, so forgetting its contracts would change every later test. Contracts registered
        by a test's own code go.
        """
        with self._lock:
            known = snapshot.by_class
            added = [c for c in self._by_class.values() if c.contract_class not in known]
            self._by_type = dict(snapshot.by_type)
            self._latest = dict(snapshot.latest)
            self._by_class = dict(snapshot.by_class)
        if keep_imported:
            for contract in added:
                if contract.at_import:
                    self._keep(contract)

    def _keep(self, contract: EventContract) -> None:
        """Put back a contract :meth:`restore` dropped, as it was registered."""
        with self._lock:
            versions = self._by_type.get(contract.event_type, {})
            self._by_type[contract.event_type] = {**versions, contract.version: contract}
            self._by_class[contract.contract_class] = contract
            if contract.version >= max(self._by_type[contract.event_type]):
                self._latest[contract.event_type] = contract

    def get(self, event_type: str, version: int | None = None) -> EventContract | None:
        """Return the contract of ``event_type`` (its latest version by default), or ``None``."""
        if version is None:
            return self._latest.get(event_type)
        return self._by_type.get(event_type, {}).get(version)

    def versions(self, event_type: str) -> list[EventContract]:
        """Every registered version of ``event_type``'s contract, oldest first."""
        versions = self._by_type.get(event_type, {})
        return [versions[number] for number in sorted(versions)]

    def version_of(self, event_type: str, data: Mapping[str, Any]) -> int:
        """The version ``data`` of ``event_type`` is: the latest when it satisfies it (or 1
        without a contract), else the newest older version it satisfies; else the latest's
        :class:`~aura.exceptions.EventValidationError`; an older version no upcaster reads as
        the latest is an :class:`~aura.exceptions.EventVersionError`. What a publish, and an
        event built outside a bus, records as the event's version."""
        latest = self._latest.get(event_type)
        if latest is None:
            return 1
        try:
            latest.validate(data)
        except EventValidationError:
            older = self.older_version_of(event_type, data)
            if older is None:
                raise
            self.upcast(event_type, data, older)  # readable as the latest, or refused now
            return older
        return latest.version

    def older_version_of(self, event_type: str, data: Mapping[str, Any]) -> int | None:
        """The newest older version of ``event_type`` whose contract ``data`` satisfies (when
        the latest does not) and that upcasters lead from to the latest, or ``None``."""
        versions = self.versions(event_type)
        steps = self._steps(event_type)
        for contract in reversed(versions[:-1]):
            if any(step not in steps for step in range(contract.version, versions[-1].version)):
                continue
            try:
                contract.validate(data)
            except EventValidationError:
                continue
            return contract.version
        return None

    def current(self, event: Event) -> Event:
        """``event`` as its contract's current version: itself when it was written with it (or
        has no contract), else a copy whose data went through the upcasters (see
        :meth:`upcast`). What handlers, replays and stores' reads are given."""
        latest = self._latest.get(event.event_type)
        if latest is None or event.metadata.get(VERSION_KEY, 1) == latest.version:
            return event
        data, version = self.upcast(event.event_type, event.data, event.version, event.event_id)
        metadata = dict(event.metadata)
        if version == 1:
            metadata.pop(VERSION_KEY, None)
        else:
            metadata[VERSION_KEY] = version
        return Event.restore(
            event.event_id,
            event.timestamp,
            event.source_module,
            event.event_type,
            data,
            FrozenDict(metadata),
        )

    def upcast(
        self, event_type: str, data: Mapping[str, Any], version: int, event_id: str = ""
    ) -> tuple[FrozenDict, int]:
        """Read ``data``, written as ``version`` of ``event_type``, as its current version:
        ``(data, current version)``. Each step is one upcaster; the result is validated against
        the current contract. Raises :class:`~aura.exceptions.EventVersionError` naming the
        versions and the missing upcaster when there is no path, or when ``version`` is newer
        than any this process knows."""
        latest = self._latest.get(event_type)
        which = f"Event {event_type!r}" + (f" {event_id}" if event_id else "")
        if type(version) is not int or version < 1:
            raise EventVersionError(
                f"{which} records the version {version!r}; a version is a whole number of at "
                "least 1. The row was not written by Aura's bus: fix its metadata's "
                f"{VERSION_KEY!r}."
            )
        if latest is None:
            return freeze_json(data), version
        if version > latest.version:
            raise EventVersionError(
                f"{which} was written as version {version}, newer than any contract this "
                f"process knows (the latest is version {latest.version}, "
                f"{_class_path(latest.contract_class)}): a newer release wrote it. Deploy that "
                "release's contracts here before this process reads the event."
            )
        steps = self._steps(event_type)
        current: Mapping[str, Any] = data
        used: list[str] = []
        for step in range(version, latest.version):
            upcaster = steps.get(step)
            if upcaster is None:
                raise EventVersionError(
                    f"{which} was written as version {version}, and its contract is at "
                    f"version {latest.version}: no upcaster reads version {step} as version "
                    f"{step + 1}. Declare one on the contract: @event_contract({event_type!r}, "
                    f"version={step + 1}, upcasters={{{step}: upcast}}) with "
                    f"def upcast(data: dict) -> dict returning version {step + 1}'s data."
                )
            name = getattr(upcaster, "__qualname__", repr(upcaster))
            used.append(name)
            try:
                current = upcaster(thaw_json(current))
            except Exception as exc:
                raise EventVersionError(
                    f"{which}: the upcaster {name} (version {step} to {step + 1}) failed on its "
                    f"data: {type(exc).__name__}: {exc}. Fix the upcaster."
                ) from exc
            if not isinstance(current, Mapping):
                raise EventVersionError(
                    f"{which}: the upcaster {name} (version {step} to {step + 1}) returned "
                    f"{type(current).__name__}, not a dict of version {step + 1}'s data."
                )
        try:
            frozen = freeze_json(current)
        except EventValidationError as exc:
            raise EventVersionError(
                f"{which}: the upcasters {', '.join(used)} returned data that is not JSON: "
                f"{exc} Fix the upcaster."
            ) from None
        try:
            latest.validate(frozen)
        except EventValidationError as exc:
            details = str(exc).splitlines()[1:-1]  # the fields; not the data's fix line
            raise EventVersionError(
                "\n".join(
                    [
                        f"{which}, written as version {version} and upcast by "
                        f"{', '.join(used)}, does not satisfy version {latest.version}:",
                        *details,
                        f"Fix the upcaster{'s' if len(used) > 1 else ''} {', '.join(used)}.",
                    ]
                )
            ) from None
        return frozen, latest.version

    def _steps(self, event_type: str) -> dict[int, Upcaster]:
        steps: dict[int, Upcaster] = {}
        for contract in self._by_type.get(event_type, {}).values():
            steps.update(contract.upcasters)
        return steps

    def for_class(self, contract_class: type[Any]) -> EventContract | None:
        """Return the contract that ``contract_class`` was registered as, or ``None``."""
        return self._by_class.get(contract_class)

    def types(self) -> list[str]:
        """Return the event types that have a contract, sorted."""
        return sorted(self._latest)

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._latest

    def __iter__(self) -> Iterator[EventContract]:
        return iter(list(self._latest.values()))


class CatalogSnapshot(NamedTuple):
    """The tables of an :class:`EventCatalog` at one moment (see :meth:`EventCatalog.snapshot`)."""

    by_type: dict[str, dict[int, EventContract]]
    latest: dict[str, EventContract]
    by_class: dict[type[Any], EventContract]


def _checked_upcasters(
    event_type: str, version: int, upcasters: Mapping[int, Upcaster] | None
) -> dict[int, Upcaster]:
    if upcasters is None:
        return {}
    if not isinstance(upcasters, Mapping):
        raise EventContractError(
            f"upcasters of {event_type!r} version {version} must be a dict of older version -> "
            f"function, got {type(upcasters).__name__}. Write upcasters={{{version - 1}: "
            "upcast}."
        )
    for older, upcaster in upcasters.items():
        if type(older) is not int or not 1 <= older < version:
            raise EventContractError(
                f"upcasters of {event_type!r} version {version} has the key {older!r}: a key "
                f"is the older version the function reads, an int from 1 to {version - 1}."
            )
        if not callable(upcaster):
            raise EventContractError(
                f"upcasters[{older}] of {event_type!r} version {version} must be a function "
                f"of version {older}'s data returning version {older + 1}'s, got "
                f"{type(upcaster).__name__} ({upcaster!r})."
            )
    return dict(upcasters)


def _check_steps(
    event_type: str,
    versions: Mapping[int, EventContract],
    version: int,
    steps: Mapping[int, Upcaster],
) -> None:
    """Refuse two different upcasters for one step (two contracts of a type declaring it)."""
    for contract in versions.values():
        if contract.version == version:
            continue
        for older, upcaster in steps.items():
            known = contract.upcasters.get(older)
            if known is not None and known is not upcaster:
                raise EventContractError(
                    f"Event {event_type!r}: version {version} and version {contract.version} "
                    f"both declare an upcaster from version {older}. Keep one of them."
                )


def _importing() -> bool:
    """Whether the caller runs inside an import (importlib's frames are on the stack)."""
    frame: FrameType | None = sys._getframe(2)
    for _ in range(64):
        if frame is None:
            return False
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


def _class_path(cls: type[Any]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


default_catalog = EventCatalog()
"""The process-wide catalog that :func:`event_contract` registers into by default."""


def event_contract(
    event_type: str,
    *,
    version: int = 1,
    upcasters: Mapping[int, Upcaster] | None = None,
    catalog: EventCatalog | None = None,
) -> Callable[[type[T]], type[T]]:
    """Register a dataclass as the contract of ``event_type``.

    Usage::

        @event_contract("therapy_session.scheduled", version=1)
        @dataclass
        class TherapySessionScheduledEvent: ...

    A new version says how stored events of the older ones are read: ``upcasters`` maps an
    older version to a function of its data (a plain dict) returning the next version's::

        @event_contract("therapy_session.scheduled", version=2, upcasters={1: add_duration})

    Stored events keep their version (:attr:`Event.version`); handlers, replays and the
    stores' reads get them as the current version (:meth:`EventCatalog.current`).
    """
    check_event_type(event_type)
    target = catalog if catalog is not None else default_catalog

    def register(cls: type[T]) -> type[T]:
        target.register(cls, event_type, version, upcasters=upcasters)
        cls.__aura_event_type__ = event_type  # type: ignore[attr-defined]  # marker for publish
        return cls

    return register
