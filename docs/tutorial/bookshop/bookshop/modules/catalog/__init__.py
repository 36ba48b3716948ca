"""The catalog module: the books on sale and their prices."""

from __future__ import annotations

from aura import CircuitBreaker, Database, EventBus, Module
from aura.access import authenticated

from bookshop.contracts import CatalogContract, UnknownBook

module = Module("catalog", description="The books on sale and their prices.")
module.publishes("book.added")


@module.on_start
def create_tables(database: Database) -> None:
    """Create the module's table (its name starts with the module's)."""
    database.executescript(
        "CREATE TABLE IF NOT EXISTS catalog_books ("
        " isbn TEXT PRIMARY KEY, title TEXT NOT NULL, price_cents INTEGER NOT NULL)"
    )


class Catalog(CatalogContract):
    """The catalog's service; the container injects the database and the bus."""

    def __init__(self, database: Database, bus: EventBus) -> None:
        self.database = database
        self.bus = bus

    def add_book(self, isbn: str, title: str, price_cents: int) -> None:
        """Put a book on sale and announce it."""
        with self.database.transaction():  # the row and the event commit together
            self.database.execute(
                "INSERT INTO catalog_books VALUES (?, ?, ?)", (isbn, title, price_cents)
            )
            book = {"isbn": isbn, "title": title, "price_cents": price_cents}
            self.bus.publish("book.added", book, "catalog")

    def price_of(self, isbn: str) -> int:
        """Return a book's price in cents."""
        row = self.database.query_one(
            "SELECT price_cents FROM catalog_books WHERE isbn = ?", (isbn,)
        )
        if row is None:
            raise UnknownBook(f"No book with ISBN {isbn!r} in the catalog.")
        return int(row["price_cents"])


def catalog_breaker() -> CircuitBreaker:
    """Two failures in a row open it for a minute; an unknown book is no failure."""
    return CircuitBreaker(failure_threshold=2, timeout=60, exclude=[UnknownBook])


# A factory, so that each platform (each test) gets a fresh breaker.
module.add_service("Catalog", Catalog, contract=CatalogContract, breaker=catalog_breaker)


@module.route("GET", "/books/{isbn}", allow=authenticated())  # any caller with a token
def get_price(isbn: str, catalog: Catalog) -> dict[str, object]:
    """Serve a book's price at GET /api/catalog/books/{isbn} (``aura serve``)."""
    return {"isbn": isbn, "price_cents": catalog.price_of(isbn)}
