from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from shop.users.models import Base


class Invoice(Base):
    __tablename__ = "billing_invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users_accounts.id"))
    cents: Mapped[int]
