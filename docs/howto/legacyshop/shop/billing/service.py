from sqlalchemy.orm import Session

from shop.billing.models import Invoice
from shop.users import find_user


def invoice(session: Session, user_id: int, cents: int) -> Invoice:
    if find_user(session, user_id) is None:
        raise LookupError(f"no user {user_id}")
    created = Invoice(user_id=user_id, cents=cents)
    session.add(created)
    return created
