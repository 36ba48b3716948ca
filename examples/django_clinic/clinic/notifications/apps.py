"""The notifications app."""

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """The app of the notifications module (declared in its ``__init__.py``)."""

    name = "clinic.notifications"

    def ready(self) -> None:
        """Attach the module's handlers, now that the models can be imported."""
        from clinic.notifications import handlers  # noqa: F401
