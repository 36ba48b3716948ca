"""Schemathesis over the gateway's OpenAPI: generated requests find no 5xx and no schema breaks.

Valid and invalid requests are generated for every operation of ``/openapi.json`` and sent to
the ASGI app; schemathesis's checks then require no server error, a documented status and
content type, a body matching the documented schema, invalid data refused and valid data not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from aura.platform import Platform
from aura.web import Gateway


def _openapi() -> dict[str, Any]:
    """The gateway's OpenAPI document, from a platform that lives only while it is read."""
    with Platform(Platform.discover("modules")) as platform:
        gateway = Gateway(platform)
        document = gateway.call("GET", "/openapi.json").json()
        gateway.close()
    assert isinstance(document, dict)
    return document


# Tests are parametrized by hand rather than with @schema.parametrize(): under pytest 9 that
# gives every operation's test the same node id (schemathesis 4.32 passes the bare function
# name as originalname), and from_fixture fails on request.node._nodeid, which pytest 9 removed.
SCHEMA = schemathesis.openapi.from_dict(_openapi())
OPERATIONS = [result.ok().label for result in SCHEMA.get_all_operations()]


@pytest.fixture
def gateway(aura_platform: Platform) -> Iterator[Gateway]:
    users = aura_platform.registry.get_service("users", "UserService")
    users.register_user("pat@example.com", "Pat Doe", "patient")  # ids 1 and 2 exist, so some
    users.register_user("dr.t@example.com", "Dr T", "therapist")  # requests get past the 404s
    gateway = Gateway(aura_platform)
    yield gateway
    gateway.close()


@pytest.mark.parametrize("label", OPERATIONS)
def test_generated_requests_get_no_server_error_and_match_the_schema(
    label: str, gateway: Gateway
) -> None:
    operation = SCHEMA.find_operation_by_label(label)
    assert operation is not None
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def generated(case: schemathesis.Case) -> None:
        case.call_and_validate(app=gateway.app)

    generated()
