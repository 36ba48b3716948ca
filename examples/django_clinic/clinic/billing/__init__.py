"""The billing module, made of two apps: invoices (one per booked appointment) and payments.

Both apps' AppConfigs say ``aura_module = "clinic.billing"``: their views and handlers act as
this one module, and may use each other's code (payments records against invoices).
"""

import clinic.contracts  # noqa: F401  (registers the events' contracts)
from aura import Module

module = Module("billing", description="Invoices for appointments, and their payments.")
module.publishes("invoice.opened", "invoice.paid")
# Its handlers are attached by InvoicesConfig.ready() (handlers.py uses the models).
