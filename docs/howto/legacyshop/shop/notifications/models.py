from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from shop.notifications.service import TEMPLATES
from shop.users.models import Base


class Reminder(Base):
    __tablename__ = "notifications_reminders"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("billing_invoices.id"))
    template: Mapped[str] = mapped_column(default=next(iter(TEMPLATES)))
