"""The orders' reactions: the catalog reserved the stock of an order, or could not."""

from typing import Any

from aura import Platform
from shop.db import handler_session
from shop.modules.orders.models import Order


def mark_reserved(data: dict[str, Any], platform: Platform) -> None:
    """On ``stock.reserved``: the order is reserved."""
    _set_status(platform, data["order_id"], "reserved")


def mark_rejected(data: dict[str, Any], platform: Platform) -> None:
    """On ``stock.rejected``: the order is rejected."""
    _set_status(platform, data["order_id"], "rejected")


def _set_status(platform: Platform, order_id: int, status: str) -> None:
    order = handler_session(platform).get(Order, order_id)
    assert order is not None, f"no order {order_id}"
    order.status = status
