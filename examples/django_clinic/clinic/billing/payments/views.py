"""The front desk records payments against invoices; an invoice paid in full is announced.

The view runs as the billing module (its app's AppConfig says ``aura_module = "clinic.billing"``),
so ``invoice.paid`` comes from billing.
"""

from django.db import transaction
from django.db.models import Sum
from django.http import HttpRequest, JsonResponse

from aura.integrations.django import module_services
from clinic.billing.invoices.models import Invoice
from clinic.billing.payments.models import Payment
from clinic.contracts import InvoicePaid
from clinic.http import ApiError, api, json_body


@api("POST")
def record_payment(request: HttpRequest, invoice_id: int) -> JsonResponse:
    """Record ``amount_cents`` paid on invoice ``invoice_id`` (staff only)."""
    if not request.user.is_staff:
        raise ApiError(403, "Only the front desk records payments.")
    amount = json_body(request).get("amount_cents")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
        raise ApiError(
            400, f"amount_cents must be a whole number of cents above 0, got {amount!r}."
        )
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
        if invoice is None:
            raise ApiError(404, f"No invoice {invoice_id}.")
        if invoice.status != Invoice.Status.OPEN:
            raise ApiError(409, f"Invoice {invoice_id} is {invoice.status}: it takes no payment.")
        paid = invoice.payments.aggregate(total=Sum("amount_cents"))["total"] or 0
        due = invoice.amount_cents - paid
        if amount > due:
            raise ApiError(400, f"Invoice {invoice_id} has {due} cents due; {amount} is more.")
        payment = Payment.objects.create(invoice=invoice, amount_cents=amount)
        if amount == due:
            invoice.status = Invoice.Status.PAID
            invoice.save(update_fields=["status"])
            module_services("billing").publish(
                InvoicePaid(
                    invoice_id=invoice.pk,
                    appointment_id=invoice.appointment_id,
                    amount_cents=invoice.amount_cents,
                )
            )
    return JsonResponse(
        {
            "payment_id": payment.pk,
            "invoice_id": invoice.pk,
            "invoice_status": invoice.status,
            "due_cents": due - amount,
        },
        status=201,
    )
