"""The appointments app."""

from django.apps import AppConfig


class AppointmentsConfig(AppConfig):
    """The app of the appointments module (declared in its ``__init__.py``)."""

    name = "clinic.appointments"
