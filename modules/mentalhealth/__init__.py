"""The mentalhealth module: therapy sessions between patients and therapists.

Depends on ``users`` (its ``UserService``, looked up in the registry by the ``Participants``
adapter wired here) and reacts to ``user.deactivated`` by cancelling that user's future sessions.
"""

from __future__ import annotations

from aura.module import Module
from contracts.mentalhealth import TherapySessionContract
from modules.mentalhealth.api import add_routes
from modules.mentalhealth.application import TherapySessionService
from modules.mentalhealth.domain import Participants, SessionRepository, SessionUnitOfWork
from modules.mentalhealth.handlers import on_user_deactivated
from modules.mentalhealth.infrastructure import (
    RegistryParticipants,
    SqliteSessionRepository,
    create_tables,
    unit_of_work,
)

__all__ = ["module"]

module = Module(
    "mentalhealth",
    depends_on=["users"],
    description="Therapy sessions: scheduling, starting, completing and cancelling them.",
)
module.publishes(
    "therapy_session.scheduled",
    "therapy_session.started",
    "therapy_session.completed",
    "therapy_session.cancelled",
)
module.provide(SessionRepository, SqliteSessionRepository)
# Transient: the unit of work is the platform's database, which the container must not dispose.
module.provide(SessionUnitOfWork, unit_of_work, lifetime="transient")
module.provide(Participants, RegistryParticipants)
module.add_service("TherapySessionService", TherapySessionService, contract=TherapySessionContract)
module.on_start(create_tables)
module.subscribe("user.deactivated")(on_user_deactivated)
add_routes(module)
