"""The catalog's reactions: an order placed reserves its stock, or is rejected."""

from typing import Any

from aura import EventBus, Platform
from shop.db import handler_session
from shop.modules.catalog.models import Product, Reservation


def reserve_stock(data: dict[str, Any], bus: EventBus, platform: Platform) -> None:
    """On ``order.placed``: take the units from stock, in the delivery's own transaction."""
    session = handler_session(platform)
    product = session.get(Product, data["sku"], with_for_update=True)
    available = 0 if product is None else product.stock
    if product is None or product.stock < data["quantity"]:
        bus.publish(
            "stock.rejected",
            {"order_id": data["order_id"], "sku": data["sku"], "available": available},
        )
        return
    product.stock -= data["quantity"]
    session.add(Reservation(order_id=data["order_id"], sku=product.sku, quantity=data["quantity"]))
    bus.publish(
        "stock.reserved",
        {"order_id": data["order_id"], "sku": product.sku, "quantity": data["quantity"]},
    )
