"""The orders module: customers' orders and their status."""

from aura import Module
from shop.modules.orders.handlers import mark_rejected, mark_reserved

module = Module("orders", depends_on=["catalog"])
module.publishes("order.placed")
module.subscribe("stock.reserved", name="mark_reserved")(mark_reserved)
module.subscribe("stock.rejected", name="mark_rejected")(mark_rejected)
