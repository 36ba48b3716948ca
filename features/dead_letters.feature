@billing @mentalhealth
Feature: Dead letters
  When a handler raises, the bus keeps the event as a dead letter for that handler, and the other
  handlers still run. The fault here is an honest one: the payment provider cannot be reached,
  so billing's gateway raises ConnectionError while billing captures a completed session's
  charge. Billing lets it propagate on purpose: a capture that was never attempted must be
  retried, not recorded as declined. (A failing email backend would not do: notifications
  records that failure itself and raises nothing.) Once the provider answers again, retrying the
  dead letters captures the charge, and only once.

  Background:
    Given the time is "2030-01-07T09:00:00+00:00"
    And an active patient "alice"
    And an active therapist "bob"
    And the payment provider is unreachable
    And "alice" has booked a session with "bob" at "2030-01-08T10:00:00+00:00"
    And the session has started

  Scenario: A failing handler leaves a dead letter and the charge pending
    When the session is completed
    Then the "billing" module's handler for "therapy_session.completed" failed
    And there is 1 dead letter for the "billing" module
    And there is 1 dead letter
    And the event "payment.completed" is not published
    And the session's charge is pending
    And the session is completed

  Scenario: Once the fault is fixed, retrying delivers the event once
    Given the session has been completed
    And the "billing" module's handler for "therapy_session.completed" failed
    When the payment provider is reachable again
    And the dead letters are retried
    Then the event "payment.completed" is published once by the "billing" module with:
      | session_id | {session.id} |
    And there are no dead letters
    And the session's charge is captured
    When the dead letters are retried
    Then no event is published
