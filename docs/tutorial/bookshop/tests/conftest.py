"""The bookshop's own Gherkin steps; the generic ones come from aura.testing.bdd (bdd = true)."""

from __future__ import annotations

from typing import Any

from aura import CircuitBreakerOpenError, Platform
from pytest_bdd import given, parsers, when


@given(parsers.parse('the book "{isbn}" costs {price:d} cents'))
def book_on_sale(aura_platform: Platform, isbn: str, price: int) -> None:
    """Given the book "ISBN" costs N cents."""
    catalog = aura_platform.registry.get_service("catalog", "Catalog")
    catalog.add_book(isbn, f"Book {isbn}", price)


@when(parsers.re(r'a customer orders (?P<quantity>\d+) cop(?:y|ies) of "(?P<isbn>[^"]+)"'))
def customer_orders(
    aura_platform: Platform, aura_bdd_values: dict[str, Any], quantity: str, isbn: str
) -> None:
    """When a customer orders N copies of "ISBN"; a refusal is kept in ``{refusal}``."""
    orders = aura_platform.registry.get_service("orders", "Orders")
    try:
        aura_bdd_values["order"] = orders.place(isbn, int(quantity))
    except (LookupError, CircuitBreakerOpenError) as refusal:  # unknown book, catalog down
        aura_bdd_values["refusal"] = str(refusal)
