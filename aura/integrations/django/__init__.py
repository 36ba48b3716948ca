"""Aura inside a Django project (extra ``django``): the outbox in Django's own transactions.

:class:`DjangoDatabase` is an :class:`aura.database.SqlDatabase` on one of Django's database
connections: give it to the platform, and events published inside ``transaction.atomic()``
commit with it and are delivered after it (``transaction.on_commit``).
"""

from aura.integrations.django.database import DjangoDatabase

__all__ = ["DjangoDatabase"]
