"""What the bookshop's modules know of each other: a service contract and three events.

A module imports this file, never another module: the catalog's service is looked up by name
in the registry and used through :class:`CatalogContract`; events travel on the bus.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from aura import event_contract


class UnknownBook(LookupError):
    """No book in the catalog has this ISBN: an answer, not a failure of the catalog."""


class CatalogContract(ABC):
    """What the catalog offers the other modules."""

    @abstractmethod
    def add_book(self, isbn: str, title: str, price_cents: int) -> None:
        """Put a book on sale."""

    @abstractmethod
    def price_of(self, isbn: str) -> int:
        """Return a book's price in cents; raise UnknownBook for an ISBN not on sale."""


@event_contract("book.added")
@dataclass
class BookAdded:
    """A book went on sale."""

    isbn: str
    title: str
    price_cents: int


@event_contract("order.placed")
@dataclass
class OrderPlaced:
    """A customer ordered copies of a book."""

    order_id: int
    isbn: str
    quantity: int
    total_cents: int


@event_contract("confirmation.sent")
@dataclass
class ConfirmationSent:
    """The customer was told that their order was placed."""

    order_id: int
    message: str
