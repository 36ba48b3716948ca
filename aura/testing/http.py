"""The gateway in a test: in-process HTTP through the real middleware, as any caller.

:class:`GatewayClient` wraps a :class:`~aura.web.Gateway` built with a fresh
:class:`~aura.web.auth.TokenAuthority`. ``client.as_user(user)`` returns a :class:`Caller`
sending that user's bearer token with every request, so a module's access rules are exercised
in a line::

    def test_a_patient_sees_only_their_own_sessions(aura_gateway, patient, other_patient):
        me = aura_gateway.as_user(patient)
        assert me.get(f"/api/users/users/{patient['id']}").status_code == 200
        assert me.get(f"/api/users/users/{other_patient['id']}").status_code == 404

Needs the ``web`` extra; the ``aura_gateway`` fixture of the pytest plugin builds one per test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from aura.exceptions import ConfigurationError
from aura.platform import Platform
from aura.web.auth import TokenAuthority
from aura.web.gateway import Gateway
from aura.web.problems import ErrorStatuses

if TYPE_CHECKING:
    from aura.telemetry import Telemetry

__all__ = ["Caller", "GatewayClient"]


class Caller:
    """Sends requests through the gateway with one set of headers (a token, or none)."""

    def __init__(self, gateway: Gateway, headers: Mapping[str, str], who: str) -> None:
        self.gateway = gateway
        self.headers = dict(headers)
        self.who = who

    def __repr__(self) -> str:
        return f"<Caller {self.who}>"

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """Send one request; ``options`` as for :meth:`Gateway.call` (``json``, ``params``...)."""
        headers = httpx.Headers(self.headers)  # case-insensitive: a given header replaces ours
        headers.update(options.pop("headers", None) or {})
        return self.gateway.call(method, path, headers=dict(headers.items()), **options)

    def get(self, path: str, **options: Any) -> httpx.Response:
        """``GET path``."""
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Any) -> httpx.Response:
        """``POST path``."""
        return self.request("POST", path, **options)

    def put(self, path: str, **options: Any) -> httpx.Response:
        """``PUT path``."""
        return self.request("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> httpx.Response:
        """``PATCH path``."""
        return self.request("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> httpx.Response:
        """``DELETE path``."""
        return self.request("DELETE", path, **options)


class GatewayClient:
    """A gateway over ``platform`` with its own token authority; see the module docs."""

    def __init__(
        self,
        platform: Platform,
        *,
        errors: ErrorStatuses | None = None,
        authority: TokenAuthority | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.authority = authority if authority is not None else TokenAuthority.generate()
        self.gateway = Gateway(platform, auth=self.authority, errors=errors, telemetry=telemetry)

    def close(self) -> None:
        """Stop the gateway observing the platform."""
        self.gateway.close()

    def token(self, subject: str, **claims: Any) -> str:
        """A valid token of this gateway: :meth:`TokenAuthority.issue` of its authority."""
        return self.authority.issue(subject, **claims)

    def as_user(
        self, user: Mapping[str, Any] | int, *, roles: Iterable[str] | None = None
    ) -> Caller:
        """A caller acting as ``user``: a user dict (its ``id`` and ``role``) or a user id.

        With a user id, give ``roles``; with a dict, they default to its ``role``.
        """
        if isinstance(user, Mapping):
            user_id, held = user["id"], list(roles) if roles is not None else [user["role"]]
        elif isinstance(user, int) and not isinstance(user, bool):
            if roles is None:
                raise ConfigurationError(
                    f"as_user({user}) needs the user's roles: as_user({user}, roles=['patient']),"
                    " or pass the user dict."
                )
            user_id, held = user, list(roles)
        else:
            raise ConfigurationError(
                f"as_user() takes a user dict or a user id, got {type(user).__name__}."
            )
        token = self.token(f"user:{user_id}", roles=held, user_id=user_id)
        return self.with_token(token, f"user {user_id} ({', '.join(held) or 'no role'})")

    def as_operator(self, subject: str = "operator") -> Caller:
        """A caller with the operator role (a service, no user id)."""
        return self.with_token(self.token(subject, roles=["operator"]), f"operator {subject!r}")

    def with_token(self, token: str, who: str = "a given token") -> Caller:
        """A caller sending ``token`` as it is (expired, forged... for attacks)."""
        return Caller(self.gateway, {"Authorization": f"Bearer {token}"}, who)

    def anonymous(self) -> Caller:
        """A caller with no token."""
        return Caller(self.gateway, {}, "anonymous")
