"""The generic pytest-bdd steps of aura.testing.bdd, end to end in a fresh project with pytester.

Each step is shown passing, then failing with a message that names the step, what was expected
and what happened.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from aura.exceptions import ConfigurationError
from aura.testing.bdd import expand, lookup, parse_value
from tests.plugin.test_plugin import APP as PLUGIN_APP

APP = {
    **PLUGIN_APP,  # catalog and orders: orders places orders at catalog's prices
    "shop/payments/__init__.py": """
from aura import event_bus
from aura.breaker import CircuitBreaker
from aura.module import Module

module = Module("payments")
module.publishes("payment.*")
provider = {"up": True}


class Payments:
    def refund(self, sku: str) -> str:
        return f"refunded {sku}"


module.add_service(
    "Payments",
    Payments,
    breaker=lambda: CircuitBreaker(failure_threshold=2, timeout=10, name="payments.Payments"),
)


@module.subscribe("order.placed")
def take_payment(data: dict) -> None:
    if not provider["up"]:
        raise ConnectionError("payment provider unreachable")
    event_bus.publish("payment.taken", {"total": data["total"]}, "payments")
""",
    "conftest.py": """
from datetime import UTC, datetime

import pytest
from pytest_bdd import given, parsers, then, when

from shop.payments import provider

pytest_plugins = ["aura.testing.bdd"]


@pytest.fixture(autouse=True)
def provider_is_up():
    provider["up"] = True
    yield
    provider["up"] = True


@given("the payment provider is down")
def provider_down():
    provider["up"] = False


@when("the payment provider is back")
def provider_back():
    provider["up"] = True


@given(parsers.parse('"{sku}" is in the catalog at {price:d}'))
@when(parsers.parse('"{sku}" is added to the catalog at {price:d}'))
def add(aura_platform, aura_bdd_values, sku, price):
    aura_platform.container.resolve("catalog.Catalog").add(sku, price)
    aura_bdd_values[sku] = {"name": sku, "price": price}


@given(parsers.parse('{quantity:d} "{sku}" were ordered'))
@when(parsers.parse('{quantity:d} "{sku}" are ordered'))
def order(aura_platform, quantity, sku):
    aura_platform.registry.get_service("orders", "Orders").place(sku, quantity)


@given(parsers.parse('"{sku}" was refunded'))
@when(parsers.parse('"{sku}" is refunded'))
def refund(aura_platform, aura_bdd_values, sku):
    try:
        aura_platform.registry.get_service("payments", "Payments").refund(sku)
    except Exception as error:  # the spec checks refusals with its own steps
        aura_bdd_values.setdefault("errors", []).append(f"{type(error).__name__}: {error}")


@then(parsers.parse('the refunds were refused with "{message}"'))
def refused(aura_bdd_values, message):
    assert aura_bdd_values.get("errors"), "no refund was refused"
    assert set(aura_bdd_values["errors"]) == {message}, aura_bdd_values["errors"]


@then(parsers.parse('the last refund was refused with "{message}"'))
def last_refused(aura_bdd_values, message):
    assert aura_bdd_values.get("errors", [None])[-1] == message, aura_bdd_values.get("errors")


@when(parsers.parse('"{who}" leaves a note'))
def note(aura_platform, who):
    aura_platform.bus.publish("order.noted", {"note": {"by": who, "stars": 5}}, "orders")


@then(parsers.parse('the clock reads "{moment}"'))
def clock_reads(moment):
    assert datetime.now(UTC).isoformat() == moment


@then(parsers.parse('the running modules are "{names}"'))
def running(aura_platform, names):
    assert ", ".join(aura_platform.modules) == names
""",
    "test_features.py": """
from pytest_bdd import scenarios

scenarios("features")
""",
}


@pytest.fixture
def shop(pytester: pytest.Pytester) -> pytest.Pytester:
    for name, text in APP.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    pytester.syspathinsert()
    return pytester


def run(pytester: pytest.Pytester, scenarios: str, *args: str) -> pytest.RunResult:
    """Run one feature made of ``scenarios`` (a Background may come first)."""
    feature = pytester.path / "features" / "shop.feature"
    feature.parent.mkdir(exist_ok=True)
    feature.write_text("Feature: Shop\n" + scenarios)
    return pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", *args)


# --- events --------------------------------------------------------------------------------------


def test_published_steps_pass_on_what_the_when_block_published(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: ordering
    Given "pear" is in the catalog at 5
    When 2 "pear" are ordered
    Then the event "order.placed" is published
    And the event "order.placed" is published once
    And the event "payment.taken" is published 1 time by the "payments" module
    And the event "order.placed" is published by the "orders" module with:
      | field    | value        |
      | sku      | pear         |
      | quantity | 2            |
      | total    | 10           |
    And the event "order.placed" is published with:
      | sku | {pear.name} |
    And the event "product.added" is not published
    And the event "order.placed" is not published with:
      | sku | "apple" |
    And the events are published in order:
      | event           |
      | order.placed    |
      | payment.taken   |
    And every event shares one correlation id
    And no handler failed
""",
    )
    result.assert_outcomes(passed=1)


def test_a_near_miss_names_the_step_the_closest_event_and_shows_the_trace(
    shop: pytest.Pytester,
) -> None:
    result = run(
        shop,
        """
  Scenario: ordering
    When 2 "apple" are ordered
    Then the event "order.placed" is published with:
      | sku   | apple |
      | total | 7     |
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: Expected an event 'order.placed' with sku='apple', total=7; "
            "0 matched among 1 of that type:",
            "E *#1 total=6 (≠ 7)",
            'E *Failing step: Then the event "order.placed" is published with:',
            "E *in features/shop.feature, line 5, scenario 'ordering'",
            "*- aura trace -*",
            '*#1 order.placed from orders {"sku": "apple", "quantity": 2, "total": 6}*',
        ]
    )


def test_a_count_or_a_module_that_does_not_match_fails(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: twice
    When 2 "apple" are ordered
    Then the event "order.placed" is published twice

  Scenario: by the wrong module
    When 2 "apple" are ordered
    Then the event "order.placed" is published by the "catalog" module
""",
    )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["E *AssertionError: Expected 2 events 'order.placed'; 1 matched among 1 of that type."]
    )
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: Expected the event 'order.placed' to be published by the "
            "'catalog' module; it was published by: orders (1).",
            "E *#1 order.placed from orders*",
        ]
    )


def test_the_not_published_steps_fail_listing_what_was_published(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: not published
    When 1 "apple" are ordered
    Then the event "order.placed" is not published

  Scenario: nothing published
    When 1 "apple" are ordered
    Then no event is published
""",
    )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["E *AssertionError: Expected no event 'order.placed'; 1 was published:"]
    )
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: Expected no event; 2 were published:",
            "E *#1 order.placed from orders*",
            "E *#2 payment.taken from payments*caused_by=#1",
        ]
    )


def test_no_event_is_published_ignores_what_the_givens_published(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: arranging is not an outcome
    Given 1 "apple" were ordered
    When the payment provider is back
    Then no event is published
""",
    )
    result.assert_outcomes(passed=1)


def test_before_any_when_step_the_checks_see_every_event(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: no when
    Given 1 "apple" were ordered
    Then the event "order.placed" is published
""",
    )
    result.assert_outcomes(passed=1)


def test_the_order_and_correlation_steps_fail_with_the_events_found(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: order
    When 1 "apple" are ordered
    Then the events are published in order:
      | payment.taken   |
      | order.placed    |

  Scenario: two flows
    When 1 "apple" are ordered
    And 2 "apple" are ordered
    Then every event shares one correlation id
""",
    )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: Expected the events in order: payment.taken -> order.placed; "
            "matched payment.taken, then no 'order.placed' followed."
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: Expected every event to share one correlation id; found 2:",
            "E *correlation *:",
            "E *#1 order.placed from orders*",
            "E *#2 payment.taken from payments*",
            "E *correlation *:",
            "E *#3 order.placed from orders*",
        ]
    )


def test_a_malformed_table_is_explained(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: three columns
    When 1 "apple" are ordered
    Then the event "order.placed" is published with:
      | sku | apple | extra |

  Scenario: unknown value
    When 1 "apple" are ordered
    Then the event "order.placed" is published with:
      | sku | {kiwi.name} |
""",
    )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            'E *ConfigurationError: The table of \'Then the event "order.placed" is published '
            "with:' needs two columns, field | value; row 1 has 3: sku | apple | extra."
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E *ConfigurationError: {kiwi.name} names nothing: the scenario's values has no "
            "'kiwi'. Known there: nothing yet. A step must store it in aura_bdd_values first."
        ]
    )


def test_a_dotted_field_reaches_into_nested_data(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: nested
    When "ann" leaves a note
    Then the event "order.noted" is published with:
      | note.by    | ann |
      | note.stars | 5   |
""",
    )
    result.assert_outcomes(passed=1)


def test_a_missing_or_misshapen_table_is_explained(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: no table
    When 1 "apple" are ordered
    Then the event "order.placed" is published with:

  Scenario: no types
    When 1 "apple" are ordered
    Then the events are published in order:

  Scenario: two columns
    When 1 "apple" are ordered
    Then the events are published in order:
      | order.placed | payment.taken |

  Scenario: nothing to correlate
    When the payment provider is back
    Then every event shares one correlation id
""",
    )
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        [
            "E *ConfigurationError: 'Then the event \"order.placed\" is published with:' needs "
            "a table under it: | field | value | rows, one per field."
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E *ConfigurationError: 'Then the events are published in order:' needs a table "
            "under it, one event type per row: | order.placed |"
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E *ConfigurationError: The table of 'Then the events are published in order:' "
            "needs one column, the event type; row 1 has 2: order.placed | payment.taken."
        ]
    )
    result.stdout.fnmatch_lines(
        ["E *AssertionError: Expected events sharing one correlation id; no event was published."]
    )


def test_cells_are_json_values_or_text_and_placeholders_name_stored_values() -> None:
    values = {"alice": {"id": 3}, "card": SimpleNamespace(last4="4242")}
    assert parse_value("7", values) == 7
    assert parse_value('"7"', values) == "7"
    assert parse_value("null", values) is None
    assert parse_value("NaN", values) == "NaN"
    assert parse_value("smtp down", values) == "smtp down"
    assert parse_value("{alice.id}", values) == 3
    assert parse_value("[{alice.id}, 4]", values) == [3, 4]
    assert parse_value("session:{alice.id}", values) == "session:3"
    assert expand("card {card.last4}", values) == "card 4242"
    with pytest.raises(ConfigurationError) as missing:
        lookup("card.number", values)
    assert str(missing.value) == (
        "{card.number} names nothing: card has no 'number'. Known there: last4. A step must "
        "store it in aura_bdd_values first."
    )


# --- handlers and dead letters -------------------------------------------------------------------


def test_a_handler_failure_is_reported_by_no_handler_failed(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: negative price
    When "pear" is added to the catalog at -1
    Then no handler failed
""",
    )
    result.assert_outcomes(failed=1)  # the step only: its trace shows the failure, once
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: Expected no handler to fail; 1 failed:",
            "E *orders:announce on 'product.added' (*): ValueError: negative price for pear",
        ]
    )


def test_a_handler_failure_the_spec_names_is_expected(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: negative price
    When "pear" is added to the catalog at -1
    Then the "orders" module's handler for "product.added" failed

  Scenario: no failure
    When "pear" is added to the catalog at 4
    Then the "orders" module's handler for "product.added" failed
""",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: Expected a handler of the 'orders' module to fail on "
            "'product.added'; none did (an 'product.added' event was published). Handler "
            "failures:",
            "E *none",
        ]
    )


def test_dead_letters_are_counted_and_retried_once_the_fault_is_fixed(
    shop: pytest.Pytester,
) -> None:
    result = run(
        shop,
        """
  Scenario: payment outage
    Given the payment provider is down
    And 1 "apple" were ordered
    And the "payments" module's handler for "order.placed" failed
    And there is 1 dead letter for the "payments" module
    And there are no dead letters for the "catalog" module
    When the payment provider is back
    And the dead letters are retried
    Then the event "payment.taken" is published once
    And there are no dead letters
    When the dead letters are retried
    Then no event is published
""",
    )
    result.assert_outcomes(passed=1)


def test_a_handler_failure_the_spec_names_must_have_happened(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: payment outage
    Given the payment provider is down
    And the "payments" module's handler for "order.placed" failed
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: Expected a handler of the 'payments' module to fail on "
            "'order.placed'; none did (an 'order.placed' event was not published). Handler "
            "failures:",
            "E *none",
        ]
    )


def test_a_wrong_dead_letter_count_lists_the_letters(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: payment outage
    Given the payment provider is down
    When 1 "apple" are ordered
    Then the "payments" module's handler for "order.placed" failed
    And there are no dead letters
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: Expected 0 dead letters; found 1:",
            "E *payments:*take_payment failed on 'order.placed' (event *, 1 attempt): "
            "ConnectionError: payment provider unreachable",
        ]
    )


# --- time ---------------------------------------------------------------------------------------


def test_time_is_frozen_and_passes_as_the_spec_says(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: a day passes
    Given the time is "2030-01-07T09:00:00+00:00"
    When 1 day passes
    And 90 minutes pass
    And 2 hours have passed
    And 30 seconds pass
    Then the clock reads "2030-01-08T12:30:30+00:00"

  Scenario: a naive time is UTC
    Given the time is "2030-01-07T09:00:00"
    Then the clock reads "2030-01-07T09:00:00+00:00"
""",
    )
    result.assert_outcomes(passed=2)


def test_time_steps_refuse_a_bad_time_and_unfrozen_time(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: not a time
    Given the time is "next tuesday"

  Scenario: not frozen
    When 30 seconds pass
""",
    )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            'E *ConfigurationError: "the time is" needs an ISO-8601 time such as '
            "\"2030-01-07T09:00:00+00:00\"; got 'next tuesday'."
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E *ConfigurationError: Time can pass only while it is frozen: add Given the time "
            'is "2030-01-07T09:00:00+00:00" before anything that starts a clock, e.g. in the '
            "Background."
        ]
    )


# --- modules and services -----------------------------------------------------------------------


def test_only_the_named_modules_and_their_dependencies_run(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: catalog alone
    Given only the module "catalog" is running
    Then the running modules are "catalog"

  Scenario: orders and what it depends on
    Given only the modules "orders" are running
    When "pear" is added to the catalog at 4
    Then the running modules are "catalog, orders"
    And the event "product.added" is published by the "catalog" module

  Scenario: both
    Given only the modules "catalog" and "orders" are running
    Then the running modules are "catalog, orders"
""",
    )
    result.assert_outcomes(passed=3)


def test_choosing_modules_after_the_platform_started_is_refused(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: too late
    Given "pear" is in the catalog at 4
    And only the module "catalog" is running
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *ConfigurationError: 'And only the module \"catalog\" is running' must come "
            "before any step that uses the platform; it already runs catalog, orders, payments. "
            "Move the step to the start of the scenario or of its Background."
        ]
    )


def test_an_unavailable_service_opens_its_breaker_which_recovers(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: payments outage
    Given the time is "2030-01-07T09:00:00+00:00"
    And the "payments" module's "Payments" service is unavailable
    When "apple" is refunded
    Then the circuit breaker of "payments.Payments" is closed
    When "pear" is refunded
    Then the circuit breaker of "payments.Payments" is open
    And the refunds were refused with "ServiceNotAvailableError: Service 'Payments' of module \
'payments' is unavailable: the scenario made it so."
    When the "payments" module's "Payments" service is available again
    And 9 seconds pass
    Then the circuit breaker of "payments.Payments" is open
    When 1 second passes
    Then the circuit breaker of "payments.Payments" is half-open
    When "kiwi" is refunded
    Then the circuit breaker of "payments.Payments" is closed
""",
    )
    result.assert_outcomes(passed=1)


def test_an_open_breaker_refuses_calls_before_they_reach_the_service(
    shop: pytest.Pytester,
) -> None:
    result = run(
        shop,
        """
  Scenario: fail fast
    Given the time is "2030-01-07T09:00:00+00:00"
    And the "payments" module's "Payments" service is unavailable
    And "apple" was refunded
    And "apple" was refunded
    When the "payments" module's "Payments" service is available again
    And "apple" is refunded
    Then the last refund was refused with "CircuitBreakerOpenError: Circuit breaker \
'payments.Payments' is open; retry in 10.0 s."
""",
    )
    result.assert_outcomes(passed=1)


def test_breaker_and_service_steps_explain_a_mismatch(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: still closed
    Then the circuit breaker of "payments.Payments" is open

  Scenario: no breaker
    Then the circuit breaker of "orders.Orders" is open

  Scenario: no such service
    Given the "catalog" module's "Catalogue" service is unavailable

  Scenario: no such module
    Given the "billing" module's "Billing" service is unavailable

  Scenario: never down
    When the "catalog" module's "Catalog" service is available again

  Scenario: down twice
    Given the "catalog" module's "Catalog" service is unavailable
    And the "catalog" module's "Catalog" service is unavailable
""",
    )
    result.assert_outcomes(failed=6)
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: Expected the circuit breaker of payments.Payments to be OPEN; "
            "it is CLOSED (0 of 2 failures)."
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E *ConfigurationError: orders.Orders has no circuit breaker. Declare one with "
            "module.add_service(..., breaker=lambda: CircuitBreaker(...))."
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E *ConfigurationError: No service 'Catalogue' in module 'catalog'. Registered "
            "there: Catalog."
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E *ConfigurationError: No module 'billing' offers a service on this platform. "
            "Modules that do: catalog, orders, payments."
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E *ConfigurationError: catalog.Catalog was not made unavailable, so it cannot come "
            "back. Unavailable now: none."
        ]
    )
    result.stdout.fnmatch_lines(["E *ConfigurationError: catalog.Catalog is already unavailable."])


# --- collection ---------------------------------------------------------------------------------


def test_a_step_without_a_definition_fails_collection(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
  Scenario: unbound
    When 1 "apple" are ordered
    Then the moon is full
""",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting test_features.py*",
            "1 step of the scenarios bound here matches no step definition:",
            "  features/shop.feature:5: Then the moon is full (scenario 'unbound')",
            "Define each with @given/@when/@then in a conftest.py, or fix its wording to match "
            "an existing step (aura.testing.bdd lists the generic ones).",
            "*Interrupted: 1 error during collection*",
        ]
    )
