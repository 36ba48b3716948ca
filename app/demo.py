"""The seed's complete communication flow, run on a temporary SQLite file and printed as a trace.

Registers a patient and a therapist, schedules a session, starts and completes it; every event,
delivery and cross-module call is printed with its correlation and causation.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from aura.cli import TracePrinter
from aura.platform import Platform

__all__ = ["run"]


def run(out: TextIO) -> int:
    """Run the complete flow and print its trace to ``out``; return the exit status."""
    with tempfile.TemporaryDirectory(prefix="aura-demo-") as folder:
        database = Path(folder) / "aura.db"
        with Platform(Platform.discover("modules"), database=database) as platform:
            printer = TracePrinter(out)
            platform.bus.add_observer(printer)
            platform.registry.add_observer(printer.on_service_call)
            print(f"aura demo: the complete flow on {database.name}", file=out)
            users = platform.registry.get_service("users", "UserService")
            sessions = platform.registry.get_service("mentalhealth", "TherapySessionService")
            patient = users.register_user("pat@example.com", "Pat Doe", "patient")
            therapist = users.register_user("dr.t@example.com", "Dr T", "therapist")
            when = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
            session = sessions.schedule_session(patient["id"], therapist["id"], when)
            sessions.start_session(session["id"])
            sessions.complete_session(session["id"])
            outbox = platform.database.query("SELECT COUNT(*) AS n FROM notifications_outbox")
            charge = platform.database.query_one("SELECT status FROM billing_charges")
            print(
                f"{outbox[0]['n']} emails in the outbox; the charge is "
                f"{charge['status'] if charge else 'missing'}; "
                f"{len(platform.bus.dead_letters())} failed deliveries.",
                file=out,
            )
    return 0
