@users @mentalhealth @notifications
Feature: Deactivating a user
  The users module announces that someone was deactivated; the mentalhealth module then cancels
  that user's sessions that have not begun yet, never one already past, and the notifications
  module tells the people of each cancelled session.

  Background:
    Given the time is "2030-01-07T09:00:00+00:00"
    And an active therapist "bob"
    And an active patient "alice"
    And an active patient "carol"
    And "alice" has booked a session with "bob" at "2030-01-07T10:00:00+00:00"
    And "carol" has booked a session with "bob" at "2030-01-09T10:00:00+00:00"
    And 2 hours have passed

  Scenario: Deactivating a therapist cancels their future sessions and tells the patients
    When the therapist "bob" is deactivated
    Then the events are published in order:
      | user.deactivated          |
      | therapy_session.cancelled |
      | notification.sent         |
    And the event "therapy_session.cancelled" is published once by the "mentalhealth" module with:
      | session_id | {sessions.carol.id} |
      | reason     | user deactivated    |
    And the event "notification.sent" is published once with:
      | recipient_id | {carol.id}        |
      | template     | session_cancelled |
    And the session of "carol" is cancelled
    And the session of "alice" is scheduled
    And every event shares one correlation id
    And no handler failed

  Scenario: Deactivating a patient cancels only that patient's future sessions
    When the patient "carol" is deactivated
    Then the event "therapy_session.cancelled" is published once with:
      | session_id | {sessions.carol.id} |
    And the event "notification.sent" is published once with:
      | recipient_id | {bob.id}          |
      | template     | session_cancelled |
    And the session of "carol" is cancelled
    And the session of "alice" is scheduled
