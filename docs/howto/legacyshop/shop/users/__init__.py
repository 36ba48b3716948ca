"""Users: accounts and their e-mail addresses."""

from shop.users.schemas import UserRead
from shop.users.service import find_user

__all__ = ["UserRead", "find_user"]
