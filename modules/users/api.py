"""The users module over HTTP: log in, register, look up, update and deactivate users, and
change passwords.

Served by the gateway under ``/api/users``; each endpoint calls the module's own service, and
each route says who may call it (:func:`add_routes`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from aura.access import PUBLIC, Principal, owner, role
from aura.exceptions import AccessDeniedError
from aura.module import Module, Representation
from aura.web.auth import TokenAuthority
from modules.users.application import UserService
from modules.users.domain import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    Attempts,
    EmailTakenError,
)

__all__ = [
    "EMAIL_PROBES",
    "LOGIN_FAILURES",
    "STAMP",
    "Credentials",
    "NewUser",
    "PasswordChange",
    "ProfileChange",
    "TokenOut",
    "UserOut",
    "add_routes",
]

UserId = Annotated[int, Field(ge=1, le=2**53 - 1, description="A user's id.")]
Password = Annotated[
    str,
    Field(
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        description=f"{MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters.",
    ),
]


class NewUser(BaseModel):
    """A patient, therapist or operator to register; with a password, they can log in."""

    model_config = ConfigDict(extra="forbid")  # a field it does not know: 422, not dropped

    email: str = Field(max_length=254, examples=["pat@example.com"])
    name: str = Field(max_length=200, examples=["Pat Doe"])
    role: Literal["patient", "therapist", "operator"]
    password: Password | None = None


class ProfileChange(BaseModel):
    """New values for a user's profile; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")  # a field it does not know: 422, not dropped

    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)


class PasswordChange(BaseModel):
    """A new password, and the current one (which only an operator may leave out)."""

    model_config = ConfigDict(extra="forbid")  # a field it does not know: 422, not dropped

    current_password: str | None = Field(default=None, max_length=MAX_PASSWORD_LENGTH)
    new_password: Password


class Credentials(BaseModel):
    """An email and password to log in with."""

    model_config = ConfigDict(extra="forbid")  # a field it does not know: 422, not dropped

    email: str = Field(max_length=254, examples=["pat@example.com"])
    # No minimum: a short password is a wrong one, answered like any other.
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)


class TokenOut(BaseModel):
    """A bearer token (RFC 6749, 5.1): send it as ``Authorization: Bearer <access_token>``."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


class UserOut(BaseModel):
    """A registered user."""

    id: int
    email: str
    name: str
    role: Literal["patient", "therapist", "operator"]
    active: bool
    registered_at: datetime


def log_in(
    credentials: Credentials, request: Request, users: UserService, tokens: TokenAuthority
) -> JSONResponse:
    """Exchange an email and password for a bearer token; any mistake is the same 401."""
    address = request.client.host if request.client is not None else None
    user = users.log_in(credentials.email, credentials.password, address=address)
    # The stamp of the password it was issued for: once that changes, the token is refused.
    stamp = users.credential_stamp(user["id"])
    token = tokens.issue(
        f"user:{user['id']}", roles=[user["role"]], user_id=user["id"], claims={STAMP: stamp}
    )
    issued = TokenOut(access_token=token, expires_in=int(tokens.ttl.total_seconds()))
    # RFC 6749, 5.1: a response carrying a token must not be cached anywhere.
    return JSONResponse(
        issued.model_dump(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
    )


def register_user(user: NewUser, users: UserService) -> UserOut:
    """Register a patient, therapist or operator."""
    return UserOut(**users.register_user(user.email, user.name, user.role, password=user.password))


def get_user(user_id: UserId, users: UserService) -> UserOut:
    """Return a user's profile."""
    return UserOut(**users.get_user_profile(user_id))


def update_user(
    user_id: UserId,
    change: ProfileChange,
    caller: Principal,
    users: UserService,
    email_probes: Attempts,
) -> UserOut:
    """Change a user's name or email.

    An email another user has is refused (409) without naming them; a caller who is not an
    operator hears that answer at most :data:`EMAIL_PROBES` times, so the route cannot be used
    to find out which addresses are registered.
    """
    if change.email is None or caller.has_role("operator"):
        return UserOut(**users.update_profile(user_id, name=change.name, email=change.email))
    # One request of this caller's at a time from the check to the count: concurrent ones
    # would all pass the check before the first "taken" was counted.
    with email_probes.exclusive(caller.subject):
        email_probes.check(caller.subject, "emails refused as taken for you")
        try:
            return UserOut(**users.update_profile(user_id, name=change.name, email=change.email))
        except EmailTakenError:
            email_probes.failed(caller.subject)
            raise


def change_password(
    user_id: UserId, change: PasswordChange, caller: Principal, users: UserService
) -> UserOut:
    """Change a user's password: the user gives their current one; an operator need not."""
    if change.current_password is not None:
        changed = users.change_password(user_id, change.current_password, change.new_password)
    elif caller.has_role("operator"):
        changed = users.reset_password(user_id, change.new_password)
    else:
        raise AccessDeniedError(
            "Give your current password as current_password to change it; only an operator "
            "may set a password without it."
        )
    return UserOut(**changed)


def deactivate_user(user_id: UserId, users: UserService) -> UserOut:
    """Deactivate a user's account (their future sessions are cancelled)."""
    return UserOut(**users.deactivate_user(user_id))


OPERATOR = role("operator")
SELF_OR_OPERATOR = owner("user_id") | OPERATOR
"""A user acts on their own account; operators administer every account."""
V1 = [Representation(1, renames={"name": "full_name"})]
"""Version 1 of the users API called a user's name ``full_name``; its clients are served at
``/api/v1/users/...`` with that name in requests and responses."""
LOGIN_LIMIT = "5/minute"
"""Login attempts one client address may make: enough for typos, too few to guess."""
LOGIN_FAILURES = "10 per 15 minutes"
"""Failed logins one email may have, from any number of addresses, before it is refused for a
while: a slow guess at one account, spread over many addresses, stops there too."""
EMAIL_PROBES = "5 per hour"
"""How often a caller (not an operator) may be told that an email is taken."""
STAMP = "cred"
"""The token claim holding the stamp of the password it was issued for."""


def add_routes(module: Module) -> None:
    """Declare the module's HTTP routes, each with who may call it."""
    module.route(
        "POST",
        "/token",
        allow=PUBLIC,
        limit=LOGIN_LIMIT,
        response_model=TokenOut,
        responses={401: {"description": "The email or password is wrong (one answer for both)."}},
    )(log_in)
    module.route("POST", "/users", status_code=201, allow=OPERATOR, versions=V1)(register_user)
    module.route("GET", "/users/{user_id}", allow=SELF_OR_OPERATOR, versions=V1)(get_user)
    module.route("PATCH", "/users/{user_id}", allow=SELF_OR_OPERATOR, versions=V1)(update_user)
    # Limited like the login: a stolen token must not let anyone guess the current password.
    module.route("PATCH", "/users/{user_id}/password", allow=SELF_OR_OPERATOR, limit=LOGIN_LIMIT)(
        change_password
    )
    module.route("POST", "/users/{user_id}/deactivate", allow=SELF_OR_OPERATOR)(deactivate_user)
