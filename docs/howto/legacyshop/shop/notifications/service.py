from sqlalchemy.orm import Session

from shop.billing.models import Invoice
from shop.users import find_user

TEMPLATES = {"reminder": "Invoice {id}: {cents} cents are due."}


def remind(session: Session, invoice_id: int) -> str:
    due = session.get(Invoice, invoice_id)
    user = find_user(session, due.user_id)
    return f"to {user.email}: " + TEMPLATES["reminder"].format(id=due.id, cents=due.cents)
