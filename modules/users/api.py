"""The users module over HTTP: register, look up, update and deactivate users.

Served by the gateway under ``/api/users``; each endpoint calls the module's own service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from aura.module import Module
from modules.users.application import UserService

__all__ = ["NewUser", "ProfileChange", "UserOut", "add_routes"]

UserId = Annotated[int, Field(ge=1, le=2**53 - 1, description="A user's id.")]


class NewUser(BaseModel):
    """A patient or therapist to register."""

    email: str = Field(max_length=254, examples=["pat@example.com"])
    name: str = Field(max_length=200, examples=["Pat Doe"])
    role: Literal["patient", "therapist"]


class ProfileChange(BaseModel):
    """New values for a user's profile; a field left out stays as it is."""

    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)


class UserOut(BaseModel):
    """A registered user."""

    id: int
    email: str
    name: str
    role: str
    active: bool
    registered_at: datetime


def register_user(user: NewUser, users: UserService) -> UserOut:
    """Register a patient or therapist."""
    return UserOut(**users.register_user(user.email, user.name, user.role))


def get_user(user_id: UserId, users: UserService) -> UserOut:
    """Return a user's profile."""
    return UserOut(**users.get_user_profile(user_id))


def update_user(user_id: UserId, change: ProfileChange, users: UserService) -> UserOut:
    """Change a user's name or email."""
    return UserOut(**users.update_profile(user_id, name=change.name, email=change.email))


def deactivate_user(user_id: UserId, users: UserService) -> UserOut:
    """Deactivate a user's account (their future sessions are cancelled)."""
    return UserOut(**users.deactivate_user(user_id))


def add_routes(module: Module) -> None:
    """Declare the module's HTTP routes."""
    module.route("POST", "/users", status_code=201)(register_user)
    module.route("GET", "/users/{user_id}")(get_user)
    module.route("PATCH", "/users/{user_id}")(update_user)
    module.route("POST", "/users/{user_id}/deactivate")(deactivate_user)
