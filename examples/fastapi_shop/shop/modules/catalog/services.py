"""What the catalog offers other modules: prices."""

from typing import Protocol

from sqlalchemy.orm import Session

from aura import Platform
from shop.db import outbox_of
from shop.modules.catalog.models import Product


class PriceList(Protocol):
    """The catalog's contract: what other modules may ask it."""

    def price_of(self, sku: str) -> int:
        """The price of ``sku`` in cents; LookupError if the catalog has no such product."""
        ...


class Catalog:
    """The catalog's service, reading its own table."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    def price_of(self, sku: str) -> int:
        """The price of ``sku`` in cents; LookupError if the catalog has no such product."""
        with Session(outbox_of(self._platform).engine) as session:
            product = session.get(Product, sku)
        if product is None:
            raise LookupError(f"The catalog has no product {sku!r}.")
        return product.price_cents
