"""Errors the platform's modules raise for business rules, shared so callers can catch them."""

from __future__ import annotations

__all__ = ["BusinessRuleError", "NotFoundError"]


class BusinessRuleError(ValueError):
    """A request breaks a business rule (the seed's ``ValueError("Patient is not active")``)."""


class NotFoundError(LookupError):
    """A request names something that does not exist."""
