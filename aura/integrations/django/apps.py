"""The Django app ``aura.integrations.django``: put it in ``INSTALLED_APPS``."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps  # type: ignore[import-untyped]
from django.conf import settings  # type: ignore[import-untyped]
from django.core import checks  # type: ignore[import-untyped]

from aura.exceptions import AuraError
from aura.integrations.django import runtime
from aura.platform import Platform

__all__ = ["AuraConfig", "check_modules"]


class AuraConfig(AppConfig):  # type: ignore[misc]  # Django is untyped
    """Reads the modules the installed apps declare when Django starts, and checks them.

    ``ready()`` checks ``settings.AURA`` and collects each app's module (see
    :mod:`aura.integrations.django.runtime`): a misdeclared module or a dependency no app
    declares stops the start-up with Aura's typed error. The wiring (handlers, services, what
    the container must build) is checked by the system check ``aura.E001``, which Django runs
    after every app's ``ready()`` (where handlers using the ORM are attached), on ``runserver``,
    ``migrate`` and ``manage.py check``. The platform itself is built on first use.
    """

    name = "aura.integrations.django"
    label = "aura"
    verbose_name = "Aura"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        """Check the settings and collect the apps' modules; touches no database of Django's."""
        runtime.settings_of(settings)
        runtime.declare(runtime.collect(apps.get_app_configs()))
        checks.register(check_modules, "aura")


def check_modules(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Django system check ``aura.E001``: the apps' modules wire into a platform (on a
    throwaway in-memory SQLite database, not durable, never started)."""
    try:
        Platform(list(runtime.declaration().modules), log_traffic=False).close()
    except AuraError as error:
        return [
            checks.Error(
                str(error),
                hint="Fix the module's declaration; `manage.py aura modules` shows them all.",
                obj="aura",
                id="aura.E001",
            )
        ]
    return []
