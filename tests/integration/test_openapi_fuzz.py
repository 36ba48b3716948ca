"""Schemathesis over the gateway's OpenAPI: generated requests find no 5xx and no schema breaks,
and none gets in without a token.

Valid and invalid requests are generated for every operation of ``/openapi.json`` and sent to
the ASGI app, once with an operator's bearer token (whom every route lets in) and once with
none. With the token, schemathesis's checks require no server error, a documented status and
content type, a body matching the documented schema, invalid data refused and valid data not.
Without one, every operation answers 401 with ``WWW-Authenticate``, except those the schema
marks as needing no token (``security: []``: ``/health`` and the login).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from aura.platform import Platform
from aura.testing.http import GatewayClient


def _openapi() -> dict[str, Any]:
    """The gateway's OpenAPI document, from a platform that lives only while it is read."""
    with Platform(Platform.discover("modules")) as platform:
        client = GatewayClient(platform)
        document = client.as_operator().get("/openapi.json").json()
        client.close()
    assert isinstance(document, dict)
    return document


# Tests are parametrized by hand rather than with @schema.parametrize(): under pytest 9 that
# gives every operation's test the same node id (schemathesis 4.32 passes the bare function
# name as originalname), and from_fixture fails on request.node._nodeid, which pytest 9 removed.
DOCUMENT = _openapi()
# The tests send the Authorization header themselves (an operator's token, or none): generated
# values for the bearer scheme would be refused with a challenge the schema cannot document.
CONFIG = SchemathesisConfig.from_dict({"generation": {"with-security-parameters": False}})
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
OPERATIONS = [result.ok().label for result in SCHEMA.get_all_operations()]
PUBLIC = sorted(
    f"{method.upper()} {path}"
    for path, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
    if operation.get("security") == []
)
"""The operations the schema says need no token."""
GUARDED = [label for label in OPERATIONS if label not in PUBLIC]
PLATFORM_ROUTES = {"GET /api/_modules"}
"""The gateway's own guarded routes (their rule is a FastAPI dependency, checked first); they
take no parameters, so there is no invalid request to make of them."""


class Fuzzed:
    """The test's gateway, and its schema as schemathesis loaded it from the app (with a token)."""

    def __init__(self, client: GatewayClient) -> None:
        self.client = client
        self.operator = {"Authorization": f"Bearer {client.token('fuzzer', roles=['operator'])}"}
        self.schema = schemathesis.openapi.from_asgi(
            "/openapi.json", client.gateway.app, config=CONFIG, headers=self.operator
        )

    def cases(self, label: str, *modes: GenerationMode) -> st.SearchStrategy[schemathesis.Case]:
        operation = self.schema.find_operation_by_label(label)
        assert operation is not None
        return st.one_of(*(operation.as_strategy(mode) for mode in modes))


@pytest.fixture
def fuzzed(aura_gateway: GatewayClient) -> Fuzzed:
    users = aura_gateway.gateway.platform.registry.get_service("users", "UserService")
    users.register_user("pat@example.com", "Pat Doe", "patient")  # ids 1 and 2 exist, so some
    users.register_user("dr.t@example.com", "Dr T", "therapist")  # requests get past the 404s
    return Fuzzed(aura_gateway)


BOTH = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def test_only_health_and_the_login_need_no_token() -> None:
    assert PUBLIC == ["GET /health", "POST /api/users/token"]
    assert DOCUMENT["security"] == [{"bearer": []}]


@pytest.mark.parametrize("label", OPERATIONS)
def test_generated_requests_get_no_server_error_and_match_the_schema(
    label: str, fuzzed: Fuzzed
) -> None:
    """As an operator; schemathesis's own ignored_auth check also resends a successful request
    without the token, and with a made-up one, and requires them refused."""

    @EXAMPLES
    @given(case=fuzzed.cases(label, *BOTH))
    def generated(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=fuzzed.operator)

    generated()


def _assert_needs_a_token(response: Any) -> None:
    """A schemathesis response: 401 asking for a bearer token, as a problem."""
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == ['Bearer realm="aura"']
    assert response.headers["content-type"] == ["application/problem+json"]
    assert response.json()["detail"].endswith(
        "needs a bearer token: send 'Authorization: Bearer <token>'."
    )


@pytest.mark.parametrize("label", GUARDED)
def test_valid_requests_without_a_token_get_401(label: str, fuzzed: Fuzzed) -> None:
    @EXAMPLES
    @given(case=fuzzed.cases(label, GenerationMode.POSITIVE))
    def generated(case: schemathesis.Case) -> None:
        response = case.call()
        # Every guarded route, rate-limited or not: an anonymous request is refused before it
        # is counted, so a 429 here would mean anonymous requests spend a caller's budget.
        _assert_needs_a_token(response)

    generated()


@pytest.mark.parametrize("label", [label for label in GUARDED if label not in PLATFORM_ROUTES])
def test_invalid_requests_without_a_token_get_401_too(label: str, fuzzed: Fuzzed) -> None:
    @EXAMPLES
    @given(case=fuzzed.cases(label, GenerationMode.NEGATIVE))
    def generated(case: schemathesis.Case) -> None:
        response = case.call()
        # Every guarded route, rate-limited or not: an anonymous request is refused before it
        # is counted, so a 429 here would mean anonymous requests spend a caller's budget.
        _assert_needs_a_token(response)

    generated()


@pytest.mark.parametrize("label", PUBLIC)
def test_operations_that_need_no_token_answer_anonymous_requests_by_the_schema(
    label: str, fuzzed: Fuzzed
) -> None:
    @EXAMPLES
    @given(case=fuzzed.cases(label, *BOTH))
    def generated(case: schemathesis.Case) -> None:
        case.call_and_validate()

    generated()
