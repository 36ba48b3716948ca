"""``aura demo`` (``demo = "bookshop.demo:run"`` in ``[tool.aura]``): one order, end to end."""

from __future__ import annotations

from typing import TextIO

from aura import Event, Platform


def run(out: TextIO, database: str = ":memory:") -> int:
    """Start the bookshop on SQLite, place one order and print each event; return 0."""

    def show(event: Event) -> None:  # annotated Event: the handler gets the whole envelope
        print(f"  {event.event_type} from {event.source_module}: {dict(event.data)}", file=out)

    modules = Platform.discover("bookshop.modules")
    with Platform(modules, database=database) as platform:  # started here, closed at the end
        print(f"bookshop: {', '.join(platform.modules)} on {database}", file=out)
        platform.bus.subscribe("*", show, "demo")
        catalog = platform.registry.get_service("catalog", "Catalog")
        catalog.add_book("978-0201633610", "Design Patterns", 4500)
        orders = platform.registry.get_service("orders", "Orders")
        orders.place("978-0201633610", 2)
    return 0
