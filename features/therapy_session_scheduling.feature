@mentalhealth
Feature: Scheduling a therapy session
  A patient books a session with a therapist. The mentalhealth module asks the users module
  whether both may take part, books the slot and announces it; the notifications module emails
  both of them and the billing module opens a pending charge, all in the flow the booking
  started, under its one correlation id.

  Background:
    Given the time is "2030-01-07T09:00:00+00:00"
    And an active patient "alice"
    And an active therapist "bob"

  @users @notifications @billing
  Scenario: A booking is announced, confirmed to both and charged
    When "alice" books a session with "bob" at "2030-01-08T10:00:00+00:00"
    Then the session is scheduled
    And the event "therapy_session.scheduled" is published once by the "mentalhealth" module with:
      | field        | value                     |
      | session_id   | {session.id}              |
      | patient_id   | {alice.id}                |
      | therapist_id | {bob.id}                  |
      | scheduled_at | 2030-01-08T10:00:00+00:00 |
      | session_type | individual                |
    And the events are published in order:
      | therapy_session.scheduled |
      | notification.sent         |
      | notification.sent         |
    And the event "notification.sent" is published once by the "notifications" module with:
      | recipient_id | {alice.id}           |
      | template     | session_confirmation |
    And the event "notification.sent" is published once with:
      | recipient_id | {bob.id}             |
      | template     | session_notification |
    And every event shares one correlation id
    And "alice" owes 90.00 EUR for the session, pending
    And no handler failed

  @users
  Scenario Outline: A booking with someone who may not take part is refused and announces nothing
    Given <situation>
    When "alice" books a session with <therapist> at "2030-01-08T10:00:00+00:00"
    Then the booking is refused: "<error>"
    And no event is published

    Examples:
      | situation                          | therapist | error                                |
      | the patient "alice" is deactivated | "bob"     | Patient is not active                |
      | the therapist "bob" is deactivated | "bob"     | Therapist is not active              |
      | no user has the id 99              | user 99   | Therapist 99 does not exist.         |
      | an active patient "carol"          | "carol"   | Therapist {carol.id} does not exist. |

  Scenario: A therapist cannot be booked twice at overlapping times
    Given an active patient "dave"
    And "dave" has booked a session with "bob" at "2030-01-08T10:00:00+00:00"
    When "alice" books a session with "bob" at "2030-01-08T10:30:00+00:00"
    Then the booking is refused: "Therapist {bob.id} is not free at 2030-01-08T10:30:00+00:00: another session is booked less than 50 minutes before or after it (sessions last 50 minutes). Choose another time."
    And no event is published

  @notifications
  Scenario: When the email backend is down the booking stands and the failures are announced
    Given the email backend is down with "smtp down"
    When "alice" books a session with "bob" at "2030-01-08T10:00:00+00:00"
    Then the session is scheduled
    And the event "notification.failed" is published 2 times by the "notifications" module with:
      | error | smtp down |
    And the event "notification.failed" is published once with:
      | recipient_id | {alice.id}           |
      | template     | session_confirmation |
    And the event "notification.sent" is not published
    And no handler failed

  @users
  Scenario: While the users service keeps failing its breaker opens and bookings fail fast, until it recovers
    Given the "users" module's "UserService" service is unavailable
    When "alice" tries to book a session with "bob" at "2030-01-08T10:00:00+00:00" 3 times
    Then the 3 bookings are refused: "Service 'UserService' of module 'users' is unavailable: the scenario made it so."
    And the circuit breaker of "users.UserService" is open
    When "alice" books a session with "bob" at "2030-01-08T10:00:00+00:00"
    Then the booking is refused: "Circuit breaker 'users.UserService' is open; retry in 30.0 s."
    And no event is published
    When the "users" module's "UserService" service is available again
    And 29 seconds pass
    Then the circuit breaker of "users.UserService" is open
    When 1 second passes
    Then the circuit breaker of "users.UserService" is half-open
    When "alice" books a session with "bob" at "2030-01-08T10:00:00+00:00"
    Then the session is scheduled
    And the circuit breaker of "users.UserService" is closed
    And the event "therapy_session.scheduled" is published once
