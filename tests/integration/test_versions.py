"""Request/response transformation: an older representation served beside today's, both live."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import Body
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, field_validator

from aura.access import authenticated
from aura.exceptions import ModuleDefinitionError
from aura.module import Module, Representation
from aura.platform import Platform
from aura.testing.http import GatewayClient


class NewContact(BaseModel):
    """A contact to add."""

    name: str
    email: str


class Contact(BaseModel):
    """A stored contact."""

    id: int
    name: str
    email: str


def contacts_module() -> Module:
    module = Module("contacts")
    stored: dict[int, Contact] = {}
    older = [Representation(1, renames={"name": "full_name"})]

    @module.route("POST", "/contacts", status_code=201, allow=authenticated(), versions=older)
    def add(contact: NewContact) -> Contact:
        created = Contact(id=len(stored) + 1, **contact.model_dump())
        stored[created.id] = created
        return created

    @module.route("GET", "/contacts", allow=authenticated(), versions=older)
    def every() -> list[Contact]:
        return list(stored.values())

    return module


@pytest.fixture
def client() -> Any:
    with Platform([contacts_module()]) as platform:
        gateway = GatewayClient(platform)
        yield gateway.as_operator()
        gateway.close()


def test_todays_clients_and_version_1_clients_are_served_side_by_side(client: Any) -> None:
    today = client.post("/api/contacts/contacts", json={"name": "Pat", "email": "p@x.org"})
    assert (today.status_code, today.json()) == (201, {"id": 1, "name": "Pat", "email": "p@x.org"})
    old = client.post("/api/v1/contacts/contacts", json={"full_name": "Dr T", "email": "t@x.org"})
    assert (old.status_code, old.json()) == (
        201,
        {"id": 2, "full_name": "Dr T", "email": "t@x.org"},
    )
    assert client.get("/api/contacts/contacts").json() == [
        {"id": 1, "name": "Pat", "email": "p@x.org"},
        {"id": 2, "name": "Dr T", "email": "t@x.org"},
    ]
    assert client.get("/api/v1/contacts/contacts").json() == [
        {"id": 1, "full_name": "Pat", "email": "p@x.org"},
        {"id": 2, "full_name": "Dr T", "email": "t@x.org"},
    ]


def test_each_version_validates_its_own_names(client: Any) -> None:
    wrong = client.post("/api/v1/contacts/contacts", json={"name": "Pat", "email": "p@x.org"})
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "body.full_name"
    assert (
        client.post("/api/contacts/contacts", json={"full_name": "x", "email": "e"}).status_code
        == 422
    )


def test_the_schema_documents_both_versions(client: Any) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/api/contacts/contacts", "/api/v1/contacts/contacts"} <= set(schema["paths"])
    components = schema["components"]["schemas"]
    assert set(components["NewContactV1"]["properties"]) == {"full_name", "email"}
    assert set(components["ContactV1"]["properties"]) == {"id", "full_name", "email"}
    post = schema["paths"]["/api/v1/contacts/contacts"]["post"]
    assert post["operationId"] == "contacts_add_v1"


def test_an_older_version_is_checked_by_the_same_rule() -> None:
    with Platform([contacts_module()]) as platform:
        gateway = GatewayClient(platform)
        assert gateway.anonymous().get("/api/v1/contacts/contacts").status_code == 401
        gateway.close()


@pytest.mark.parametrize(
    ("versions", "message"),
    [
        (
            [Representation(1), Representation(1)],
            "versions of route GET /x in module 'm' must be Representations of distinct "
            "versions, got (Representation(version=1, renames={}), Representation(version=1, "
            "renames={})).",
        ),
        (
            ["v1"],
            "versions of route GET /x in module 'm' must be Representations of distinct "
            "versions, got ('v1',).",
        ),
    ],
)
def test_bad_versions_are_refused_at_declaration(versions: Any, message: str) -> None:
    with pytest.raises(ModuleDefinitionError) as caught:
        Module("m").route("GET", "/x", allow=authenticated(), versions=versions)
    assert str(caught.value) == message


def test_a_bad_representation_is_refused() -> None:
    with pytest.raises(ModuleDefinitionError) as caught:
        Representation(0)
    assert str(caught.value) == (
        "A representation's version is a whole number from 1, got 0. Write Representation(1, "
        "renames={'name': 'full_name'})."
    )
    with pytest.raises(ModuleDefinitionError) as renamed:
        Representation(1, renames={"name": "full name"})
    assert str(renamed.value) == (
        "renames of version 1 maps today's field names to that version's, got {'name': "
        "'full name'}. Write renames={'name': 'full_name'}."
    )


def test_the_users_module_serves_version_1_clients_full_name(aura_gateway: GatewayClient) -> None:
    operator = aura_gateway.as_operator()
    created = operator.post(
        "/api/v1/users/users",
        json={"email": "pat@example.com", "full_name": "Pat Doe", "role": "patient"},
    )
    assert created.status_code == 201
    user = created.json()
    assert (user["full_name"], "name" in user) == ("Pat Doe", False)
    me = aura_gateway.as_user(user["id"], roles=["patient"])
    assert me.get(f"/api/users/users/{user['id']}").json()["name"] == "Pat Doe"
    renamed = me.patch(f"/api/v1/users/users/{user['id']}", json={"full_name": "Pat Q. Doe"})
    assert renamed.json()["full_name"] == "Pat Q. Doe"
    assert me.get(f"/api/users/users/{user['id']}").json()["name"] == "Pat Q. Doe"
    other = me.get(f"/api/v1/users/users/{user['id'] + 1}")
    assert other.status_code == 404  # the same rule, the same hidden refusal


def test_a_versioned_route_returning_a_mapping_is_served_unrenamed_inside() -> None:
    module = Module("maps")

    @module.route("GET", "/counts", allow=authenticated(), versions=[Representation(1)])
    def counts() -> dict[str, int]:
        return {"name": 1}

    with Platform([module]) as platform:
        gateway = GatewayClient(platform)
        assert gateway.as_operator().get("/api/v1/maps/counts").json() == {"name": 1}
        gateway.close()


# --- models wherever they appear ---------------------------------------------------------------


class Address(BaseModel):
    """Where a contact lives."""

    model_config = ConfigDict(extra="forbid")

    street: str
    name: str  # the building's name: renamed too, at every depth


class Card(BaseModel):
    """A contact with an address, refusing unknown fields."""

    model_config = ConfigDict(extra="forbid")

    name: str
    address: Address | None = None
    secret: str = "kept inside"

    @field_validator("name")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be blank")
        return value


class PublicCard(BaseModel):
    """What a card shows: no secret."""

    name: str
    address: Address | None = None


def cards_module(received: list[Any]) -> Module:
    module = Module("cards")
    older = [Representation(1, renames={"name": "full_name"})]

    @module.route("POST", "/embedded", allow=authenticated(), versions=older)
    def embedded(card: Annotated[Card, Body(embed=True)]) -> Card:
        received.append(card)
        return card

    @module.route("POST", "/optional", allow=authenticated(), versions=older)
    def optional(card: Card | None = None) -> list[Card]:
        received.append(card)
        return [card] if card is not None else []

    @module.route(
        "POST", "/public", allow=authenticated(), versions=older, response_model=PublicCard
    )
    def public(card: Card) -> Any:
        return card

    @module.route(
        "POST",
        "/trimmed",
        allow=authenticated(),
        versions=older,
        response_model_exclude={"secret"},
    )
    def trimmed(card: Card) -> Card:
        return card

    return module


@pytest.fixture
def cards() -> Any:
    received: list[Any] = []
    with Platform([cards_module(received)]) as platform:
        gateway = GatewayClient(platform)
        yield gateway.as_operator(), received
        gateway.close()


OLD_CARD = {"full_name": "Pat", "address": {"street": "1 Main St", "full_name": "Elm House"}}
TODAYS_CARD = {"name": "Pat", "address": {"street": "1 Main St", "name": "Elm House"}}


def test_an_embedded_body_and_its_nested_models_are_renamed_both_ways(cards: Any) -> None:
    client, received = cards
    answer = client.post("/api/v1/cards/embedded", json={"card": OLD_CARD})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {**OLD_CARD, "secret": "kept inside"}
    card = received[-1]
    assert isinstance(card, Card)  # the endpoint gets today's model, nested ones too
    assert isinstance(card.address, Address)
    assert card.model_dump() == {**TODAYS_CARD, "secret": "kept inside"}


def test_an_optional_body_is_renamed_and_may_be_left_out(cards: Any) -> None:
    client, received = cards
    answer = client.post("/api/v1/cards/optional", json=OLD_CARD)
    assert answer.json() == [{**OLD_CARD, "secret": "kept inside"}]
    assert received[-1].name == "Pat"
    assert client.post("/api/v1/cards/optional").json() == []


def test_an_old_body_keeps_the_models_config_and_validators(cards: Any) -> None:
    client, _ = cards
    extra = client.post("/api/v1/cards/optional", json={**OLD_CARD, "name": "today's name"})
    assert extra.status_code == 422  # extra="forbid": today's name is unknown to version 1
    assert [error["field"] for error in extra.json()["errors"]] == ["body.name"]
    nested = client.post(
        "/api/v1/cards/optional",
        json={"full_name": "Pat", "address": {"street": "x", "name": "today's"}},
    )
    assert nested.status_code == 422
    assert {error["field"] for error in nested.json()["errors"]} == {
        "body.address.full_name",
        "body.address.name",
    }
    blank = client.post("/api/v1/cards/optional", json={"full_name": "  "})
    assert blank.status_code == 422  # the validator ran: a 422, not a 500
    assert blank.json()["errors"][0]["field"] == "body.full_name"


def test_the_routes_response_model_and_its_options_hold_for_old_clients(cards: Any) -> None:
    client, _ = cards
    public = client.post("/api/v1/cards/public", json={**OLD_CARD, "secret": "s3cret"})
    assert public.json() == OLD_CARD  # response_model=PublicCard: no secret, old names
    trimmed = client.post("/api/v1/cards/trimmed", json={**OLD_CARD, "secret": "s3cret"})
    assert trimmed.json() == OLD_CARD  # response_model_exclude={"secret"}
    assert "s3cret" not in client.post("/api/cards/trimmed", json=TODAYS_CARD).text


def test_a_versioned_route_returning_a_response_is_refused_at_mount() -> None:
    module = Module("raw")

    @module.route("GET", "/raw", allow=authenticated(), versions=[Representation(1)])
    def raw() -> JSONResponse:
        return JSONResponse({"name": "x"})

    with Platform([module]) as platform, pytest.raises(ModuleDefinitionError) as caught:
        GatewayClient(platform)
    where = "test_a_versioned_route_returning_a_response_is_refused_at_mount.<locals>.raw"
    assert str(caught.value) == (
        f"{where} returns a JSONResponse, whose body the gateway cannot rename "
        "for version 1. Return a model (set headers through a fastapi Response parameter), or "
        "declare response_model=."
    )


def test_an_async_route_with_models_in_a_mapping_serves_old_clients() -> None:
    module = Module("books")

    @module.route(
        "POST",
        "/shelves",
        allow=authenticated(),
        versions=[Representation(2, renames={"name": "title"})],
    )
    async def shelve(cards: list[Card]) -> dict[str, PublicCard]:
        return {str(n): PublicCard(name=card.name) for n, card in enumerate(cards)}

    with Platform([module]) as platform:
        client = GatewayClient(platform)
        answer = client.as_operator().post("/api/v2/books/shelves", json=[{"title": "Dune"}])
        client.close()
    assert (answer.status_code, answer.json()) == (200, {"0": {"title": "Dune", "address": None}})
