"""Visits: booking them. Billing hears of each one through an event."""

from aura import Module

module = Module("visits", depends_on=["patients"])
module.publishes("visit.booked")
