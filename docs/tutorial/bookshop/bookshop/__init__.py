"""The bookshop: a catalog, orders and notifications, three modules of one monolith."""
