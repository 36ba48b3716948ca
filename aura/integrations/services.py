"""What the framework integrations share (no framework here): a module's services, problems.

:class:`ModuleServices` is what a FastAPI route (``aura.integrations.fastapi.module_services``)
or a Django view (``aura.integrations.django.module_services``) acting as one module is given:
the services of the modules it depends on, through the registry's cross-module rules, and
publishing as itself. :func:`problem_body` is the ``application/problem+json`` body (RFC 9457)
both answer a refused request with, shaped as the gateway's (:mod:`aura.web.problems`).
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aura.context import get_correlation_id, module_scope
from aura.events import Event
from aura.exceptions import ServiceNotAvailableError
from aura.platform import Platform
from aura.verification import declared_dependencies

__all__ = ["ModuleServices", "problem_body"]


def problem_body(status: int, detail: str, instance: str) -> dict[str, Any]:
    """The problem+json body of a refusal: ``status``, what was wrong (``detail``), the path
    refused (``instance``) and the request's correlation id."""
    return {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        "correlation_id": get_correlation_id(),
    }


class ModuleServices:
    """What a route acting as one module may use: other modules' services, and publishing.

    :meth:`get` applies the registry's cross-module rules for the calling module (a contract's
    methods only, each call observed and run as its provider) and refuses a module the caller
    does not declare in ``depends_on``; :meth:`publish` publishes as the module.
    """

    __slots__ = ("module", "platform")

    def __init__(self, platform: Platform, module: str) -> None:
        self.platform = platform
        self.module = module

    def __repr__(self) -> str:
        return f"<ModuleServices of {self.module!r}>"

    def get(self, module_name: str, service_name: str) -> Any:
        """Return ``module_name``'s service ``service_name`` as this module sees it."""
        if module_name != self.module:
            declared = declared_dependencies(self.platform.modules, self.platform.boundaries)
            dependencies = declared.get(self.module, ())
            if module_name in self.platform.modules and module_name not in dependencies:
                raise ServiceNotAvailableError(
                    f"Module {self.module!r} asked for {module_name}.{service_name}, but does "
                    f"not declare {module_name!r} in depends_on (it declares: "
                    f"{', '.join(dependencies) or 'nothing'}). Add {module_name!r} to "
                    f"depends_on of module {self.module!r}, or react to {module_name}'s events "
                    "instead of calling it."
                )
        with module_scope(self.module):
            return self.platform.registry.get_service(module_name, service_name)

    def get_service(self, module_name: str, service_name: str) -> Any:
        """:meth:`get` under the registry's name, which ``aura check``'s source scan reads as
        a use of ``module_name`` (so it counts for ``depends_on``)."""
        return self.get(module_name, service_name)

    def publish(
        self,
        event_type: str | object,
        data: Mapping[str, Any] | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> Event:
        """Publish an event as this module (see :meth:`aura.bus.EventBus.publish`)."""
        with module_scope(self.module):
            return self.platform.bus.publish(event_type, data, self.module, metadata=metadata)

    async def apublish(
        self,
        event_type: str | object,
        data: Mapping[str, Any] | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> Event:
        """Publish as this module, awaiting ``async def`` handlers (see ``EventBus.apublish``)."""
        with module_scope(self.module):
            return await self.platform.bus.apublish(
                event_type, data, self.module, metadata=metadata
            )

    def resolve(self, key: Any) -> Any:
        """Resolve ``key`` from the platform's container, as this module."""
        with module_scope(self.module):
            return self.platform.container.resolve(key)
