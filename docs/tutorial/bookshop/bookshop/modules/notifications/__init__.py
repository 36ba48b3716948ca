"""The notifications module: confirms each order to its customer."""

from __future__ import annotations

from aura import EventBus, Module

from bookshop.contracts import OrderPlaced

module = Module("notifications", description="Confirms each order to its customer.")
module.publishes("confirmation.sent")


class Outbox:
    """The messages sent so far (a real shop would send emails)."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def send(self, message: str) -> None:
        """Send one message."""
        self.messages.append(message)


module.provide(Outbox, Outbox)  # for the module's own code: a singleton by default


@module.subscribe("order.placed")
def confirm_order(order: OrderPlaced, outbox: Outbox, bus: EventBus) -> None:
    """Tell the customer; ``outbox`` and ``bus`` are injected from the container by type."""
    message = f"Order {order.order_id}: {order.quantity} x {order.isbn}, {order.total_cents} cents"
    outbox.send(message)
    bus.publish(
        "confirmation.sent", {"order_id": order.order_id, "message": message}, "notifications"
    )
