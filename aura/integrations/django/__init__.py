"""Aura inside a Django project (extra ``django``): apps as modules, the outbox in ``atomic()``.

Add the app and, optionally, the middleware::

    INSTALLED_APPS = [..., "aura.integrations.django", "clinic.patients", "clinic.visits"]
    MIDDLEWARE = [..., "django.contrib.auth.middleware.AuthenticationMiddleware",
                  "aura.integrations.django.AuraMiddleware"]

- Each app whose package declares ``module = Module(...)`` is that module (an ``AppConfig``
  may say otherwise with ``aura_module``); ``ready()`` checks them all.
- :func:`platform` is the project's platform on Django's database (:class:`DjangoDatabase`):
  events published inside ``transaction.atomic()`` commit with it and are delivered after it
  (``on_commit``); a rollback discards them.
- :func:`module_services` gives code acting as a module its dependencies' services and
  publishing; :class:`AuraMiddleware` runs each view as its app's module, under the request's
  correlation id and on behalf of ``request.user``.
- ``manage.py aura`` checks the boundaries, prints the modules, lists, retries and purges
  dead letters, and runs delivery workers.
- ``aura.integrations.django.testing`` is the pytest plugin giving pytest-django tests the
  project's platform, recorded by Aura's harness.
"""

from aura.integrations.django.database import DjangoDatabase
from aura.integrations.django.middleware import AuraMiddleware
from aura.integrations.django.runtime import (
    build_platform,
    module_of,
    module_services,
    platform,
    use_platform,
)

__all__ = [
    "AuraMiddleware",
    "DjangoDatabase",
    "build_platform",
    "module_of",
    "module_services",
    "platform",
    "use_platform",
]
