"""The ``aura`` command: ``aura --version`` and ``aura demo``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any, TextIO

import aura
from aura.bus import Delivery, EventBus
from aura.events import Event, EventCatalog
from aura.registry import ServiceCall

__all__ = ["TracePrinter", "main"]


class TracePrinter:
    """A bus observer that prints each event and each delivery as it happens."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._numbers: dict[str, int] = {}

    def on_published(self, event: Event) -> None:
        """Print one line per published event, numbered, with its causation."""
        number = self._numbers[event.event_id] = len(self._numbers) + 1
        cause = event.causation_id
        caused_by = f"#{self._numbers[cause]}" if cause in self._numbers else "-"
        print(
            f"#{number} {event.event_type} from {event.source_module} "
            f"data={dict(event.data)} correlation={event.correlation_id} caused_by={caused_by}",
            file=self.out,
        )

    def on_delivered(self, delivery: Delivery) -> None:
        """Print one line per delivery with its outcome and duration."""
        outcome = "ok" if delivery.error is None else f"FAILED: {delivery.error!r}"
        print(
            f"    -> {delivery.subscriber_module}:{delivery.handler_name.rsplit('.', 1)[-1]} "
            f"{outcome} ({delivery.duration * 1000:.3f} ms)",
            file=self.out,
        )

    def on_service_call(self, call: ServiceCall) -> None:
        """Print one line per cross-module service call (a registry observer)."""
        caller = call.caller_module or "(outside)"
        print(
            f"    {caller} -> {call.provider_module}.{call.service_name}.{call.method}() "
            f"{call.outcome}",
            file=self.out,
        )


def run_demo(out: TextIO) -> int:
    """Publish one event to two example subscribers and print the trace."""
    bus = EventBus(catalog=EventCatalog())
    sent: list[dict[str, Any]] = []

    def send_confirmation(data: dict[str, Any]) -> None:
        sent.append(dict(data))
        bus.publish(
            "notification.sent",
            {"session_id": data["session_id"], "recipient_id": data["patient_id"]},
            "notifications",
        )

    def create_charge(data: dict[str, Any]) -> None:
        bus.publish("payment.pending", {"session_id": data["session_id"]}, "billing")

    bus.subscribe("therapy_session.scheduled", send_confirmation, "notifications")
    bus.subscribe("therapy_session.scheduled", create_charge, "billing")
    bus.add_observer(TracePrinter(out))
    print("aura demo: mentalhealth schedules a session; notifications and billing react.", file=out)
    bus.publish(
        "therapy_session.scheduled",
        {
            "session_id": 1,
            "patient_id": 7,
            "therapist_id": 3,
            "scheduled_at": "2030-01-07T10:00:00+00:00",
        },
        "mentalhealth",
    )
    print(f"{len(bus.failed_events())} failed deliveries.", file=out)
    return 0


def _installed_demo() -> Callable[[TextIO], int] | None:
    """The demo a platform registers under the ``aura.demos`` entry point group, if any."""
    for entry in entry_points(group="aura.demos"):
        demo: Callable[[TextIO], int] = entry.load()
        return demo
    return None


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the ``aura`` command line; return the exit status."""
    stream = out if out is not None else sys.stdout
    parser = argparse.ArgumentParser(prog="aura", description="Aura modular-monolith toolkit.")
    parser.add_argument("--version", action="version", version=f"aura {aura.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser("demo", help="run the installed platform's demo flow")
    demo.add_argument(
        "--builtin", action="store_true", help="run the built-in two-subscriber bus demo instead"
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        installed = None if args.builtin else _installed_demo()
        return installed(stream) if installed is not None else run_demo(stream)
    parser.print_help(stream)
    return 2
