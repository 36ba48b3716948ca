"""The orders' HTTP routes."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from aura.integrations.fastapi import ModuleServices, acting_user, module_services
from shop.auth import User, current_user
from shop.db import get_session
from shop.modules.orders.models import Order

router = APIRouter(prefix="/orders")


class NewOrder(BaseModel):
    """What a customer orders."""

    sku: str
    quantity: int = Field(gt=0)


class OrderView(BaseModel):
    """An order as the customer sees it."""

    order_id: int
    sku: str
    quantity: int
    total_cents: int
    status: str


def _view(order: Order) -> OrderView:
    return OrderView(
        order_id=order.id,
        sku=order.sku,
        quantity=order.quantity,
        total_cents=order.total_cents,
        status=order.status,
    )


@router.post("", status_code=201)
def place_order(
    wanted: NewOrder,
    user: Annotated[User, Depends(acting_user(current_user))],
    orders: Annotated[ModuleServices, Depends(module_services("orders"))],
    session: Annotated[Session, Depends(get_session, scope="function")],
) -> OrderView:
    """Place an order; the catalog reserves its stock once it is committed."""
    try:
        price = orders.get_service("catalog", "Catalog").price_of(wanted.sku)
    except LookupError as unknown:
        raise HTTPException(404, str(unknown)) from None
    order = Order(
        customer_id=user.id,
        sku=wanted.sku,
        quantity=wanted.quantity,
        total_cents=price * wanted.quantity,
    )
    session.add(order)
    session.flush()  # the order's id, for the event
    # Written in this request's transaction: delivered once it commits, never if it fails.
    orders.publish(
        "order.placed",
        {
            "order_id": order.id,
            "sku": order.sku,
            "quantity": order.quantity,
            "total_cents": order.total_cents,
        },
    )
    return _view(order)


@router.get("/{order_id}")
def show_order(
    order_id: int, session: Annotated[Session, Depends(get_session, scope="function")]
) -> OrderView:
    """An order and its status."""
    order = session.get(Order, order_id)
    if order is None:
        raise HTTPException(404, f"No order {order_id}.")
    return _view(order)
