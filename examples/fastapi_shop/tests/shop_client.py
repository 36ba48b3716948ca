"""The shop's app seen from sync tests and Gherkin steps: requests over httpx's ASGI transport."""

from __future__ import annotations

from typing import Any

import httpx
from anyio.from_thread import BlockingPortal


class Shop:
    """The shop's app, served in a blocking portal's event loop, called from sync code."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient) -> None:
        self._portal = portal
        self._client = client
        self.last: httpx.Response | None = None

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """Send one request; the response is also kept as :attr:`last`."""
        self.last = self._portal.call(lambda: self._client.request(method, path, **options))
        return self.last

    def add_product(self, sku: str, stock: int, price_cents: int = 1000) -> None:
        """Put ``stock`` units of ``sku`` on sale."""
        product = {"sku": sku, "name": f"Product {sku}", "price_cents": price_cents}
        response = self.request("POST", "/catalog/products", json={**product, "stock": stock})
        assert response.status_code == 201, response.text

    def order(self, user: int, sku: str, quantity: int, **headers: str) -> httpx.Response:
        """User ``user`` orders ``quantity`` of ``sku``."""
        return self.request(
            "POST",
            "/orders",
            json={"sku": sku, "quantity": quantity},
            headers={"X-User": str(user), **headers},
        )
