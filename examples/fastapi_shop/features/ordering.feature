@orders
Feature: Ordering
  An order placed over HTTP reserves its stock in the catalog, which has shipping create a
  shipment; each step commits with the event that announces it.

  Scenario: An order in stock is reserved and shipped
    Given the catalog has 5 units of "mug" at 1200 cents
    When customer 42 orders 2 units of "mug"
    Then the shop answers 201
    And the event "order.placed" is published once by the "orders" module with:
      | field       | value |
      | sku         | mug   |
      | quantity    | 2     |
      | total_cents | 2400  |
    And the event "stock.reserved" is published once by the "catalog" module
    And the event "shipment.created" is published once by the "shipping" module
    And the events are published in order:
      | order.placed     |
      | stock.reserved   |
      | shipment.created |
    And every event shares one correlation id
    And no handler failed
    And the order is "reserved"
    And the catalog has 3 units of "mug" left
    And 1 shipment is created

  Scenario: An order beyond the stock is rejected and nothing ships
    Given the catalog has 1 units of "mug" at 1200 cents
    When customer 42 orders 3 units of "mug"
    Then the event "stock.rejected" is published once by the "catalog" module
    And the event "shipment.created" is not published
    And the order is "rejected"
    And the catalog has 1 units of "mug" left
    And 0 shipments are created

  Scenario: A product the catalog does not have cannot be ordered
    When customer 42 orders 1 units of "teapot"
    Then the shop answers 404
    And no event is published
