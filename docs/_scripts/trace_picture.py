"""Draw the trace of one HTTP booking on the reference platform, for docs/howto/observability.rst.

Run from the repository's root, with the ``web`` and ``otel`` extras installed::

    .venv/bin/python docs/_scripts/trace_picture.py

It builds the reference platform in memory (``Platform.discover("modules")``), instruments it
and its gateway with an in-memory span exporter, registers a patient and a therapist as an
operator, then books a session as the patient with a client's ``traceparent``, exactly as
``tests/integration/test_telemetry.py`` does. The booking's finished spans are drawn as a
waterfall: one row per span, indented under its parent, its bar placed on the request's
timeline, its duration in milliseconds, and a dashed arrow for each span link.

It writes ``docs/_static/booking-trace.svg`` and, when Chromium is installed (``--chromium``,
else ``/usr/bin/chromium``), renders it as ``docs/_static/booking-trace.png`` at twice its size.
Durations differ from run to run; the structure does not.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "docs" / "_static"
sys.path.insert(0, str(ROOT))  # the reference platform is imported from the checkout

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from aura.platform import Platform  # noqa: E402
from aura.telemetry import instrument  # noqa: E402
from aura.testing.http import GatewayClient  # noqa: E402

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


@dataclass
class Row:
    """One span as drawn: where it sits in the tree and on the timeline (ms from the start)."""

    span_id: int
    name: str
    kind: str
    module: str
    detail: str
    depth: int
    start: float
    end: float
    links: list[int]
    failed: bool


def booking_spans() -> list[ReadableSpan]:
    """Run one traced booking on the reference platform; return its finished spans."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with Platform(Platform.discover("modules")) as platform:
        platform.start()
        telemetry = instrument(platform, tracer_provider=provider)
        client = GatewayClient(platform, telemetry=telemetry)
        operator = client.as_operator()
        for body in (
            {"email": "pat@example.com", "name": "Pat", "role": "patient"},
            {"email": "tess@example.com", "name": "Dr Tess", "role": "therapist"},
        ):
            response = operator.post("/api/users/users", json=body)
            assert response.status_code == 201, response.text
        exporter.clear()  # only the booking's trace
        when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
        response = client.as_user(1, roles=["patient"]).post(
            "/api/mentalhealth/sessions",
            json={"patient_id": 1, "therapist_id": 2, "scheduled_at": when},
            headers={"traceparent": TRACEPARENT},
        )
        assert response.status_code == 201, response.text
        client.close()
        telemetry.detach()
    spans = list(exporter.get_finished_spans())
    provider.shutdown()
    return spans


def rows_of(spans: list[ReadableSpan]) -> list[Row]:
    """The spans in tree order (each parent before its children, siblings by start time)."""
    by_id = {span.context.span_id: span for span in spans if span.context is not None}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        children.setdefault(parent if parent in by_id else None, []).append(span)
    origin = min(_start(span) for span in spans)
    rows: list[Row] = []

    def walk(parent: int | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=_start):
            assert span.context is not None  # a finished span has both
            assert span.end_time is not None
            rows.append(
                Row(
                    span_id=span.context.span_id,
                    name=span.name,
                    kind=span.kind.name,
                    module=str((span.attributes or {}).get("aura.module", "gateway")),
                    detail=detail(span),
                    depth=depth,
                    start=(_start(span) - origin) / 1e6,
                    end=(span.end_time - origin) / 1e6,
                    links=[link.context.span_id for link in span.links],
                    failed=span.status.status_code.name == "ERROR",
                )
            )
            walk(span.context.span_id, depth + 1)

    walk(None, 1)  # depth 0 would be the client's span, which is not exported
    return rows


def _start(span: ReadableSpan) -> int:
    assert span.start_time is not None  # a finished span
    return span.start_time


def detail(span: ReadableSpan) -> str:
    """What the row says after the span's kind: who publishes, processes or calls."""
    attributes = span.attributes or {}
    module = attributes.get("aura.module")
    if span.name.startswith("call "):
        return f"from {attributes.get('aura.caller_module') or 'outside any module'}"
    if span.name.startswith("process "):
        return f"in {module}"
    if span.name.startswith("publish "):
        return f"by {module}"
    return ""


# --- the picture ---------------------------------------------------------------------------------

COLOURS = {
    "gateway": "#7f8c8d",
    "mentalhealth": "#2e86c1",
    "users": "#8e44ad",
    "notifications": "#d68910",
    "billing": "#229954",
}
FONT = "DejaVu Sans, Verdana, sans-serif"
# Sized for the docs' text column (about 660 px): each span takes two lines, its name above
# its bar, so that the names and the timeline both get the whole width.
WIDTH = 880
LEFT = 16
TIMELINE = 760  # the width of the time axis, from LEFT
ROW = 46
TOP = 170  # the first row's name
INDENT = 22


def svg(rows: list[Row]) -> str:
    """The waterfall of ``rows`` as an SVG document."""
    total = max(row.end for row in rows)
    scale = TIMELINE / total
    bottom = TOP + ROW * len(rows)  # below the last row's bar
    height = bottom + 50
    bar_y = {row.span_id: TOP + ROW * index + 8 for index, row in enumerate(rows)}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="{FONT}" font-size="16">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#c0392b"/></marker></defs>',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="{LEFT}" y="28" font-size="20" font-weight="bold">'
        "One booking, one trace: POST /api/mentalhealth/sessions</text>",
        f'<text x="{LEFT}" y="52" fill="#444" font-size="15">trace {CLIENT_TRACE} · '
        f"{len(rows)} spans · {total:.2f} ms</text>",
        f'<text x="{LEFT}" y="72" fill="#444" font-size="15">The first span\'s parent is the '
        f"client's span {CLIENT_SPAN}, named by the request's traceparent.</text>",
        f'<text x="{LEFT}" y="92" fill="#444" font-size="15">Each span is indented under its '
        "parent; a dashed red arrow is a span link.</text>",
    ]
    # the stripes, one per span, behind everything
    for index in range(len(rows)):
        if index % 2 == 0:
            y = TOP + ROW * index - 20
            out.append(f'<rect x="0" y="{y}" width="{WIDTH}" height="{ROW}" fill="#f4f7fa"/>')
    # the time axis
    step = _step(total)
    tick = 0.0
    while tick <= total + 1e-9:
        x = LEFT + tick * scale
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP - 34}" x2="{x:.1f}" y2="{bottom - 12}" stroke="#ddd"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{TOP - 40}" text-anchor="{"start" if tick == 0 else "middle"}" '
            f'fill="#555" font-size="14">{tick:g} ms</text>'
        )
        tick += step
    for index, row in enumerate(rows):
        y = TOP + ROW * index  # the name's baseline; the bar is below it
        colour = COLOURS.get(row.module, "#7f8c8d")
        x_text = LEFT + (row.depth - 1) * INDENT
        if row.depth > 1:  # the tree's guide: an elbow from the parent's name
            out.append(
                f'<path d="M{x_text - INDENT + 5},{y - ROW + 6} V{y - 5} H{x_text - 4}" '
                'fill="none" stroke="#aaa"/>'
            )
        detail = f" · {escape(row.detail)}" if row.detail else ""
        out.append(
            f'<text x="{x_text}" y="{y}"><tspan font-weight="bold">{escape(row.name)}'
            f'</tspan><tspan fill="#555" font-size="14"> {row.kind}{detail}</tspan></text>'
        )
        x0 = LEFT + row.start * scale
        width = max((row.end - row.start) * scale, 3.0)
        outline = ' stroke="#c0392b" stroke-width="2"' if row.failed else ""
        out.append(
            f'<rect x="{x0:.1f}" y="{bar_y[row.span_id]}" width="{width:.1f}" height="12" '
            f'rx="3" fill="{colour}"{outline}/>'
        )
        duration = f"{row.end - row.start:.2f} ms"
        if x0 + width + 70 < WIDTH:
            x_duration, anchor = x0 + width + 6, "start"
        else:  # no room on the right: inside the bar's end
            x_duration, anchor = x0 + width - 6, "end"
        colour = "#333" if anchor == "start" else "white"
        out.append(
            f'<text x="{x_duration:.1f}" y="{bar_y[row.span_id] + 11}" font-size="14" '
            f'fill="{colour}" text-anchor="{anchor}">{duration}</text>'
        )
    # links: from the linking span's bar to the span it links to
    for row in rows:
        for target in row.links:
            if target not in bar_y:
                continue
            source = next(r for r in rows if r.span_id == target)
            x1 = LEFT + row.start * scale - 3
            y1 = bar_y[row.span_id] + 6
            x2 = LEFT + (source.start + source.end) / 2 * scale
            y2 = bar_y[target] + 15
            out.append(
                f'<path d="M{x1:.1f},{y1} C{x2:.1f},{y1} {x2:.1f},{y1} {x2:.1f},{y2}" '
                'fill="none" stroke="#c0392b" stroke-width="1.8" stroke-dasharray="5,3" '
                'marker-end="url(#arrow)"/>'
            )
    # the legend: one swatch per module
    x = LEFT
    y = height - 18
    for module, colour in COLOURS.items():
        out.append(f'<rect x="{x}" y="{y - 13}" width="16" height="16" rx="3" fill="{colour}"/>')
        label = "gateway (ASGI)" if module == "gateway" else module
        out.append(f'<text x="{x + 22}" y="{y + 1}" font-size="15">{label}</text>')
        x += 40 + round(8.2 * len(label))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _step(total: float) -> float:
    """A round tick interval giving five to ten ticks over ``total`` ms."""
    for step in (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 25, 50, 100):
        if total / step <= 10:
            return float(step)
    return total / 10


def render_png(source: Path, target: Path, chromium: str) -> None:
    """Screenshot ``source`` (an SVG) with headless Chromium at twice its size."""
    text = source.read_text()
    width = int(text.split('width="', 1)[1].split('"', 1)[0])
    height = int(text.split('height="', 1)[1].split('"', 1)[0])
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "page.html"
        page.write_text(
            f'<!doctype html><html><body style="margin:0;overflow:hidden">{text}</body></html>'
        )
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--run-all-compositor-stages-before-draw",
                "--virtual-time-budget=2000",
                "--force-device-scale-factor=2",
                f"--window-size={width},{height}",
                f"--user-data-dir={folder}/profile",
                f"--screenshot={target}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=STATIC / "booking-trace.svg")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    rows = rows_of(booking_spans())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(svg(rows))
    print(f"wrote {args.out}")
    for row in rows:
        print(f"{'  ' * row.depth}{row.name} [{row.kind}] {row.end - row.start:.3f} ms")
    if Path(args.chromium).exists():
        png = args.out.with_suffix(".png")
        render_png(args.out, png, args.chromium)
        print(f"wrote {png}")
    else:
        print(f"no Chromium at {args.chromium}: the PNG is not rendered", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
