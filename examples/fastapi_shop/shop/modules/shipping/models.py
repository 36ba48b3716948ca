"""The shipments' table."""

from sqlalchemy.orm import Mapped, mapped_column

from shop.db import Base


class Shipment(Base):
    """A parcel to send for an order whose stock is reserved."""

    __tablename__ = "shipping_shipments"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(unique=True)
    sku: Mapped[str]
    quantity: Mapped[int]
