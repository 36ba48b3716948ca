"""Traces as files: JSON for tools, Mermaid sequence diagrams as living documentation.

Both keep the trace's causal order: a call where it started, its return once everything nested
under it is shown. Every text a diagram shows is escaped by Mermaid's grammar
(:func:`mermaid_text`), and the participants' ids never collide with its keywords, so the
diagram reads in the real renderer as it reads here. :func:`trace_file_stem` names a test's
trace files safely on every operating system.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aura.breaker import BreakerTransition
from aura.bus import Delivery
from aura.events import Event
from aura.registry import ServiceCall
from aura.testing.recorders import CallInProgress, DeliveryInProgress, Trace, TraceEntry

__all__ = [
    "mermaid_id",
    "mermaid_text",
    "trace_file_stem",
    "trace_to_json",
    "trace_to_mermaid",
    "write_trace",
]

OUTSIDE = "test"
"""The lifeline of code outside any module (the test itself, a script)."""


# --- JSON ----------------------------------------------------------------------------------------


def trace_to_json(trace: Trace) -> list[dict[str, Any]]:
    """Return the trace as JSON-ready entries, in causal order.

    Each entry has ``kind``, ``depth`` and ``parent``: the index in this list of the call or
    delivery it ran inside (``None`` at the top level). A call's ``fake`` tells whether a
    :class:`~aura.testing.fakes.RecordingFake` served it; ``outcome`` is ``"running"`` for a
    call or a delivery that had not ended when the trace was written.
    """
    return [
        {"kind": entry.kind, "depth": entry.depth, "parent": entry.parent, **_fields(trace, entry)}
        for entry in trace.entries
    ]


def _fields(trace: Trace, entry: TraceEntry) -> dict[str, Any]:
    item = entry.item
    if isinstance(item, Event):
        return {"number": trace.numbers.get(item.event_id), **item.to_dict()}
    if isinstance(item, Delivery | DeliveryInProgress):
        return _delivery(item)
    if isinstance(item, ServiceCall | CallInProgress):
        return _call(item, entry.fake)
    return _transition(item)


def _delivery(item: Delivery | DeliveryInProgress) -> dict[str, Any]:
    fields = {
        "event_id": item.event.event_id,
        "event_type": item.event.event_type,
        "subscriber_module": item.subscriber_module,
    }
    if isinstance(item, DeliveryInProgress):
        return {**fields, "handler": None, "outcome": "running", "error": None, "duration_ms": None}
    return {
        **fields,
        "handler": item.handler_name,
        "outcome": "ok" if item.error is None else "failed",
        "error": None if item.error is None else f"{type(item.error).__name__}: {item.error}",
        "duration_ms": round(item.duration * 1000, 3),
    }


def _call(item: ServiceCall | CallInProgress, fake: bool) -> dict[str, Any]:
    fields = {
        "caller_module": item.caller_module,
        "provider_module": item.provider_module,
        "service": item.service_name,
        "method": item.method,
        "fake": fake,
        "started_at": item.started_at.isoformat(),
        "correlation_id": item.correlation_id,
    }
    if isinstance(item, CallInProgress):
        return {**fields, "outcome": "running", "error": None, "duration_ms": None}
    return {
        **fields,
        "outcome": item.outcome,
        "error": None if item.error is None else str(item.error),
        "duration_ms": round(item.duration * 1000, 3),
    }


def _transition(item: BreakerTransition) -> dict[str, Any]:
    return {
        "breaker": item.name,
        "old": item.old.value,
        "new": item.new.value,
        "at": item.at.isoformat(),
        "last_error": None if item.last_error is None else str(item.last_error),
    }


# --- Mermaid -------------------------------------------------------------------------------------

# What Mermaid's sequenceDiagram lexer treats specially in a message, a note or an alias: `#`
# starts a comment, `;` ends the statement, `<` `>` `&` are HTML to the renderer, `%` starts a
# directive or comment, and `:` feeds the preprocessing of `style ...: ...#...;` lines. Each is
# written as Mermaid's entity code, `#<decimal>;`, which the renderer turns back into the
# character.
_SPECIAL = re.compile(r"[#;:<>&%]")
_NEWLINE = re.compile(r"\r\n|\r|\n")

# The words its lexer reads as keywords wherever a participant id may stand (case-insensitive,
# followed by a non-word character): an id spelled so breaks the diagram.
_KEYWORDS = frozenset(
    {
        "accdescr",
        "acctitle",
        "activate",
        "actor",
        "alt",
        "and",
        "as",
        "autonumber",
        "box",
        "break",
        "create",
        "critical",
        "deactivate",
        "destroy",
        "details",
        "else",
        "end",
        "link",
        "links",
        "loop",
        "note",
        "off",
        "opt",
        "option",
        "over",
        "par",
        "par_over",
        "participant",
        "properties",
        "rect",
        "sequencediagram",
        "title",
    }
)
_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def mermaid_text(text: str) -> str:
    """Escape ``text`` for a Mermaid sequence diagram's message, note or participant alias.

    The characters its grammar gives a meaning there become entity codes (``#`` is ``#35;``,
    ``;`` is ``#59;``, and ``:`` ``<`` ``>`` ``&`` ``%`` alike); a line break becomes ``<br>``,
    which the renderer draws as one.
    """
    escaped = _SPECIAL.sub(lambda match: f"#{ord(match.group())};", text)
    return _NEWLINE.sub("<br>", escaped)


def mermaid_id(name: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A participant id for ``name`` that Mermaid reads as an id, not among ``taken``.

    A module name is its own id, unless it is one of the grammar's keywords (``end``,
    ``loop``, ...): that one, and any other name that is not a plain identifier, gets a safe
    spelling with a ``_`` suffix (the diagram shows the name itself, as the alias).
    """
    candidate = name if _ID.fullmatch(name) else re.sub(r"\W", "_", name, flags=re.ASCII) or "_"
    if candidate[0].isdigit():
        candidate = f"_{candidate}"
    while candidate.lower() in _KEYWORDS or candidate in taken:
        candidate = f"{candidate}_"
    return candidate


def trace_to_mermaid(trace: Trace) -> str:
    """Render the trace as a Mermaid sequence diagram with the modules as lifelines.

    An event is a note over its publisher and an asynchronous arrow from it to each subscriber
    (a cross for a failed handler; ``(attempt 2)`` on a handler's second delivery of the same
    event, a retried dead letter); a service call is a synchronous arrow that activates its
    provider, answered once everything nested under it is drawn (``(fake)`` when a fake served
    it); a breaker transition is a note.
    """
    entries = trace.entries
    returns = _returns(entries)
    # module (None: code outside any module, drawn as "test") -> id; keyed by the module, so
    # that a module named "test" is a lifeline of its own
    participants: dict[str | None, str] = {}

    def lifeline(name: str | None) -> str:
        if name not in participants:
            participants[name] = mermaid_id(name or OUTSIDE, set(participants.values()))
        return participants[name]

    body: list[str] = []
    # deliveries so far of each event to each handler
    attempts: dict[tuple[str, str, str], int] = {}
    for index, entry in enumerate(entries):
        body.extend(_mermaid_lines(trace, entry, lifeline, attempts))
        for ended in returns.get(index, ()):
            call = entries[ended].item
            assert isinstance(call, ServiceCall)  # only ended calls have a return
            answer = "ok" if call.error is None else f"raised {type(call.error).__name__}"
            provider, caller = lifeline(call.provider_module), lifeline(call.caller_module)
            body.append(f"    {provider}-->>-{caller}: {mermaid_text(answer)}")
    lines = ["sequenceDiagram"]
    for module, ident in participants.items():
        name = module or (OUTSIDE if OUTSIDE not in participants else "outside any module")
        alias = "" if ident == name else f" as {mermaid_text(name)}"
        lines.append(f"    participant {ident}{alias}")
    lines.extend(body)
    return "\n".join(lines) + "\n"


def _returns(entries: list[TraceEntry]) -> dict[int, list[int]]:
    """For each entry, the ended calls to answer right after it: those whose last nested
    entry it is, innermost first."""
    last = list(range(len(entries)))
    for index in range(len(entries) - 1, -1, -1):
        parent = entries[index].parent
        if parent is not None and 0 <= parent < index:
            last[parent] = max(last[parent], last[index])
    returns: dict[int, list[int]] = {}
    for index in range(len(entries) - 1, -1, -1):
        if isinstance(entries[index].item, ServiceCall):
            returns.setdefault(last[index], []).append(index)
    return returns


def _mermaid_lines(
    trace: Trace,
    entry: TraceEntry,
    lifeline: Callable[[str | None], str],
    attempts: dict[tuple[str, str, str], int],
) -> list[str]:
    item = entry.item
    if isinstance(item, Event):
        number = trace.numbers.get(item.event_id, "?")
        publisher = lifeline(item.source_module)
        text = mermaid_text(f"#{number} publishes {item.event_type}")
        return [f"    Note over {publisher}: {text}"]
    if isinstance(item, Delivery | DeliveryInProgress):
        number = trace.numbers.get(item.event.event_id, "?")
        if isinstance(item, DeliveryInProgress):
            arrow, suffix = "-)", " (running)"
        elif item.error is None:
            arrow, suffix = "-)", ""
        else:
            arrow, suffix = "-x", f" FAILED {type(item.error).__name__}"
        if isinstance(item, Delivery):  # a redelivery (a retried dead letter) says which it is
            key = (item.event.event_id, item.subscriber_module, item.handler_name)
            attempts[key] = attempt = attempts.get(key, 0) + 1
            if attempt > 1:
                suffix = f" (attempt {attempt}){suffix}"
        source, target = lifeline(item.event.source_module), lifeline(item.subscriber_module)
        text = mermaid_text(f"#{number} {item.event.event_type}{suffix}")
        return [f"    {source}{arrow}{target}: {text}"]
    if isinstance(item, ServiceCall | CallInProgress):
        caller, provider = lifeline(item.caller_module), lifeline(item.provider_module)
        marks = " (fake)" if entry.fake else ""
        if isinstance(item, CallInProgress):
            marks += " (running)"
        text = mermaid_text(f"{item.service_name}.{item.method}(){marks}")
        activate = "" if isinstance(item, CallInProgress) else "+"
        return [f"    {caller}->>{activate}{provider}: {text}"]
    change = f"breaker {item.name} {item.old.value} to {item.new.value}"
    return [f"    Note right of {lifeline(None)}: {mermaid_text(change)}"]


# --- files ---------------------------------------------------------------------------------------

_READABLE = 100
"""How many characters of the node id a trace file's name keeps (before its hash)."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
# Names Windows reserves for devices, with or without an extension.
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{n}" for n in range(1, 10)}
    | {f"lpt{n}" for n in range(1, 10)}
)


def trace_file_stem(nodeid: str) -> str:
    """The file name stem of a test's trace: readable, safe on every OS, unique and bounded.

    The node id's letters, digits, ``.``, ``_`` and ``-`` are kept (any other run becomes
    one ``_``), cut to 100 characters, then a hash of the whole node id is appended: ids that
    read alike (``a/b`` and ``a_b``, or ids differing only in case) get different names, and a
    name is never longer than 113 characters, however long the id.
    """
    readable = _UNSAFE.sub("_", nodeid)[:_READABLE].strip("._-")
    if readable.split(".", 1)[0].lower() in _RESERVED:
        readable = f"_{readable}"
    digest = hashlib.sha256(nodeid.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{readable}-{digest}" if readable else digest


def write_trace(trace: Trace, directory: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.mmd`` into ``directory``; return both paths.

    For a test, name them with :func:`trace_file_stem` of its node id.
    """
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{stem}.json"
    mermaid_path = directory / f"{stem}.mmd"
    json_path.write_text(json.dumps(trace_to_json(trace), indent=2) + "\n", encoding="utf-8")
    mermaid_path.write_text(trace_to_mermaid(trace), encoding="utf-8")
    return json_path, mermaid_path
