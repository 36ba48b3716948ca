"""Request/response transformation: an older representation served beside today's, both live."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

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
