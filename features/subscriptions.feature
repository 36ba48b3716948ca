@billing
Feature: Subscriptions
  A user subscribes to a plan: the billing module records the subscription and announces it
  with subscription.activated. A user holds one active subscription at a time.

  Background:
    Given the time is "2030-01-07T09:00:00+00:00"
    And an active patient "alice"

  Scenario Outline: Activating a plan announces it and billing holds it
    When "alice" subscribes to the "<plan>" plan
    Then the event "subscription.activated" is published once by the "billing" module with:
      | user_id      | {alice.id}                |
      | plan         | <plan>                    |
      | activated_at | 2030-01-07T09:00:00+00:00 |
    And billing holds an active "<plan>" subscription for "alice" at <price> EUR a month

    Examples:
      | plan    | price |
      | basic   | 29.00 |
      | premium | 49.00 |

  Scenario: A second active subscription is refused
    Given "alice" has subscribed to the "basic" plan
    When "alice" subscribes to the "premium" plan
    Then the subscription is refused: "User {alice.id} already has an active basic subscription (id {subscription.id}). A user can hold one active subscription at a time."
    And no event is published
    And billing holds an active "basic" subscription for "alice" at 29.00 EUR a month

  Scenario: An unknown plan is refused
    When "alice" subscribes to the "gold" plan
    Then the subscription is refused: "Unknown plan 'gold'. Choose one of: basic, premium."
    And no event is published
    And billing holds no active subscription for "alice"
