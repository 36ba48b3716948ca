"""The catalog's HTTP routes."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel
from sqlalchemy.orm import Session

from aura.integrations.fastapi import module_services
from shop.db import get_session
from shop.modules.catalog.models import Product

router = APIRouter(prefix="/catalog", dependencies=[Depends(module_services("catalog"))])


class NewProduct(BaseModel):
    """A product to put on sale."""

    sku: str
    name: str
    price_cents: int
    stock: int


@router.post("/products", status_code=201)
def add_product(
    product: NewProduct, session: Annotated[Session, Depends(get_session, scope="function")]
) -> NewProduct:
    """Put a product on sale."""
    session.add(Product(**product.model_dump()))
    return product


@router.get("/products/{sku}")
def show_product(
    sku: str, session: Annotated[Session, Depends(get_session, scope="function")]
) -> NewProduct:
    """A product and its stock."""
    found = session.get(Product, sku)
    if found is None:
        raise HTTPException(404, f"The catalog has no product {sku!r}.")
    return NewProduct(
        sku=found.sku, name=found.name, price_cents=found.price_cents, stock=found.stock
    )
