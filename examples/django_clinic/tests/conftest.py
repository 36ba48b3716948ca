"""The clinic's test fixtures: pytest-django, with Aura's harness on the clinic's own platform.

``aura.integrations.django.testing`` makes ``aura_platform`` the clinic's platform (its apps'
modules on Django's test database, as ``settings.AURA`` says), recorded: ``published_events``,
``service_calls``, ``override`` and the Gherkin steps of ``aura.testing.bdd`` see what the views
and handlers publish and call. With ``db`` nothing is delivered unless the test captures the
commit (``django_capture_on_commit_callbacks(execute=True)``); with ``transactional_db``
commits are real and each delivers (the scenarios run so).

The database is SQLite (Django's in-memory test database), or PostgreSQL with
``EXAMPLE_DATABASE=postgresql`` (``make test`` runs the suite once on each): then the opt-in
plugin ``aura.testing.postgres`` starts a private cluster (``initdb``/``pg_ctl`` into a
temporary directory, as ``nobody`` when run as root), or uses ``AURA_TEST_DSN``'s server, and
``django_db_modify_db_settings`` (pytest-django's session fixture, overridden here) points
``DATABASES["default"]`` at it before pytest-django creates its test database there. Without
PostgreSQL binaries those runs are skipped, or fail with ``AURA_REQUIRE_POSTGRES=1``.

``clinic`` drives the clinic's JSON API through Django's test client (``clinic_client.Clinic``).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from clinic.billing.invoices.models import Invoice
from clinic.notifications.models import Notification
from clinic_client import Clinic
from django.test import Client
from pytest_bdd import given, parsers, step, then, when

from aura import Platform

ON_POSTGRES = os.environ.get("EXAMPLE_DATABASE") == "postgresql"

pytest_plugins = ["aura.integrations.django.testing"]
if ON_POSTGRES:
    pytest_plugins.append("aura.testing.postgres")  # postgres_dsn: the private cluster


@pytest.fixture(scope="session")
def django_db_modify_db_settings(request: pytest.FixtureRequest) -> None:
    """On PostgreSQL, Django's ``default`` database is on the session's cluster (its test
    database, ``test_clinic``, is created there by pytest-django)."""
    if ON_POSTGRES:
        from django.conf import settings
        from psycopg.conninfo import conninfo_to_dict

        dsn = conninfo_to_dict(request.getfixturevalue("postgres_dsn"))
        settings.DATABASES["default"].update(
            ENGINE="django.db.backends.postgresql",
            NAME="clinic",
            HOST=dsn.get("host", ""),
            PORT=str(dsn.get("port", "")),
            USER=dsn.get("user", ""),
            PASSWORD=dsn.get("password", ""),
        )
    # What pytest-django's own fixture does: under xdist, one test database per worker.
    request.getfixturevalue("django_db_modify_db_settings_parallel_suffix")


@pytest.fixture
def clinic(client: Client, aura_platform: Platform) -> Clinic:
    """The clinic's API, served by Django on this test's platform; nobody logged in."""
    return Clinic(client)


# --- the clinic's own Gherkin steps (the generic ones come from aura.testing.bdd) -------------


@given(parsers.parse('"{name}" is a patient of the clinic'))
def is_a_patient(clinic: Clinic, name: str) -> None:
    """Given "NAME" is a patient of the clinic (in care)."""
    clinic.patient(name)


@given(parsers.parse('"{name}" is discharged'))
def is_discharged(clinic: Clinic, name: str) -> None:
    """Given "NAME" is discharged: a patient no longer in care."""
    patient = clinic.users[name].patient
    patient.active = False
    patient.save(update_fields=["active"])


@step(
    parsers.re(
        r'"(?P<name>[^"]+)" (?:books|has booked) an? (?P<kind>session|intake) '
        r'with "(?P<therapist>[^"]+)" at "(?P<starts_at>[^"]+)"'
    )
)
def books(
    clinic: Clinic,
    aura_bdd_values: dict[str, Any],
    name: str,
    kind: str,
    therapist: str,
    starts_at: str,
) -> None:
    """Given/When "NAME" books (has booked) a session (an intake) with "T" at "ISO time"; the
    appointment is ``{appointment}``."""
    clinic.login(name)
    response = clinic.book(therapist, starts_at, kind)
    if response.status_code == 201:
        aura_bdd_values["appointment"] = response.json()


@when(parsers.parse('"{name}" cancels the appointment'))
def cancels(clinic: Clinic, aura_bdd_values: dict[str, Any], name: str) -> None:
    """When "NAME" cancels the appointment (the one booked last)."""
    clinic.login(name)
    clinic.cancel(aura_bdd_values["appointment"]["appointment_id"])


@then(parsers.parse("the clinic answers {status:d}"))
def clinic_answers(clinic: Clinic, status: int) -> None:
    """Then the clinic answers STATUS (the last response's status code)."""
    assert clinic.last is not None
    assert clinic.last.status_code == status, clinic.last.content


@then(parsers.parse('the invoice of the appointment is "{status}" for {amount:d} cents'))
def invoice_is(aura_bdd_values: dict[str, Any], status: str, amount: int) -> None:
    """Then the invoice of the appointment is "STATUS" for N cents."""
    invoice = Invoice.objects.get(appointment_id=aura_bdd_values["appointment"]["appointment_id"])
    assert (invoice.status, invoice.amount_cents) == (status, amount)


@then("no invoice is opened")
def no_invoice() -> None:
    """Then no invoice is opened (none at all)."""
    assert list(Invoice.objects.all()) == []


@then(parsers.parse('"{name}" is told "{text}"'))
def is_told(clinic: Clinic, name: str, text: str) -> None:
    """Then "NAME" is told "TEXT": the patient's last notification."""
    last = Notification.objects.filter(patient_id=clinic.users[name].patient.pk).last()
    assert last is not None, f"{name} was told nothing"
    assert last.text == text


@then(parsers.parse('"{name}" has no appointments'))
def has_no_appointments(clinic: Clinic, name: str) -> None:
    """Then "NAME" has no appointments (read over HTTP)."""
    clinic.login(name)
    assert clinic.request("GET", "/appointments/").json() == {"appointments": []}
