"""Traces as files: JSON for tools, Mermaid sequence diagrams as living documentation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aura.breaker import BreakerTransition
from aura.bus import Delivery
from aura.events import Event
from aura.registry import ServiceCall
from aura.testing.recorders import Trace

__all__ = ["trace_to_json", "trace_to_mermaid", "write_trace"]

OUTSIDE = "test"
"""The lifeline of code outside any module (the test itself, a script)."""


def trace_to_json(trace: Trace) -> list[dict[str, Any]]:
    """Return the trace as JSON-ready entries, in order."""
    entries: list[dict[str, Any]] = []
    for entry in trace.entries:
        item = entry.item
        if isinstance(item, Event):
            entries.append(
                {"kind": "event", "number": trace.numbers[item.event_id], **item.to_dict()}
            )
        elif isinstance(item, Delivery):
            entries.append(
                {
                    "kind": "delivery",
                    "event_id": item.event.event_id,
                    "event_type": item.event.event_type,
                    "subscriber_module": item.subscriber_module,
                    "handler": item.handler_name,
                    "outcome": "ok" if item.error is None else "failed",
                    "error": None
                    if item.error is None
                    else f"{type(item.error).__name__}: {item.error}",
                    "duration_ms": round(item.duration * 1000, 3),
                }
            )
        elif isinstance(item, ServiceCall):
            entries.append(
                {
                    "kind": "call",
                    "caller_module": item.caller_module,
                    "provider_module": item.provider_module,
                    "service": item.service_name,
                    "method": item.method,
                    "outcome": item.outcome,
                    "error": None if item.error is None else str(item.error),
                    "correlation_id": item.correlation_id,
                    "duration_ms": round(item.duration * 1000, 3),
                }
            )
        else:
            entries.append(_transition(item))
    return entries


def _transition(item: BreakerTransition) -> dict[str, Any]:
    return {
        "kind": "breaker",
        "breaker": item.name,
        "old": item.old.value,
        "new": item.new.value,
        "at": item.at.isoformat(),
        "last_error": None if item.last_error is None else str(item.last_error),
    }


def trace_to_mermaid(trace: Trace) -> str:
    """Render the trace as a Mermaid sequence diagram with the modules as lifelines.

    An event is an asynchronous arrow from its publisher to each subscriber (a cross for a failed
    handler); a service call a synchronous arrow and its return; a breaker transition a note.
    """
    lines = ["sequenceDiagram"]
    participants: list[str] = []

    def lifeline(name: str | None) -> str:
        label = name or OUTSIDE
        if label not in participants:
            participants.append(label)
        return label

    body: list[str] = []
    for entry in trace.entries:
        item = entry.item
        if isinstance(item, Event):
            number = trace.numbers[item.event_id]
            publisher = lifeline(item.source_module)
            body.append(f"    Note over {publisher}: #{number} publishes {item.event_type}")
        elif isinstance(item, Delivery):
            number = trace.numbers.get(item.event.event_id, 0)
            arrow = "-)" if item.error is None else "-x"
            suffix = "" if item.error is None else f" FAILED {type(item.error).__name__}"
            source, target = lifeline(item.event.source_module), lifeline(item.subscriber_module)
            body.append(f"    {source}{arrow}{target}: #{number} {item.event.event_type}{suffix}")
        elif isinstance(item, ServiceCall):
            caller, provider = lifeline(item.caller_module), lifeline(item.provider_module)
            body.append(f"    {caller}->>{provider}: {item.service_name}.{item.method}()")
            answer = "ok" if item.error is None else f"raised {type(item.error).__name__}"
            body.append(f"    {provider}-->>{caller}: {answer}")
        else:
            change = f"breaker {item.name} {item.old.value} to {item.new.value}"
            body.append(f"    Note right of {lifeline(None)}: {change}")
    lines.extend(f"    participant {name}" for name in participants)
    lines.extend(body)
    return "\n".join(lines) + "\n"


def write_trace(trace: Trace, directory: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.mmd`` into ``directory``; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{stem}.json"
    mermaid_path = directory / f"{stem}.mmd"
    json_path.write_text(json.dumps(trace_to_json(trace), indent=2) + "\n")
    mermaid_path.write_text(trace_to_mermaid(trace))
    return json_path, mermaid_path
