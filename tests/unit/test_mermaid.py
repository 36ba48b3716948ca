"""Mermaid export that survives the real renderer, and trace file names safe on every OS.

The renderer itself is exercised in tests/integration/test_mermaid_render.py; here each rule of
the escaping and naming is checked everywhere, without it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from aura.bus import EventBus
from aura.events import EventCatalog
from aura.registry import ServiceRegistry
from aura.testing import Trace
from aura.testing.export import (
    mermaid_id,
    mermaid_text,
    trace_file_stem,
    trace_to_json,
    trace_to_mermaid,
    write_trace,
)

# --- escaping ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        pytest.param("#3 user.registered", "#35;3 user.registered", id="hash starts a comment"),
        pytest.param("a; b", "a#59; b", id="semicolon ends a statement"),
        pytest.param("wrap: x", "wrap#58; x", id="colon"),
        pytest.param("<b>", "#60;b#62;", id="angle brackets are html"),
        pytest.param("a & b", "a #38; b", id="ampersand starts an html entity"),
        pytest.param("%%{init}%%", "#37;#37;{init}#37;#37;", id="percent starts a directive"),
        pytest.param("one\ntwo\r\nthree\rfour", "one<br>two<br>three<br>four", id="newlines"),
        pytest.param("#35;", "#35;35#59;", id="an entity already written is shown as typed"),
        pytest.param("x -->> y -x z", "x --#62;#62; y -x z", id="an arrow in a label is text"),
        pytest.param("Orders.place()", "Orders.place()", id="plain text is kept"),
    ],
)
def test_mermaid_text_escapes_what_the_grammar_gives_a_meaning(text: str, escaped: str) -> None:
    assert mermaid_text(text) == escaped


def test_every_special_character_becomes_its_decimal_entity_code() -> None:
    assert {char: mermaid_text(char) for char in "#;:<>&%"} == {
        "#": "#35;",
        ";": "#59;",
        ":": "#58;",
        "<": "#60;",
        ">": "#62;",
        "&": "#38;",
        "%": "#37;",
    }


@pytest.mark.parametrize(
    ("name", "ident"),
    [
        ("orders", "orders"),
        ("end", "end_"),
        ("loop", "loop_"),
        ("Note", "Note_"),
        ("par_over", "par_over_"),
        ("title", "title_"),
        ("end_user", "end_user"),  # no word boundary after "end": not the keyword
        ("my module", "my_module"),
        ("9lives", "_9lives"),
        ("", "_"),
    ],
)
def test_participant_ids_never_spell_a_keyword(name: str, ident: str) -> None:
    assert mermaid_id(name) == ident


def test_participant_ids_stay_distinct() -> None:
    assert mermaid_id("end", {"end_"}) == "end__"
    assert mermaid_id("a b", {"a_b"}) == "a_b_"


# --- the diagram ---------------------------------------------------------------------------------


def test_a_module_named_like_a_keyword_is_a_safe_id_shown_by_its_name() -> None:
    bus = EventBus(catalog=EventCatalog())
    trace = Trace().attach(bus)
    bus.subscribe("order.placed", lambda data: None, "end")
    bus.publish("order.placed", {}, "loop")
    assert trace_to_mermaid(trace).splitlines() == [
        "sequenceDiagram",
        "    participant loop_ as loop",
        "    participant end_ as end",
        "    Note over loop_: #35;1 publishes order.placed",
        "    loop_-)end_: #35;1 order.placed",
    ]


def test_a_module_named_test_is_not_the_lifeline_of_code_outside_modules() -> None:
    class Probe:
        def ping(self) -> str:
            return "pong"

    bus, registry = EventBus(catalog=EventCatalog()), ServiceRegistry()
    registry.register_service("test", "Probe", Probe())
    trace = Trace().attach(bus, registry)
    registry.get_service("test", "Probe").ping()  # from outside any module, to module "test"
    assert trace_to_mermaid(trace).splitlines() == [
        "sequenceDiagram",
        "    participant test as outside any module",
        "    participant test_ as test",
        "    test->>+test_: Probe.ping()",
        "    test_-->>-test: ok",
    ]


def test_a_failed_delivery_and_a_failed_call_are_labelled_escaped() -> None:
    class Flaky:
        def run(self) -> None:
            raise KeyError("x")

    bus, registry = EventBus(catalog=EventCatalog()), ServiceRegistry()
    registry.register_service("jobs", "Jobs", Flaky())
    trace = Trace().attach(bus, registry)

    def fail(data: Any) -> None:
        raise ValueError("a; b")

    bus.subscribe("job.done", fail, "audit")
    bus.publish("job.done", {}, "jobs")
    with pytest.raises(KeyError):
        registry.get_service("jobs", "Jobs").run()
    assert trace_to_mermaid(trace).splitlines()[4:] == [
        "    Note over jobs: #35;1 publishes job.done",
        "    jobs-xaudit: #35;1 job.done FAILED ValueError",
        "    test->>+jobs: Jobs.run()",
        "    jobs-->>-test: raised KeyError",
    ]


def test_every_label_line_has_no_bare_hash_or_semicolon() -> None:
    bus = EventBus(catalog=EventCatalog())
    trace = Trace().attach(bus)
    bus.subscribe("order.placed", lambda d: bus.publish("order.paid", {}, "billing"), "billing")
    bus.publish("order.placed", {}, "orders")
    for line in trace_to_mermaid(trace).splitlines()[1:]:
        label = line.split(": ", 1)[1] if ": " in line else ""
        assert re.sub(r"#\d+;", "", label).count("#") == 0, line
        assert re.sub(r"#\d+;", "", label).count(";") == 0, line


# --- file names ----------------------------------------------------------------------------------


def test_a_stem_keeps_the_node_id_readable_and_adds_its_hash() -> None:
    stem = trace_file_stem("tests/test_flow.py::test_booking[patient-1]")
    assert re.fullmatch(r"tests_test_flow\.py_test_booking_patient-1-[0-9a-f]{12}", stem)


def test_ids_that_read_alike_get_different_stems() -> None:
    stems = {trace_file_stem(nodeid) for nodeid in ("t.py::a/b", "t.py::a_b", "t.py::A_b")}
    assert len(stems) == 3


def test_a_stem_is_bounded_however_long_the_node_id() -> None:
    stem = trace_file_stem("tests/test_x.py::test_" + "long" * 200)
    assert len(stem) == 113
    assert stem.startswith("tests_test_x.py_test_longlong")


def test_a_stem_holds_only_characters_safe_on_every_os() -> None:
    stem = trace_file_stem('t.py::test[é "<>|?*:\\ \t\n]')
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", stem)
    assert not stem.startswith((".", "-"))


@pytest.mark.parametrize("nodeid", ["con.py::test", "NUL", "com1.py::test_x", "lpt9"])
def test_a_stem_never_starts_with_a_windows_device_name(nodeid: str) -> None:
    assert trace_file_stem(nodeid).startswith("_")


def test_a_node_id_with_nothing_readable_is_named_by_its_hash() -> None:
    assert re.fullmatch(r"[0-9a-f]{12}", trace_file_stem("///"))


def test_write_trace_writes_json_and_mermaid_under_a_long_id(tmp_path: Path) -> None:
    bus = EventBus(catalog=EventCatalog())
    trace = Trace().attach(bus)
    bus.publish("order.placed", {"note": "é"}, "orders")
    stem = trace_file_stem("tests/test_x.py::test_" + "long" * 200)
    json_path, mermaid_path = write_trace(trace, tmp_path / "traces", stem)
    assert json.loads(json_path.read_text(encoding="utf-8")) == trace_to_json(trace)
    assert mermaid_path.read_text(encoding="utf-8") == trace_to_mermaid(trace)
    assert sorted(p.name for p in (tmp_path / "traces").iterdir()) == [
        f"{stem}.json",
        f"{stem}.mmd",
    ]


def test_a_retried_delivery_says_which_attempt_it_is() -> None:
    bus = EventBus(catalog=EventCatalog())
    trace = Trace().attach(bus)
    failures = [ConnectionError("down"), ConnectionError("still down")]

    def charge(data: Any) -> None:
        if failures:
            raise failures.pop(0)

    def log(data: Any) -> None:
        pass

    bus.subscribe("session.completed", charge, "billing")
    bus.subscribe("session.completed", log, "audit")
    bus.publish("session.completed", {}, "sessions")
    bus.retry_dead_letters()
    bus.retry_dead_letters()
    assert trace_to_mermaid(trace).splitlines()[4:] == [
        "    Note over sessions: #35;1 publishes session.completed",
        "    sessions-xbilling: #35;1 session.completed FAILED ConnectionError",
        "    sessions-)audit: #35;1 session.completed",
        "    sessions-xbilling: #35;1 session.completed (attempt 2) FAILED ConnectionError",
        "    sessions-)billing: #35;1 session.completed (attempt 3)",
    ]
