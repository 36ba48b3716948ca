"""The appointments' URLs."""

from django.urls import path

from clinic.appointments import views

urlpatterns = [
    path("", views.appointments, name="appointments"),
    path("<int:appointment_id>/", views.appointment, name="appointment"),
    path("<int:appointment_id>/cancel/", views.cancel, name="cancel-appointment"),
]
