"""The clinic's Django settings.

The database is a SQLite file beside this folder, or PostgreSQL with ``EXAMPLE_DATABASE=postgresql``
(the server named by ``EXAMPLE_DATABASE_URL``, a libpq DSN, default ``postgresql:///clinic``).
"""

import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("CLINIC_SECRET_KEY", "django-insecure-an-example-only-key")
DEBUG = os.environ.get("CLINIC_DEBUG") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    # The clinic's apps: each is, or is part of, one Aura module.
    "clinic.patients",
    "clinic.appointments",
    "clinic.billing.invoices",  # \ the billing module, made of two apps
    "clinic.billing.payments",  # /
    "clinic.notifications",
    # Anywhere in the list: the handlers and services the apps' ready() attach are checked by
    # Aura's system check (aura.E001), which Django runs after every ready().
    "aura.integrations.django",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: the events a view publishes carry request.user's id.
    "aura.integrations.django.AuraMiddleware",
]

ROOT_URLCONF = "clinic.urls"


def _database() -> dict[str, Any]:
    chosen = os.environ.get("EXAMPLE_DATABASE") or "sqlite"
    if chosen not in ("sqlite", "postgresql"):
        raise ImproperlyConfigured(
            f"EXAMPLE_DATABASE={chosen!r}: expected sqlite or postgresql (or unset for sqlite)."
        )
    if chosen == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(BASE_DIR / "clinic.db")}
    from psycopg.conninfo import conninfo_to_dict

    dsn = conninfo_to_dict(os.environ.get("EXAMPLE_DATABASE_URL", "postgresql:///clinic"))
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": dsn.get("dbname", "clinic"),
        "USER": dsn.get("user", ""),
        "PASSWORD": dsn.get("password", ""),
        "HOST": dsn.get("host", ""),
        "PORT": dsn.get("port", ""),
    }


DATABASES = {"default": _database()}

# Events are written in the transaction of the writes they announce (the outbox) and delivered
# once it commits; a publish outside transaction.atomic() is a bug, refused.
AURA = {"DATABASE": "default", "DURABLE": True, "REQUIRE_TRANSACTION": True}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"clinic": {"handlers": ["console"], "level": "INFO"}},
}
