"""The Django app ``aura.integrations.django``: put it in ``INSTALLED_APPS``."""

from __future__ import annotations

from django.apps import AppConfig, apps  # type: ignore[import-untyped]
from django.conf import settings  # type: ignore[import-untyped]

from aura.integrations.django import runtime
from aura.platform import Platform

__all__ = ["AuraConfig"]


class AuraConfig(AppConfig):  # type: ignore[misc]  # Django is untyped
    """Reads the modules the installed apps declare when Django starts, and checks them.

    ``ready()`` collects each app's module (see :mod:`aura.integrations.django.runtime`),
    checks ``settings.AURA`` and wires the modules once on a throwaway in-memory platform, so
    that a misdeclared module, a missing dependency or a service the container cannot build
    stops the start-up with Aura's typed error. The platform itself is built on first use.
    """

    name = "aura.integrations.django"
    label = "aura"
    verbose_name = "Aura"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        """Collect and check the apps' modules; touches no database of Django's."""
        runtime.settings_of(settings)
        declared = runtime.collect(apps.get_app_configs())
        # Wiring only: an in-memory SQLite database, not durable, never started.
        Platform(list(declared.modules), log_traffic=False).close()
        runtime.declare(declared)
