"""The source scan and the static rules: string references read from source, then judged."""

from __future__ import annotations

from pathlib import Path

import pytest

from aura.architecture.rules import unused_dependencies
from aura.architecture.scanning import Reference, find_references, module_sources
from aura.findings import Finding
from aura.module import Module
from aura.platform import Platform

from .depot import BROKEN, write_project


def test_lookups_and_subscriptions_are_found_in_every_form() -> None:
    source = """
from aura import service_registry
USERS = "users"
module = Module("sessions")

@module.subscribe("user.deactivated")
def on_deactivated(data): ...

module.subscribe(event_type="user.*")(on_deactivated)
bus.subscribe("payment.failed", on_deactivated, "sessions")
service_registry.get_service(USERS, "UserService")
get_service(module_name="billing", service_name=SERVICE)
get_container().resolve("user_service")
"""
    assert find_references(source, "sessions.py") == [
        Reference("sessions.py", 6, "subscription", "user.deactivated"),
        Reference("sessions.py", 9, "subscription", "user.*"),
        Reference("sessions.py", 10, "subscription", "payment.failed"),
        Reference("sessions.py", 11, "lookup", "users", "UserService"),
        Reference("sessions.py", 12, "lookup", "billing", "?"),
        Reference("sessions.py", 13, "resolve", "user_service"),
    ]


def test_names_that_are_not_string_constants_are_not_guessed() -> None:
    source = """
TARGET = "users"
TARGET = "billing"
registry.get_service(TARGET, "UserService")
registry.get_service(pick(), "UserService")
bus.subscribe(event_type_for(x), handler, "sessions")
"""
    assert find_references(source, "sessions.py") == []


class Counter:
    def count(self) -> int:
        return 1


def test_a_module_outside_any_package_is_read_from_the_files_defining_its_code() -> None:
    module = Module("inline")
    module.add_service("Counter", Counter)
    assert module_sources(module) == [Path(__file__)]
    assert module_sources(Module("empty")) == []


# --- the static rules ----------------------------------------------------------------------------


def test_a_dependency_whose_services_the_code_never_looks_up_is_unused(
    pytester: pytest.Pytester,
) -> None:
    write_project(pytester, BROKEN)
    with Platform(Platform.discover("depot.modules")) as platform:
        found = list(unused_dependencies(platform.modules))
    assert found == [
        Finding(
            module="billing",
            rule="unused-dependency",
            subject="stock",
            message=(
                "billing declares depends_on 'stock', but its code never looks up a service of "
                "'stock'."
            ),
            fix=(
                "Remove 'stock' from depends_on of module 'billing'; a module needs no "
                "dependency to subscribe to another module's events."
            ),
            location="depot/modules/billing/__init__.py",
        ),
    ]
    assert found[0].key == "unused-dependency billing stock"
