"""``manage.py aura``, run as Django runs it (``call_command``): the modules the apps declare,
the boundaries checked, and dead letters listed and retried on the clinic's own database."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from clinic.notifications.models import Notification
from clinic.notifications.sms import SmsGateway
from clinic_client import Clinic
from django.core.management import CommandError, call_command

from aura import Platform
from aura.testing import PublishedEvents
from aura.testing.plugin import Overrides

PROJECT = Path(__file__).resolve().parent.parent


def aura(*arguments: str) -> str:
    """``manage.py aura ARGUMENTS``; its output."""
    out = io.StringIO()
    call_command("aura", *arguments, stdout=out, stderr=out)
    return out.getvalue()


def test_modules_prints_each_module_with_its_apps(aura_platform: Platform) -> None:
    assert aura("modules").splitlines() == [
        "patients  (apps: patients)",
        "  depends on: nothing",
        "  services: PatientDirectory",
        "  publishes: nothing",
        "  handles: nothing",
        "appointments  (apps: appointments)",
        "  depends on: patients",
        "  services: none",
        "  publishes: appointment.booked, appointment.cancelled",
        "  handles: nothing",
        "billing  (apps: invoices, payments)",
        "  depends on: nothing",
        "  services: none",
        "  publishes: invoice.opened, invoice.paid",
        "  handles: appointment.booked, appointment.cancelled",
        "notifications  (apps: notifications)",
        "  depends on: nothing",
        "  services: none",
        "  publishes: nothing",
        "  handles: appointment.booked, appointment.cancelled",
        "4 modules.",
    ]


def test_check_finds_no_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT)  # aura check reads the pyproject.toml of the current directory

    lines = aura("check").splitlines()

    assert lines[-1] == "aura check: no violations in 4 modules (25 files) and 1 import contract."


def test_check_reports_a_module_reaching_into_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(PROJECT / "clinic", tmp_path / "clinic")
    shutil.copy(PROJECT / "pyproject.toml", tmp_path)
    leak = tmp_path / "clinic/notifications/reminders.py"
    leak.write_text("from clinic.appointments.models import Appointment\n")
    monkeypatch.chdir(tmp_path)

    out = io.StringIO()
    with pytest.raises(CommandError, match=r"^aura check found problems \(above\)\.$"):
        call_command("aura", "check", "--static", stdout=out, stderr=out)

    assert (
        "clinic/notifications/reminders.py:1: notifications uses clinic.appointments.models; "
        "notifications does not declare 'appointments' in depends_on: add it (pyproject.toml "
        "[tool.aura.boundaries.modules.notifications]), or stop importing appointments"
    ) in out.getvalue().splitlines()


class BrokenSms:
    """An SMS gateway that is down."""

    def send(self, patient_id: int, text: str) -> None:
        raise ConnectionError("the SMS gateway is down")


@pytest.mark.django_db(transaction=True)
def test_a_failed_delivery_is_a_dead_letter_listed_then_retried(
    clinic: Clinic, override: Overrides, published_events: PublishedEvents
) -> None:
    published_events.expect_failures("notifications", "appointment.booked")
    ada = clinic.patient("ada")
    clinic.login("ada")
    with override(SmsGateway, BrokenSms()):
        booked = clinic.book().json()

    # The handler's row rolled back with its delivery; billing's delivery went on.
    assert Notification.objects.count() == 0
    published_events.assert_published("invoice.opened", times=1)
    listed = aura("dead-letters", "list").splitlines()
    assert listed[-1] == "1 dead letter."
    described = listed[0].split("  ", 1)[1]  # after the dead letter's id
    event_id = published_events.of_type("appointment.booked").one().event_id
    assert described == (
        f"notifications:confirm_booking failed on 'appointment.booked' (event {event_id}, "
        "1 attempt): ConnectionError: the SMS gateway is down"
    )

    retried = aura("dead-letters", "retry")  # with the clinic's own gateway, which works

    assert retried.splitlines() == [
        "Retried: 1 delivered, 0 failed again, 0 held back by the policy, 0 with no subscriber."
    ]
    assert [(n.patient_id, n.appointment_id) for n in Notification.objects.all()] == [
        (ada.pk, booked["appointment_id"])
    ]
    assert aura("dead-letters", "list").splitlines() == ["0 dead letters."]
