"""What the shop's modules announce to each other: the events, each with its contract."""

from __future__ import annotations

from dataclasses import dataclass

from aura import event_contract


@event_contract("order.placed")
@dataclass
class OrderPlaced:
    """A customer placed an order (orders)."""

    order_id: int
    sku: str
    quantity: int
    total_cents: int


@event_contract("stock.reserved")
@dataclass
class StockReserved:
    """The catalog set the stock of an order aside (catalog)."""

    order_id: int
    sku: str
    quantity: int


@event_contract("stock.rejected")
@dataclass
class StockRejected:
    """The catalog has too few units for an order (catalog)."""

    order_id: int
    sku: str
    available: int


@event_contract("shipment.created")
@dataclass
class ShipmentCreated:
    """Shipping will send an order's parcel (shipping)."""

    shipment_id: int
    order_id: int
