"""The users module: patients, therapists and operators, their profiles, whether they are active,
and their passwords (the platform's login)."""

from __future__ import annotations

from aura.access import Principal
from aura.breaker import CircuitBreaker
from aura.module import Module
from contracts.users import UserServiceContract
from modules.users.api import EMAIL_PROBES, LOGIN_FAILURES, STAMP, add_routes
from modules.users.application import UserService
from modules.users.domain import PasswordHasher, UserRepository, UserUnitOfWork
from modules.users.infrastructure import (
    Argon2PasswordHasher,
    MemoryAttempts,
    MemoryKnownAddresses,
    SqliteUserRepository,
    create_tables,
    unit_of_work,
)

__all__ = ["module"]

module = Module(
    "users",
    depends_on=[],
    description=(
        "Registers patients, therapists and operators; answers who a user is and if they are "
        "active; logs them in."
    ),
)
module.publishes("user.registered", "user.updated", "user.deactivated")
module.provide(UserRepository, SqliteUserRepository)
# A singleton: it makes its dummy hash (for logins of unknown emails) once.
module.provide(PasswordHasher, Argon2PasswordHasher)
# Transient: the unit of work is the platform's database, which the container must not dispose.
module.provide(UserUnitOfWork, unit_of_work, lifetime="transient")
module.add_service(
    "UserService",
    UserService,
    contract=UserServiceContract,
    # Every module asks users first; when it keeps failing, callers fail fast instead of piling
    # up. A factory, so each platform (each test) starts with a closed breaker.
    breaker=lambda: CircuitBreaker(failure_threshold=3, timeout=30, name="users.UserService"),
)
# Failures counted per platform, in its memory (one process): see MemoryAttempts.
module.provide("login_attempts", lambda: MemoryAttempts(LOGIN_FAILURES))
module.provide("email_probes", lambda: MemoryAttempts(EMAIL_PROBES))
module.provide("known_addresses", MemoryKnownAddresses)
module.on_start(create_tables)
add_routes(module)


@module.on_authenticate
def refuse_stale_tokens(principal: Principal, users: UserService) -> None:
    """Refuse a person's token once they are deactivated or their password changed."""
    if principal.user_id is not None:
        users.check_token(principal.user_id, principal.claims.get(STAMP))
