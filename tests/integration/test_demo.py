"""``aura demo`` runs the platform's complete flow on a temporary SQLite file."""

from __future__ import annotations

import io
import re

from aura.cli import main


def test_the_platform_demo_runs_the_complete_flow() -> None:
    out = io.StringIO()
    assert main(["demo"], out=out) == 0
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0] == "aura demo: the complete flow on aura.db"
    events = [line.split()[1] for line in lines if re.match(r"#\d+ ", line)]
    assert events == [
        "user.registered",
        "user.registered",
        "therapy_session.scheduled",
        "notification.sent",
        "notification.sent",
        "therapy_session.started",
        "therapy_session.completed",
        "payment.completed",
    ]
    assert "    mentalhealth -> users.UserService.is_user_active() ok" in lines
    assert lines[-1] == "2 emails in the outbox; the charge is captured; 0 failed deliveries."
    caused_by_scheduled = [line for line in lines if line.endswith("caused_by=#3")]
    assert len(caused_by_scheduled) == 2
