@mentalhealth @billing
Feature: A therapy session's life: started, completed and paid, or cancelled
  Once booked, a session is started and then completed in the mentalhealth module. The billing
  module captures the session's charge when it completes and announces the payment, or the
  decline, which the notifications module passes on to the patient. A cancelled session is
  never charged, and both people are told.

  Background:
    Given the time is "2030-01-07T09:00:00+00:00"
    And an active patient "alice"
    And an active therapist "bob"

  Scenario Outline: A completed session is paid at the price of its type
    Given "alice" has booked a "<type>" session with "bob" at "2030-01-08T10:00:00+00:00"
    When the session starts
    And the session is completed
    Then the events are published in order:
      | therapy_session.started   |
      | therapy_session.completed |
      | payment.completed         |
    And the event "payment.completed" is published once by the "billing" module with:
      | patient_id   | {alice.id}     |
      | session_id   | {session.id}   |
      | amount_cents | <amount_cents> |
      | currency     | EUR            |
    And the session's charge is captured
    And the session is completed
    And no handler failed

    Examples:
      | type       | amount_cents |
      | individual | 9000         |
      | couples    | 12000        |
      | group      | 4000         |

  @notifications
  Scenario: A declined payment is announced and the patient is told
    Given the payment gateway declines every charge with "card declined"
    And "alice" has booked a session with "bob" at "2030-01-08T10:00:00+00:00"
    And the session has started
    When the session is completed
    Then the events are published in order:
      | therapy_session.completed |
      | payment.failed            |
      | notification.sent         |
    And the event "payment.failed" is published once by the "billing" module with:
      | patient_id | {alice.id}    |
      | session_id | {session.id}  |
      | reason     | card declined |
    And the event "notification.sent" is published once with:
      | recipient_id | {alice.id}     |
      | template     | payment_failed |
    And the event "payment.completed" is not published
    And every event shares one correlation id
    And the session's charge is failed

  @notifications
  Scenario: Cancelling a session voids its charge and tells both
    Given "alice" has booked a session with "bob" at "2030-01-08T10:00:00+00:00"
    When the session is cancelled because "patient request"
    Then the event "therapy_session.cancelled" is published once with:
      | session_id | {session.id}    |
      | reason     | patient request |
    And the event "notification.sent" is published once with:
      | recipient_id | {alice.id}        |
      | template     | session_cancelled |
    And the event "notification.sent" is published once with:
      | recipient_id | {bob.id}          |
      | template     | session_cancelled |
    And every event shares one correlation id
    And the session's charge is void
    And the session is cancelled
