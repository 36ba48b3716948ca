"""The clinic over HTTP, for tests and steps: Django's test client, logged in as one user at a
time, remembering the last response."""

from __future__ import annotations

import json
from typing import Any

from clinic.patients.models import Patient
from django.contrib.auth.models import User
from django.http import HttpResponse as Response  # the test client's, with .json()
from django.test import Client


class Clinic:
    """Drives the clinic's JSON API as its patients and staff."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.users: dict[str, User] = {}
        self.last: Response | None = None

    # --- people -------------------------------------------------------------------------------

    def patient(self, username: str, *, active: bool = True) -> Patient:
        """A new patient who logs in as ``username``."""
        user = self.user(username)
        return Patient.objects.create(user=user, full_name=username.title(), active=active)

    def user(self, username: str, *, staff: bool = False) -> User:
        """A new user (not a patient), ``staff`` for the front desk."""
        user = User.objects.create_user(username, is_staff=staff)
        self.users[username] = user
        return user

    def login(self, username: str | None) -> None:
        """Act as ``username`` from now on (``None``: anonymous)."""
        if username is None:
            self.client.logout()
        else:
            self.client.force_login(self.users[username])

    # --- requests -----------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, **headers: str) -> Response:
        """``method path`` with a JSON body, as the logged-in user."""
        data = "" if body is None else json.dumps(body)
        response: Response = self.client.generic(
            method, path, data, content_type="application/json", headers=headers
        )
        self.last = response
        return response

    def book(
        self,
        therapist: str = "Dr. Rivera",
        starts_at: str = "2030-01-07T09:00:00+00:00",
        kind: str = "session",
        **headers: str,
    ) -> Response:
        """POST /appointments/: book an appointment."""
        body = {"therapist": therapist, "starts_at": starts_at, "kind": kind}
        return self.request("POST", "/appointments/", body, **headers)

    def cancel(self, appointment_id: int) -> Response:
        """POST /appointments/ID/cancel/."""
        return self.request("POST", f"/appointments/{appointment_id}/cancel/")

    def pay(self, invoice_id: int, amount_cents: int) -> Response:
        """POST /billing/invoices/ID/payments/: the front desk takes a payment."""
        body = {"amount_cents": amount_cents}
        return self.request("POST", f"/billing/invoices/{invoice_id}/payments/", body)
