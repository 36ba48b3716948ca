"""The catalog module: products, prices and stock."""

from aura import Module
from shop.modules.catalog.handlers import reserve_stock
from shop.modules.catalog.services import Catalog, PriceList

module = Module("catalog")
module.add_service("Catalog", Catalog, contract=PriceList)
module.publishes("stock.reserved", "stock.rejected")
module.subscribe("order.placed", name="reserve_stock")(reserve_stock)
