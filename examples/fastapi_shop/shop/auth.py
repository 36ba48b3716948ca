"""The shop's own authentication (a stand-in: the user id is the ``X-User`` header)."""

from typing import Annotated

from fastapi import Header, HTTPException


class User:
    """An authenticated customer."""

    def __init__(self, id: int) -> None:
        self.id = id


def current_user(x_user: Annotated[str | None, Header()] = None) -> User:
    """The customer the request comes from; 401 without one."""
    if x_user is None or not x_user.isdigit():
        raise HTTPException(401, "send X-User: <your user id>")
    return User(int(x_user))
