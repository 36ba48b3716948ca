"""Shipping's reaction: stock reserved for an order is shipped."""

from typing import Any

from aura import EventBus, Platform
from shop.db import handler_session
from shop.modules.shipping.models import Shipment


def create_shipment(data: dict[str, Any], bus: EventBus, platform: Platform) -> None:
    """On ``stock.reserved``: a shipment, and ``shipment.created``."""
    session = handler_session(platform)
    shipment = Shipment(order_id=data["order_id"], sku=data["sku"], quantity=data["quantity"])
    session.add(shipment)
    session.flush()
    bus.publish("shipment.created", {"shipment_id": shipment.id, "order_id": data["order_id"]})
