from fastapi import APIRouter

from shop.users.schemas import UserRead
from shop.users.service import find_user

router = APIRouter(prefix="/users")


@router.get("/{user_id}", response_model=UserRead)
def read_user(user_id: int) -> UserRead | None:
    return find_user(..., user_id)
