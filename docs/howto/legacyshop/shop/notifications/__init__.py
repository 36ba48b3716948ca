"""Notifications: e-mails about invoices."""
