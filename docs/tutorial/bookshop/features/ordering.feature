@orders @notifications
Feature: Ordering books
  The catalog prices an order; the customer is told once it is placed.

  Scenario: An order is priced by the catalog and confirmed
    Given the book "978-0135957059" costs 4200 cents
    When a customer orders 2 copies of "978-0135957059"
    Then the event "order.placed" is published once by the "orders" module with:
      | field       | value          |
      | isbn        | 978-0135957059 |
      | total_cents | 8400           |
    And the event "confirmation.sent" is published once by the "notifications" module
    And the events are published in order:
      | order.placed      |
      | confirmation.sent |
    And every event shares one correlation id
    And no handler failed

  Scenario: A book the catalog does not have cannot be ordered
    Given the book "978-0135957059" costs 4200 cents
    When a customer orders 1 copy of "000-0000000000"
    Then no event is published

  Scenario: While the catalog is down, orders are refused and its breaker opens
    Given the time is "2030-01-07T09:00:00+00:00"
    And the book "978-0135957059" costs 4200 cents
    And the "catalog" module's "Catalog" service is unavailable
    When a customer orders 1 copy of "978-0135957059"
    And a customer orders 1 copy of "978-0135957059"
    Then the circuit breaker of "catalog.Catalog" is open
    And no event is published
    When the "catalog" module's "Catalog" service is available again
    And 60 seconds pass
    Then the circuit breaker of "catalog.Catalog" is half-open
    When a customer orders 1 copy of "978-0135957059"
    Then the event "order.placed" is published once by the "orders" module
    And the circuit breaker of "catalog.Catalog" is closed
