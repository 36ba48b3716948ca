"""The catalog's tables: products and the stock reserved for orders."""

from sqlalchemy.orm import Mapped, mapped_column

from shop.db import Base


class Product(Base):
    """A product on sale, with the units left in stock."""

    __tablename__ = "catalog_products"
    sku: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]
    price_cents: Mapped[int]
    stock: Mapped[int]


class Reservation(Base):
    """Units of a product set aside for an order."""

    __tablename__ = "catalog_reservations"
    order_id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str]
    quantity: Mapped[int]
