from sqlalchemy.orm import Session

from shop.users.models import Account
from shop.users.schemas import UserRead


def find_user(session: Session, user_id: int) -> UserRead | None:
    account = session.get(Account, user_id)
    return UserRead(id=account.id, email=account.email) if account else None
