"""Factories for the platform's tests: they create through the modules' services, never by SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import factory

import aura


class UserFactory(factory.Factory):
    """Registers a user through ``users.UserService`` of the platform in force."""

    class Meta:
        model = dict

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Sequence(lambda n: f"User {n}")
    role = "patient"

    @classmethod
    def _create(cls, model_class: type, **kwargs: Any) -> dict[str, Any]:
        users = aura.service_registry.get_service("users", "UserService")
        result: dict[str, Any] = users.register_user(
            kwargs["email"], kwargs["name"], kwargs["role"]
        )
        return result


class TherapistFactory(UserFactory):
    """Registers a therapist."""

    role = "therapist"


class TherapySessionFactory(factory.Factory):
    """Schedules a session through ``mentalhealth.TherapySessionService``."""

    class Meta:
        model = dict

    patient = factory.SubFactory(UserFactory)
    therapist = factory.SubFactory(TherapistFactory)
    scheduled_at = factory.Sequence(
        lambda n: (datetime.now(UTC) + timedelta(days=1, hours=n)).replace(microsecond=0)
    )
    session_type = "individual"

    @classmethod
    def _create(cls, model_class: type, **kwargs: Any) -> dict[str, Any]:
        sessions = aura.service_registry.get_service("mentalhealth", "TherapySessionService")
        result: dict[str, Any] = sessions.schedule_session(
            kwargs["patient"]["id"],
            kwargs["therapist"]["id"],
            kwargs["scheduled_at"],
            kwargs["session_type"],
        )
        return result
