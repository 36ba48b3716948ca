"""The shipping module: parcels for reserved orders."""

from aura import Module
from shop.modules.shipping.handlers import create_shipment

module = Module("shipping")
module.publishes("shipment.created")
module.subscribe("stock.reserved", name="create_shipment")(create_shipment)
