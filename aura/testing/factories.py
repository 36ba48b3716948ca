"""factory-boy factories for tests: event envelopes that satisfy their contracts.

``EventFactory(event_type="therapy_session.scheduled")`` builds an :class:`~aura.events.Event`
whose data is generated from the registered contract (every field filled with a valid value), so
a test states only the fields it cares about: ``EventFactory(event_type=..., data__patient_id=7)``.
"""

from __future__ import annotations

import types
import typing
import uuid
from datetime import UTC, date, datetime
from typing import Any

from aura.events import (
    VERSION_KEY,
    Event,
    EventCatalog,
    EventContract,
    contract_fields,
    default_catalog,
    is_contract_class,
)
from aura.exceptions import MissingExtraError

try:
    from factory.base import Factory
    from factory.declarations import BaseDeclaration, LazyAttribute, LazyFunction
except ImportError:  # pragma: no cover - its own process: tests/unit/test_extras.py
    raise MissingExtraError(
        "aura.testing.factories needs factory-boy, which is not installed. Install Aura's "
        "testing extra: pip install 'aura-modulith[testing]'"
    ) from None

__all__ = ["EventFactory", "sample_data"]


def sample_data(contract: EventContract, sequence: int = 1) -> dict[str, Any]:
    """Return valid JSON data for ``contract``: each field gets a simple value of its type."""
    return _required_sample(contract.contract_class, sequence)


def _required_sample(contract_class: type[Any], sequence: int) -> dict[str, Any]:
    """A value for each required field of a dataclass or pydantic model."""
    hints = typing.get_type_hints(contract_class)
    return {
        field.name: _sample(hints[field.name], field.name, sequence)
        for field in contract_fields(contract_class)
        if field.required
    }


def _sample(hint: Any, name: str, sequence: int) -> Any:
    origin = typing.get_origin(hint)
    arguments = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _sample(next(a for a in arguments if a is not type(None)), name, sequence)
    if origin in (list, tuple, set, frozenset):
        return [_sample(arguments[0], name, sequence)] if arguments else []
    if origin is dict:
        return {}
    if hint is bool:
        return True
    if hint is int:
        return sequence
    if hint is float:
        return float(sequence)
    if hint is str:
        return f"{name}-{sequence}"
    if hint is datetime:
        return datetime(2030, 1, 7, 10, tzinfo=UTC).isoformat()
    if hint is date:
        return date(2030, 1, 7).isoformat()
    if is_contract_class(hint):
        return _required_sample(hint, sequence)
    return None


class _DataFromContract(BaseDeclaration):
    """Generate ``data`` from the event type's contract, then apply ``data__field`` overrides."""

    def evaluate(self, instance: Any, step: Any, extra: dict[str, Any]) -> dict[str, Any]:
        catalog: EventCatalog = instance.catalog
        contract = catalog.get(instance.event_type)
        data = sample_data(contract, step.sequence + 1) if contract is not None else {}
        data.update(extra)
        if contract is not None:
            contract.validate(data)  # an override that breaks the contract fails here, clearly
        return data


class EventFactory(Factory[Event]):
    """Builds valid envelopes for any registered event contract (or free-form data)."""

    class Meta:
        model = Event

    class Params:
        catalog = default_catalog
        correlation_id = LazyFunction(lambda: str(uuid.uuid4()))
        causation_id = None
        user_id = None

    event_type = "therapy_session.scheduled"
    source_module = "mentalhealth"
    data = _DataFromContract()
    metadata = LazyAttribute(
        lambda o: {
            "correlation_id": o.correlation_id,
            "causation_id": o.causation_id,
            "user_id": o.user_id,
        }
    )

    @classmethod
    def _create(cls, model_class: type[Event], **kwargs: Any) -> Event:
        return cls._build(model_class, **kwargs)

    @classmethod
    def _build(cls, model_class: type[Event], **kwargs: Any) -> Event:
        """Build through Event.create, so the envelope is checked and its data validated."""
        # The version the data is (the latest, or an older one it satisfies), as a publish
        # records it; data of no version is the latest contract's EventValidationError.
        version = default_catalog.version_of(kwargs["event_type"], kwargs["data"])
        metadata = dict(kwargs["metadata"] or {})
        if version != 1:
            metadata[VERSION_KEY] = version
        return Event.create(
            kwargs["event_type"],
            kwargs["data"],
            kwargs["source_module"],
            metadata=metadata,
        )
