"""The patients app."""

from django.apps import AppConfig


class PatientsConfig(AppConfig):
    """The app of the patients module (declared in its ``__init__.py``)."""

    name = "clinic.patients"

    def ready(self) -> None:
        """Attach the module's service, now that the models can be imported."""
        from clinic.patients import services  # noqa: F401
