"""What a patient sends to book."""

from django import forms

from clinic.appointments.models import Appointment


class BookingForm(forms.Form):
    """A booking: with whom, when, and what kind of appointment."""

    therapist = forms.CharField(max_length=100)
    starts_at = forms.DateTimeField()
    kind = forms.ChoiceField(choices=Appointment.Kind.choices)
