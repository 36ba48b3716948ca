@appointments
Feature: Booking an appointment
  A patient books and cancels appointments over HTTP. Billing opens or voids the invoice and
  notifications tells the patient, each once the booking's transaction commits, in a
  transaction of its own; a booking rolled back is never heard of.

  Background:
    Given "ada" is a patient of the clinic

  Scenario: A booked appointment opens an invoice and notifies the patient
    When "ada" books a session with "Dr. Rivera" at "2030-01-07T09:00:00+00:00"
    Then the clinic answers 201
    And the event "appointment.booked" is published once by the "appointments" module with:
      | field     | value                     |
      | therapist | Dr. Rivera                |
      | starts_at | 2030-01-07T09:00:00+00:00 |
      | fee_cents | 9000                      |
    And the event "invoice.opened" is published once by the "billing" module with:
      | field        | value |
      | amount_cents | 9000  |
    And the events are published in order:
      | appointment.booked |
      | invoice.opened     |
    And every event shares one correlation id
    And no handler failed
    And the invoice of the appointment is "open" for 9000 cents
    And "ada" is told "Your appointment with Dr. Rivera on 7 January 2030 at 09:00 UTC is booked."

  Scenario: A cancelled appointment voids its invoice
    Given "ada" has booked an intake with "Dr. Rivera" at "2030-01-07T09:00:00+00:00"
    When "ada" cancels the appointment
    Then the clinic answers 200
    And the event "appointment.cancelled" is published once by the "appointments" module
    And the event "invoice.opened" is not published
    And no handler failed
    And the invoice of the appointment is "void" for 15000 cents
    And "ada" is told "Your appointment with Dr. Rivera on 7 January 2030 at 09:00 UTC is cancelled."

  Scenario: Someone else's appointment is not found
    Given "ada" has booked a session with "Dr. Rivera" at "2030-01-07T09:00:00+00:00"
    And "grace" is a patient of the clinic
    When "grace" cancels the appointment
    Then the clinic answers 404
    And no event is published
    And the invoice of the appointment is "open" for 9000 cents

  Scenario: A discharged patient's booking rolls back with its event
    Given "ada" is discharged
    When "ada" books a session with "Dr. Rivera" at "2030-01-07T09:00:00+00:00"
    Then the clinic answers 403
    And no event is published
    And no invoice is opened
    And "ada" has no appointments
