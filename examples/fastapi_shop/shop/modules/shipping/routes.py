"""Shipping's HTTP routes."""

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from aura.integrations.fastapi import module_services
from shop.db import get_session
from shop.modules.shipping.models import Shipment

router = APIRouter(prefix="/shipping", dependencies=[Depends(module_services("shipping"))])


class ShipmentView(BaseModel):
    """A shipment."""

    shipment_id: int
    order_id: int
    sku: str
    quantity: int


@router.get("/shipments")
def list_shipments(
    session: Annotated[Session, Depends(get_session, scope="function")],
) -> list[ShipmentView]:
    """Every shipment, oldest first."""
    return [
        ShipmentView(shipment_id=s.id, order_id=s.order_id, sku=s.sku, quantity=s.quantity)
        for s in session.scalars(select(Shipment).order_by(Shipment.id))
    ]
