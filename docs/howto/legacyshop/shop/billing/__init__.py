"""Billing: invoices for users."""
