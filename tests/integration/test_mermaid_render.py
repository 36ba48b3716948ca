"""Trace diagrams of the reference platform, drawn by the real Mermaid renderer.

mermaid-cli (``mmdc``) renders each diagram to SVG in a headless Chromium; every label the
trace holds must appear in it as text, and causes above their effects. Skipped, with the
reason, where the renderer is not installed: ``AURA_MMDC`` names the ``mmdc`` to use (else the
one on ``PATH``), ``AURA_CHROMIUM`` the browser (else ``chromium`` on ``PATH``). On Debian:
``apt-get install chromium`` and ``npm install @mermaid-js/mermaid-cli``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aura.bus import Delivery
from aura.events import Event
from aura.platform import Platform
from aura.registry import ServiceCall
from aura.testing import PublishedEvents, RecordingFake, Trace
from aura.testing.export import OUTSIDE, trace_to_mermaid


def _find_chromium() -> str | None:
    given = os.environ.get("AURA_CHROMIUM")
    if given:
        return given
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


MMDC = os.environ.get("AURA_MMDC") or shutil.which("mmdc")
CHROMIUM = _find_chromium()

pytestmark = [
    pytest.mark.skipif(
        MMDC is None,
        reason="mermaid-cli's mmdc is not installed: set AURA_MMDC to its path or put it on "
        "PATH (npm install @mermaid-js/mermaid-cli)",
    ),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium for mermaid-cli: set AURA_CHROMIUM to its path or put chromium on "
        "PATH (apt-get install chromium)",
    ),
]

SVG = "{http://www.w3.org/2000/svg}"


def render(diagram: str, directory: Path) -> list[tuple[str, float]]:
    """Render ``diagram`` with mmdc; return each text of the SVG with its height on the page."""
    source, target = directory / "trace.mmd", directory / "trace.svg"
    config = directory / "puppeteer.json"
    source.write_text(diagram, encoding="utf-8")
    config.write_text(json.dumps({"executablePath": CHROMIUM, "args": ["--no-sandbox"]}))
    assert MMDC is not None  # the module is skipped otherwise
    done = subprocess.run(
        [MMDC, "-q", "-p", str(config), "-i", str(source), "-o", str(target)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"mmdc failed on\n{diagram}\n{done.stdout}\n{done.stderr}"
    texts = []
    for element in ET.parse(target).iter(f"{SVG}text"):
        text = "".join(element.itertext()).strip()
        if text:
            texts.append((text, float(element.get("y", "0"))))
    return texts


def labels(trace: Trace) -> list[str]:
    """What the diagram must show, written plainly from the trace (not from the diagram)."""
    shown: list[str] = []
    for entry in trace.entries:
        item = entry.item
        if isinstance(item, Event):
            shown.append(f"#{trace.numbers[item.event_id]} publishes {item.event_type}")
        elif isinstance(item, Delivery):
            failed = "" if item.error is None else f" FAILED {type(item.error).__name__}"
            shown.append(f"#{trace.numbers[item.event.event_id]} {item.event.event_type}{failed}")
        elif isinstance(item, ServiceCall):
            fake = " (fake)" if entry.fake else ""
            shown.append(f"{item.service_name}.{item.method}(){fake}")
            shown.append("ok" if item.error is None else f"raised {type(item.error).__name__}")
            shown.extend(m or OUTSIDE for m in (item.caller_module, item.provider_module))
    return shown


def height(texts: list[tuple[str, float]], label: str) -> float:
    return min(y for text, y in texts if text == label)


@pytest.fixture
def trace(aura_platform: Platform) -> Trace:
    return Trace().attach(aura_platform.bus, aura_platform.registry)


def test_a_booked_session_renders_every_label_causes_first(
    aura_platform: Platform, trace: Trace, published_events: PublishedEvents, tmp_path: Path
) -> None:
    users = aura_platform.registry.get_service("users", "UserService")
    patient = users.register_user("pat@example.com", "Pat Doe", "patient")
    therapist = users.register_user("dr.t@example.com", "Dr T", "therapist")
    sessions = aura_platform.registry.get_service("mentalhealth", "TherapySessionService")
    sessions.schedule_session(patient["id"], therapist["id"], datetime.now(UTC) + timedelta(2))
    published_events.assert_published("notification.sent", times=2)

    texts = render(trace_to_mermaid(trace), tmp_path)

    missing = [label for label in labels(trace) if label not in {text for text, _ in texts}]
    assert missing == []
    assert not [text for text, _ in texts if "#35" in text or "¶" in text]
    scheduled = published_events.of_type("therapy_session.scheduled").one()
    number = trace.numbers[scheduled.event_id]
    assert height(texts, "TherapySessionService.schedule_session()") < height(
        texts, f"#{number} publishes therapy_session.scheduled"
    )
    assert height(texts, f"#{number} publishes therapy_session.scheduled") < height(
        texts, f"#{number + 1} publishes notification.sent"
    )


@pytest.mark.aura_platform("mentalhealth", mode="standalone")
def test_calls_served_by_fakes_render_marked(
    aura_platform: Platform, trace: Trace, tmp_path: Path
) -> None:
    users: RecordingFake = aura_platform.container.resolve("users.UserService")
    users.answers(
        "get_user_by_id",
        lambda user_id: {"id": user_id, "role": "patient" if user_id == 1 else "therapist"},
    )
    users.returns("is_user_active", True)
    sessions = aura_platform.registry.get_service("mentalhealth", "TherapySessionService")
    sessions.schedule_session(1, 2, datetime.now(UTC) + timedelta(days=2))

    texts = {text for text, _ in render(trace_to_mermaid(trace), tmp_path)}

    assert "UserService.get_user_by_id() (fake)" in texts
    assert [label for label in labels(trace) if label not in texts] == []
