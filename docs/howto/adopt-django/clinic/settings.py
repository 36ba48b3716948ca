"""The clinic's settings: a plain Django project, plus Aura's app, middleware and AURA."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "docs-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "clinic.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "aura.integrations.django",  # step 1: Aura's app
    "clinic.patients",
    "clinic.visits",
    "clinic.billing",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "aura.integrations.django.AuraMiddleware",  # after AuthenticationMiddleware
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("CLINIC_DB", str(BASE_DIR / "clinic.sqlite3")),
    }
}

# Events join the transactions of Django's "default" connection; publishing outside
# transaction.atomic() is refused, so an event never commits apart from its writes.
AURA = {"DATABASE": "default", "DURABLE": True, "REQUIRE_TRANSACTION": True}
