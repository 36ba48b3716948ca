from fastapi import APIRouter

from shop.billing.service import invoice

router = APIRouter(prefix="/billing")


@router.post("/invoices")
def create_invoice(user_id: int, cents: int) -> dict[str, int]:
    return {"id": invoice(..., user_id, cents).id}
