"""``depot``: a small Aura project for pytester directories, clean or with planted problems.

Two modules, ``stock`` and ``shipping`` (which looks ``stock`` up and declares it), with an
import-linter configuration holding an independence contract and Aura's module dependency
contract. ``BROKEN`` plants one problem of each kind the checks know; the line numbers in the
tests' expectations refer to these texts. Its event types (``parcel.*``) belong to no other test,
because event contracts register in the process-wide catalog.
"""

from __future__ import annotations

import pytest

CLEAN = {
    "depot/__init__.py": "",
    "depot/contracts.py": '''
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from aura.events import event_contract


class StockContract(ABC):
    @abstractmethod
    def count(self, sku: str) -> int: ...

    @abstractmethod
    def reserve(self, *skus: str, until: str | None = None, **notes: str) -> None: ...


class LedgerContract(ABC):
    @abstractmethod
    def record(self, sku: str) -> None: ...

    @abstractmethod
    def total(self) -> int: ...


@event_contract("parcel.shipped")
@dataclass(frozen=True)
class ParcelShipped:
    """A parcel left the depot."""

    parcel_id: int
    sku: str
    note: str | None = None
    labels: list[str] = field(default_factory=list)
''',
    "depot/modules/__init__.py": "",
    "depot/modules/stock/__init__.py": """
from aura.module import Module
from depot.contracts import StockContract
from depot.modules.stock.domain import Stock

module = Module("stock", description="Counts what is on the shelves.")
module.add_service("Stock", Stock, contract=StockContract)
""",
    "depot/modules/stock/domain.py": """
from depot.contracts import StockContract


class Stock(StockContract):
    def count(self, sku: str) -> int:
        return 3

    def reserve(self, *skus: str, until: str | None = None, **notes: str) -> None: ...
""",
    "depot/modules/shipping/__init__.py": """
from aura.module import Module
from depot.modules.shipping.application import Shipping, on_parcel_shipped

module = Module("shipping", depends_on=["stock"], description="Ships parcels.")
module.publishes("parcel.shipped")
module.add_service("Shipping", Shipping)
module.subscribe("parcel.shipped")(on_parcel_shipped)


@module.on_start
def create_tables(database) -> None:
    database.execute("CREATE TABLE IF NOT EXISTS shipping_parcels (id INTEGER PRIMARY KEY)")


@module.route("GET", "/parcels/{parcel_id}")
def get_parcel(parcel_id: int) -> dict:
    return {"id": parcel_id}
""",
    "depot/modules/shipping/application.py": """
from aura.bus import EventBus
from aura.registry import ServiceRegistry

STOCK = "stock"
shipped = []


class Shipping:
    def __init__(self, registry: ServiceRegistry, bus: EventBus) -> None:
        self.registry = registry
        self.bus = bus

    def ship(self, sku: str) -> None:
        if self.registry.get_service(STOCK, "Stock").count(sku) > 0:
            self.bus.publish("parcel.shipped", {"parcel_id": 1, "sku": sku}, "shipping")


def on_parcel_shipped(data: dict) -> None:
    shipped.append(data["sku"])
""",
    ".importlinter": """
[importlinter]
root_packages =
    depot
contract_types =
    module_dependencies: aura.architecture.contracts.ModuleDependencyContract

[importlinter:contract:independent]
name = depot modules are independent
type = independence
modules =
    depot.modules.*

[importlinter:contract:declared]
name = depot modules declare what they look up and subscribe to
type = module_dependencies
modules = depot.modules
""",
}

# One problem of each kind: an import across modules (line 3), a lookup of an undeclared module
# (line 19), a subscription to an event nobody publishes nor has a contract for (line 8), an
# unused dependency (stock), a factory whose annotated product misses a contract method.
BROKEN = {
    **CLEAN,
    "depot/modules/shipping/application.py": CLEAN["depot/modules/shipping/application.py"]
    .replace(
        "from aura.registry import ServiceRegistry\n",
        "from aura.registry import ServiceRegistry\nfrom depot.modules.stock.domain import Stock\n",
    )
    .lstrip("\n"),
    "depot/modules/billing/__init__.py": """
from aura.module import Module
from aura.registry import ServiceRegistry
from depot.contracts import LedgerContract

module = Module("billing", depends_on=["stock"])


@module.subscribe("parcel.lost")
def refund(data: dict) -> None: ...


class Invoices:
    def __init__(self, registry: ServiceRegistry) -> None:
        self.registry = registry

    def invoice(self, sku: str) -> None:
        shipping = self.registry.get_service(
            "shipping", "Shipping"
        )
        shipping.ship(sku)


class Ledger:
    def record(self, sku: str) -> None: ...


def make_ledger() -> Ledger:
    return Ledger()


module.add_service("Invoices", Invoices)
module.add_service("Ledger", make_ledger, contract=LedgerContract)
""".lstrip("\n"),
}


def write_project(pytester: pytest.Pytester, files: dict[str, str]) -> pytest.Pytester:
    """Write ``files`` into the pytester directory and make its packages importable."""
    for name, text in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip("\n") if name.endswith(".py") else text)
    pytester.syspathinsert()
    return pytester
