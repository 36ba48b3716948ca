"""Who is asking, and what they may do: the :class:`Principal` and the access rules of routes.

The gateway authenticates each request (see :mod:`aura.web.auth`) and runs the module's code
with the :class:`Principal` in force: :func:`current_principal` returns it, and events published
meanwhile carry its ``user_id`` in their metadata. Each route declares who may call it, once,
next to its endpoint::

    module.route("GET", "/users/{user_id}", allow=owner("user_id") | role("operator"))(get_user)

A rule is checked before the endpoint runs, against the principal and the request's parsed
parameters (path, query and body, by the endpoint's parameter names). Rules combine with ``|``
(a request is let through when any of them allows it) and ``&`` (when all of them do). A
refusal is an :exc:`~aura.exceptions.AccessDeniedError`: 403, or 404 when it concerns
somebody else's object (``owner``, ``allow_if(..., hidden=True)``), so that the answer does
not tell whether the object exists. :data:`PUBLIC` is the one rule that lets anonymous
requests in (a login route).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from aura import context as _context
from aura.exceptions import AccessDeniedError, ConfigurationError

__all__ = [
    "HIDDEN_REFUSAL",
    "PUBLIC",
    "AccessRequest",
    "Principal",
    "Rule",
    "Verdict",
    "allow_if",
    "authenticated",
    "current_principal",
    "owner",
    "principal_scope",
    "role",
]


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a person (``user_id`` set) or a service.

    ``subject`` is the token's ``sub``; ``roles`` what it may act as; ``claims`` every claim of
    the token, for rules that need more.
    """

    subject: str
    roles: frozenset[str] = frozenset()
    user_id: int | None = None
    claims: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def has_role(self, *roles: str) -> bool:
        """Whether the principal holds any of ``roles``."""
        return not self.roles.isdisjoint(roles)

    def describe(self) -> str:
        """``user 7 (patient)`` or ``service ops (operator)``, for refusals and logs."""
        who = f"user {self.user_id}" if self.user_id is not None else f"subject {self.subject!r}"
        held = ", ".join(sorted(self.roles)) or "no role"
        return f"{who} ({held})"


_principal: ContextVar[Principal | None] = ContextVar("aura_principal", default=None)


def current_principal() -> Principal | None:
    """The principal on whose behalf the running code acts (``None`` outside a request)."""
    return _principal.get()


@contextmanager
def principal_scope(principal: Principal | None) -> Iterator[None]:
    """Run a block on behalf of ``principal``: events published in it carry its user id."""
    token = _principal.set(principal)
    user_token = _context._user_id.set(principal.user_id if principal is not None else None)
    try:
        yield
    finally:
        _context._user_id.reset(user_token)
        _principal.reset(token)


@dataclasses.dataclass(frozen=True, slots=True)
class AccessRequest:
    """What a rule sees of one request: its parsed parameters and the platform's container.

    ``params`` maps each of the endpoint's HTTP parameters (path, query, body) to the value
    FastAPI parsed; ``resolve`` returns a dependency from the container (a module's service, to
    look up who owns an object).
    """

    method: str
    path: str
    params: Mapping[str, Any]
    resolve: Callable[[Any], Any]

    def value(self, field: str) -> Any:
        """The parameter ``field``, or an attribute of one: ``"session.patient_id"``."""
        name, _, rest = field.partition(".")
        value = self.params[name]
        for attribute in rest.split(".") if rest else ():
            value = value[attribute] if isinstance(value, Mapping) else getattr(value, attribute)
        return value


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """A rule's answer: allowed, or refused (``hidden`` refusals answer 404) and why."""

    allowed: bool
    hidden: bool = False
    why: str = ""


_ALLOWED = Verdict(True)


class Rule:
    """Who may call a route. Combine rules with ``|``; see the module docs."""

    description: str = ""
    public: bool = False

    def judge(self, principal: Principal, request: AccessRequest) -> Verdict:  # pragma: no cover
        """Allow or refuse ``principal``'s ``request``."""
        raise NotImplementedError

    def parameters(self) -> frozenset[str]:
        """The endpoint parameters the rule reads (checked when the route is mounted)."""
        return frozenset()

    def check(self, principal: Principal | None, request: AccessRequest) -> None:
        """Raise :exc:`~aura.exceptions.AccessDeniedError` unless the rule lets it through."""
        if principal is None:
            if self.public:
                return
            raise AccessDeniedError(f"{request.method} {request.path} needs a bearer token.")
        verdict = self.judge(principal, request)
        if not verdict.allowed:
            if verdict.hidden:
                raise AccessDeniedError(HIDDEN_REFUSAL, hidden=True)
            raise AccessDeniedError(
                f"{principal.describe()} may not {request.method} {request.path}: {verdict.why}."
            )

    def __or__(self, other: Rule) -> Rule:
        if not isinstance(other, Rule):
            return NotImplemented
        return _AnyOf((*_members(self), *_members(other)))

    def __and__(self, other: Rule) -> Rule:
        if not isinstance(other, Rule):
            return NotImplemented
        return _AllOf((self, other))

    def __repr__(self) -> str:
        return f"<access rule: {self.description}>"


HIDDEN_REFUSAL = "Nothing here that you may see: it does not exist, or it is not yours."
"""The one text of every hidden refusal (404), the same for a missing object and another's."""


def _members(rule: Rule) -> tuple[Rule, ...]:
    return rule.rules if isinstance(rule, _AnyOf) else (rule,)


class _Public(Rule):
    description = "anyone, without a token"
    public = True

    def judge(self, principal: Principal, request: AccessRequest) -> Verdict:
        return _ALLOWED


PUBLIC: Rule = _Public()
"""Anyone, with or without a token: only for a route that must be reached first (a login)."""


class _Authenticated(Rule):
    description = "any authenticated caller"

    def judge(self, principal: Principal, request: AccessRequest) -> Verdict:
        return _ALLOWED


def authenticated() -> Rule:
    """Any caller with a valid token, whatever its roles."""
    return _Authenticated()


class _Role(Rule):
    def __init__(self, roles: tuple[str, ...]) -> None:
        self.roles = roles
        self.description = "role " + " or ".join(roles)

    def judge(self, principal: Principal, request: AccessRequest) -> Verdict:
        if principal.has_role(*self.roles):
            return _ALLOWED
        return Verdict(False, why=f"it needs the role {' or '.join(map(repr, self.roles))}")


def role(*roles: str) -> Rule:
    """A caller holding any of ``roles``."""
    if not roles or not all(isinstance(name, str) and name for name in roles):
        raise ConfigurationError(
            f"role() takes one or more role names, got {roles!r}. Write role('operator')."
        )
    return _Role(roles)


class _Owner(Rule):
    def __init__(self, field: str, hidden: bool) -> None:
        self.field = field
        self.hidden = hidden
        self.description = f"the user whose id is {field}"

    def judge(self, principal: Principal, request: AccessRequest) -> Verdict:
        if principal.user_id is not None and request.value(self.field) == principal.user_id:
            return _ALLOWED
        return Verdict(False, self.hidden, f"{self.field} must be your own user id")

    def parameters(self) -> frozenset[str]:
        return frozenset({self.field.partition(".")[0]})


def owner(field: str, *, hidden: bool | None = None) -> Rule:
    """The user whose id is the request's ``field`` (a parameter, or ``"body.attribute"``).

    A refusal is hidden (404) when ``field`` is a path parameter naming the object read — pass
    ``hidden=False`` for a body field (booking for somebody else is plainly refused, 403).
    """
    if not isinstance(field, str) or not all(part.isidentifier() for part in field.split(".")):
        raise ConfigurationError(
            f"owner() takes a parameter name such as 'user_id' or 'session.patient_id', got "
            f"{field!r}."
        )
    return _Owner(field, hidden if hidden is not None else "." not in field)


class _Predicate(Rule):
    def __init__(
        self,
        predicate: Callable[[Principal, AccessRequest], bool],
        description: str,
        hidden: bool,
        reads: frozenset[str],
    ) -> None:
        self.predicate = predicate
        self.description = description
        self.hidden = hidden
        self.reads = reads

    def judge(self, principal: Principal, request: AccessRequest) -> Verdict:
        if self.predicate(principal, request):
            return _ALLOWED
        return Verdict(False, self.hidden, f"only {self.description} may")

    def parameters(self) -> frozenset[str]:
        return self.reads


def allow_if(
    predicate: Callable[[Principal, AccessRequest], bool],
    description: str,
    *,
    hidden: bool = True,
    reads: Iterable[str] = (),
) -> Rule:
    """A rule of the module's own: ``predicate(principal, request)`` decides.

    ``description`` says who is allowed (``"the session's therapist"``), for refusals and docs;
    ``reads`` names the parameters it uses, checked against the endpoint when it is mounted.
    A refusal is hidden (404) unless ``hidden=False``.
    """
    if not callable(predicate):
        raise ConfigurationError(
            f"allow_if() takes a function (principal, request) -> bool, got {predicate!r}."
        )
    if not isinstance(description, str) or not description:
        raise ConfigurationError(
            'allow_if() needs a description of who is allowed, e.g. "the session\'s therapist".'
        )
    return _Predicate(predicate, description, hidden, frozenset(reads))


class _AnyOf(Rule):
    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        self.public = any(rule.public for rule in rules)
        self.description = " | ".join(rule.description for rule in rules)

    def judge(self, principal: Principal, request: AccessRequest) -> Verdict:
        refusals = []
        for rule in self.rules:
            verdict = rule.judge(principal, request)
            if verdict.allowed:
                return verdict
            refusals.append(verdict)
        hidden = any(verdict.hidden for verdict in refusals)
        return Verdict(False, hidden, "; or ".join(verdict.why for verdict in refusals))

    def parameters(self) -> frozenset[str]:
        return frozenset().union(*(rule.parameters() for rule in self.rules))


class _AllOf(Rule):
    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        self.public = all(rule.public for rule in rules)
        self.description = " & ".join(
            f"({rule.description})" if isinstance(rule, _AnyOf) else rule.description
            for rule in rules
        )

    def judge(self, principal: Principal, request: AccessRequest) -> Verdict:
        for rule in self.rules:
            verdict = rule.judge(principal, request)
            if not verdict.allowed:
                return verdict
        return _ALLOWED

    def parameters(self) -> frozenset[str]:
        return frozenset().union(*(rule.parameters() for rule in self.rules))
