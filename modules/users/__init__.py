"""The users module: patients and therapists, their profiles and whether they are active."""

from __future__ import annotations

from aura.module import Module
from contracts.users import UserServiceContract
from modules.users.application import UserService
from modules.users.domain import UserRepository
from modules.users.infrastructure import SqliteUserRepository, create_tables

__all__ = ["module"]

module = Module(
    "users",
    depends_on=[],
    description="Registers patients and therapists; answers who a user is and if they are active.",
)
module.publishes("user.registered", "user.updated", "user.deactivated")
module.provide(UserRepository, SqliteUserRepository)
module.add_service("UserService", UserService, contract=UserServiceContract)
module.on_start(create_tables)
