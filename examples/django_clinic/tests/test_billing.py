"""The billing module is two apps: invoices (opened and voided by handlers) and payments (a view
of the front desk's). The payments view runs as billing too, so billing announces an invoice
paid in full."""

from __future__ import annotations

import pytest
from clinic.billing.invoices.models import Invoice
from clinic.billing.payments.models import Payment
from clinic_client import Clinic

from aura.testing import PublishedEvents

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def invoice(clinic: Clinic) -> Invoice:
    """The open invoice of ada's session (9000 cents); the front desk is logged in."""
    clinic.patient("ada")
    clinic.login("ada")
    clinic.book()
    clinic.user("desk", staff=True)
    clinic.login("desk")
    return Invoice.objects.get()


def test_payments_settle_an_invoice_and_billing_announces_it(
    clinic: Clinic, invoice: Invoice, published_events: PublishedEvents
) -> None:
    first = clinic.pay(invoice.pk, 4000)
    second = clinic.pay(invoice.pk, 5000)

    assert first.status_code == second.status_code == 201
    assert (first.json()["invoice_status"], first.json()["due_cents"]) == ("open", 5000)
    assert second.json() == {
        "payment_id": second.json()["payment_id"],
        "invoice_id": invoice.pk,
        "invoice_status": "paid",
        "due_cents": 0,
    }
    paid = published_events.of_type("invoice.paid").one()
    assert paid.source_module == "billing"  # the payments app is part of the billing module
    assert paid.data == {
        "invoice_id": invoice.pk,
        "appointment_id": invoice.appointment_id,
        "amount_cents": 9000,
    }
    assert [p.amount_cents for p in Payment.objects.order_by("pk")] == [4000, 5000]


def test_a_paid_invoice_stays_paid_when_its_appointment_is_cancelled(
    clinic: Clinic, invoice: Invoice
) -> None:
    clinic.pay(invoice.pk, 9000)
    clinic.login("ada")

    assert clinic.cancel(invoice.appointment_id).status_code == 200

    invoice.refresh_from_db()
    assert invoice.status == "paid"


@pytest.mark.parametrize(
    ("amount", "status", "detail"),
    [
        (9001, 400, "Invoice {id} has 9000 cents due; 9001 is more."),
        (0, 400, "amount_cents must be a whole number of cents above 0, got 0."),
        ("12", 400, "amount_cents must be a whole number of cents above 0, got '12'."),
    ],
)
def test_a_wrong_amount_is_refused(
    clinic: Clinic, invoice: Invoice, amount: object, status: int, detail: str
) -> None:
    response = clinic.request(
        "POST", f"/billing/invoices/{invoice.pk}/payments/", {"amount_cents": amount}
    )

    assert response.status_code == status
    assert response.json() == {"detail": detail.format(id=invoice.pk)}
    assert Payment.objects.count() == 0


def test_a_void_invoice_takes_no_payment(
    clinic: Clinic, invoice: Invoice, published_events: PublishedEvents
) -> None:
    clinic.login("ada")
    clinic.cancel(invoice.appointment_id)
    clinic.login("desk")

    response = clinic.pay(invoice.pk, 9000)

    assert response.status_code == 409
    assert response.json() == {"detail": f"Invoice {invoice.pk} is void: it takes no payment."}
    published_events.assert_not_published("invoice.paid")


def test_only_the_front_desk_records_payments(clinic: Clinic, invoice: Invoice) -> None:
    clinic.login("ada")

    response = clinic.pay(invoice.pk, 9000)

    assert response.status_code == 403
    assert response.json() == {"detail": "Only the front desk records payments."}
    assert Payment.objects.count() == 0
