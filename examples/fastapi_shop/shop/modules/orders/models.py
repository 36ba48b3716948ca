"""The orders' table."""

from sqlalchemy.orm import Mapped, mapped_column

from shop.db import Base


class Order(Base):
    """A customer's order: ``placed``, then ``reserved`` or ``rejected``."""

    __tablename__ = "orders_orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int]
    sku: Mapped[str]
    quantity: Mapped[int]
    total_cents: Mapped[int]
    status: Mapped[str] = mapped_column(default="placed")
