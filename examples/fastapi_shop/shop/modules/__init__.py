"""The shop's modules: catalog, orders, shipping."""

import shop.contracts  # noqa: F401  (registers the events' contracts before any module)
