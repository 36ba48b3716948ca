"""The orders module: takes orders for books, priced by the catalog."""

from __future__ import annotations

from typing import Any

from aura import Database, EventBus, Module, ServiceRegistry

module = Module("orders", depends_on=["catalog"], description="Takes orders for books.")
module.publishes("order.placed")


@module.on_start
def create_tables(database: Database) -> None:
    """Create the module's table."""
    database.executescript(
        "CREATE TABLE IF NOT EXISTS orders_orders (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " isbn TEXT NOT NULL, quantity INTEGER NOT NULL, total_cents INTEGER NOT NULL)"
    )


class Orders:
    """Places orders; asks the catalog for prices through the registry."""

    def __init__(self, database: Database, bus: EventBus, registry: ServiceRegistry) -> None:
        self.database = database
        self.bus = bus
        self.registry = registry

    def place(self, isbn: str, quantity: int) -> dict[str, Any]:
        """Record an order and publish ``order.placed``; return the order."""
        if quantity < 1:
            raise ValueError(f"An order needs at least one copy, got {quantity}.")
        catalog = self.registry.get_service("catalog", "Catalog")  # a declared dependency
        total = catalog.price_of(isbn) * quantity
        with self.database.transaction():  # delivered once the order is committed
            cursor = self.database.execute(
                "INSERT INTO orders_orders (isbn, quantity, total_cents) VALUES (?, ?, ?)",
                (isbn, quantity, total),
            )
            order = {"order_id": cursor.lastrowid, "isbn": isbn, "quantity": quantity}
            order["total_cents"] = total
            self.bus.publish("order.placed", order, "orders")
        return order


module.add_service("Orders", Orders)
