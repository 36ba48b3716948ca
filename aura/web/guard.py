"""The gateway's door: who is calling (the bearer token), how often (rate limits), and whether
the route's access rule lets them in.

:class:`Guard` is built once per gateway. Every route has a rule (:mod:`aura.access`); a route
mounted without one is refused when the gateway is built, so no endpoint can be served by
accident. Anonymous requests reach only :data:`~aura.access.PUBLIC` routes; any other gets 401
with ``WWW-Authenticate: Bearer``. A route may also carry a rate limit (``limit="5/minute"``),
counted in a moving window by the ``limits`` library, per caller when authenticated and per
client address otherwise; past it the answer is 429 with ``Retry-After``.

The door (:meth:`Guard.enter`) runs in the gateway's middleware, before routing and parsing:
an anonymous or badly authenticated request is refused before its body is read, so it learns
nothing of the route's schema. The route's rule is checked once its parameters are parsed.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from aura.access import AccessRequest, Principal, Rule
from aura.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ModuleDefinitionError,
    RateLimitedError,
)
from aura.web.auth import Authenticator

__all__ = ["Guard"]


class Guard:
    """Authenticates requests, applies rate limits and access rules; see the module docs."""

    def __init__(
        self, authenticator: Authenticator, checks: Sequence[Callable[[Principal], None]] = ()
    ) -> None:
        if not callable(getattr(authenticator, "authenticate", None)):
            raise ConfigurationError(
                f"The gateway's auth must have authenticate(token) -> Principal, got "
                f"{authenticator!r}. Pass auth=TokenAuthority.generate() or one read with "
                "TokenAuthority.from_file(...)."
            )
        self.authenticator = authenticator
        self.checks = tuple(checks)
        """The modules' :meth:`~aura.module.Module.on_authenticate` hooks, bound."""
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._doors: dict[int, _Door] = {}

    def limit(self, route: str, limit: str | None) -> RateLimitItem | None:
        """Parse a route's ``limit`` ("5/minute") once, when the route is mounted."""
        if limit is None:
            return None
        try:
            return parse(limit)
        except (ValueError, TypeError):
            raise ModuleDefinitionError(
                f"Route {route} has the rate limit {limit!r}, which is not one. Write e.g. "
                "limit='5/minute' or limit='100/hour'."
            ) from None

    def protect(
        self,
        route: BaseRoute,
        rule: Rule,
        *,
        limit: RateLimitItem | None = None,
        label: str = "",
        unlimited: frozenset[str] = frozenset(),
    ) -> None:
        """Put ``route`` behind the door: anonymous callers pass only if ``rule`` is public, and
        ``limit`` counts its requests, but those of callers holding an ``unlimited`` role. Done
        once per route, when it is mounted."""
        self._doors[id(route)] = _Door(route, rule, limit, label, unlimited)

    def enter(self, scope: Scope) -> None:
        """Let an HTTP request in, before routing and parsing; called by the middleware.

        Reads the bearer token (an invalid one is refused, except on a public route, which then
        treats the caller as anonymous: a stale token must not lock anyone out of the login),
        refuses an anonymous request to anything but a public route (an unknown path too:
        anonymous callers learn nothing of the routes), and counts the request against its
        route's rate limit — per caller when authenticated, per client address otherwise. The
        principal is left in ``scope["aura.principal"]`` for the route and the request log.
        """
        connection = HTTPConnection(scope)
        door, public_path = self._door_of(scope)
        public = public_path or (door is not None and door.rule.public)
        try:
            principal = self.principal(connection)
        except AuthenticationError:
            if not public:
                raise
            principal = None
        scope["aura.principal"] = principal
        if principal is None and not public:
            raise AuthenticationError(
                f"{scope.get('method', 'GET')} {connection.url.path} needs a bearer token: "
                "send 'Authorization: Bearer <token>'.",
                reason=None,
            )
        if door is not None and door.limit is not None:
            # A public route (a login) counts per address, token or not: a token must not buy
            # a fresh budget of guesses.
            if principal is None or door.rule.public:
                self._count(door, _address(connection), "this address")
            elif not (door.unlimited and principal.has_role(*door.unlimited)):
                self._count(door, principal.subject, "you")

    def principal(self, connection: HTTPConnection) -> Principal | None:
        """The caller's principal from ``Authorization: Bearer``; ``None`` without the header.

        A token the authenticator accepts is then shown to every module's
        :meth:`~aura.module.Module.on_authenticate` hook, any of which may still refuse it.
        """
        header = connection.headers.get("authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError(
                "The Authorization header must be 'Bearer <token>'. Log in to get a token.",
                reason="invalid_request",
            )
        principal = self.authenticator.authenticate(token.strip())
        for check in self.checks:
            check(principal)
        return principal

    @staticmethod
    def caller(connection: HTTPConnection) -> Principal | None:
        """The principal :meth:`enter` let in for this request (``None``: anonymous)."""
        principal: Principal | None = connection.scope.get("aura.principal")
        return principal

    def _door_of(self, scope: Scope) -> tuple[_Door | None, bool]:
        """The route's door, and whether its path (under another method) is a public route's.

        A request to a public path with another method (``OPTIONS``, ``PUT /health``) goes on
        to the router, which answers 405 with the methods allowed, as HTTP asks.
        """
        public_path = False
        for door in self._doors.values():
            match, _ = door.route.matches(scope)
            if match is Match.FULL:
                return door, False
            if match is Match.PARTIAL and door.rule.public:
                public_path = True
        return None, public_path

    def check(
        self,
        rule: Rule,
        principal: Principal | None,
        connection: HTTPConnection,
        params: Mapping[str, Any],
        resolve: Callable[[Any], Any],
    ) -> None:
        """Apply ``rule`` to the request's parsed parameters."""
        request = AccessRequest(
            str(connection.scope.get("method", "GET")), connection.url.path, params, resolve
        )
        rule.check(principal, request)

    def _count(self, door: _Door, who: str, whom: str) -> None:
        limit = door.limit
        assert limit is not None
        if self._limiter.hit(limit, door.label, who):
            return
        reset_at, _ = self._limiter.get_window_stats(limit, door.label, who)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimitedError(
            f"Too many requests to {door.label} from {whom}: the limit is {limit}. Try again "
            f"in {retry_after} s.",
            retry_after=retry_after,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class _Door:
    route: BaseRoute
    rule: Rule
    limit: RateLimitItem | None
    label: str
    unlimited: frozenset[str] = frozenset()


def _address(connection: HTTPConnection) -> str:
    """Whom a per-address limit counts: the client's IPv4 address, or its IPv6 /64 network
    (one subscriber holds a whole /64, so counting single IPv6 addresses would give them
    2**64 budgets)."""
    host = connection.client.host if connection.client is not None else "unknown"
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host.split("%", 1)[0])
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))
