"""The payments' URLs."""

from django.urls import path

from clinic.billing.payments import views

urlpatterns = [
    path("invoices/<int:invoice_id>/payments/", views.record_payment, name="record-payment"),
]
