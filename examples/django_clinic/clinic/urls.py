"""The clinic's URLs: each module's app mounts its own."""

from django.urls import include, path

urlpatterns = [
    path("appointments/", include("clinic.appointments.urls")),
    path("billing/", include("clinic.billing.payments.urls")),
]
