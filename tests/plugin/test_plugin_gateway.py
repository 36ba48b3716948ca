"""The ``aura_gateway`` fixture, end to end with pytester: a module's HTTP rules in a line."""

from __future__ import annotations

import pytest

PROJECT = {
    "notes/__init__.py": "",
    "notes/errors.py": """
class NoSuchNote(LookupError):
    pass
""",
    "notes/board/__init__.py": """
from aura.access import Principal, owner, role
from aura.module import Module
from notes.errors import NoSuchNote

module = Module("board")
module.publishes("note.read")
NOTES = {1: {"id": 1, "owner": 7, "text": "mine"}, 2: {"id": 2, "owner": 8, "text": "theirs"}}


@module.route("GET", "/users/{user_id}/notes", allow=owner("user_id") | role("operator"))
def notes_of(user_id: int, caller: Principal) -> list:
    from aura import event_bus

    event_bus.publish("note.read", {"by": caller.subject}, "board")
    return [note for note in NOTES.values() if note["owner"] == user_id]


@module.route("GET", "/notes/{note_id}", allow=role("operator"))
def note(note_id: int) -> dict:
    if note_id not in NOTES:
        raise NoSuchNote(f"No note {note_id}.")
    return NOTES[note_id]
""",
    "pyproject.toml": """
[tool.aura]
modules = "notes"

[tool.aura.web]
errors = { "notes.errors:NoSuchNote" = 404 }
""",
}

TESTS = """
def test_owner_sees_their_notes_and_events_carry_them(aura_gateway, published_events):
    me = aura_gateway.as_user(7, roles=["member"])
    response = me.get("/api/board/users/7/notes")
    assert response.status_code == 200
    assert [note["text"] for note in response.json()] == ["mine"]
    (event,) = published_events.assert_published("note.read", by="user:7")
    assert event.user_id == 7


def test_anothers_notes_are_hidden_and_anonymous_is_401(aura_gateway):
    member = aura_gateway.as_user(7, roles=["member"])
    assert member.get("/api/board/users/8/notes").status_code == 404
    anonymous = aura_gateway.anonymous().get("/api/board/users/7/notes")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="aura"'


def test_declared_domain_errors_answer_their_status(aura_gateway):
    operator = aura_gateway.as_operator()
    assert operator.get("/api/board/notes/1").json()["text"] == "mine"
    missing = operator.get("/api/board/notes/9")
    assert (missing.status_code, missing.json()["detail"]) == (404, "No note 9.")
    assert aura_gateway.as_user(7, roles=["member"]).get("/api/board/notes/1").status_code == 403
"""


@pytest.fixture
def notes(pytester: pytest.Pytester) -> pytest.Pytester:
    for name, text in PROJECT.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    pytester.syspathinsert()
    return pytester


def test_aura_gateway_serves_the_modules_with_their_rules(notes: pytest.Pytester) -> None:
    pytester = notes
    pytester.makepyfile(test_notes=TESTS)
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_a_user_id_without_roles_is_refused_with_the_fix(notes: pytest.Pytester) -> None:
    pytester = notes
    pytester.makepyfile(
        test_notes="""
import pytest
from aura.exceptions import ConfigurationError

def test_roles_needed(aura_gateway):
    with pytest.raises(ConfigurationError) as caught:
        aura_gateway.as_user(7)
    assert str(caught.value) == (
        "as_user(7) needs the user's roles: as_user(7, roles=['patient']), or pass the user dict."
    )
"""
    )
    pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider").assert_outcomes(passed=1)
