"""Types the modules' HTTP routes share: the ids a path or a JSON body names."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

__all__ = ["BodyId", "Id"]

Id = Annotated[int, Field(ge=1, le=2**53 - 1)]
"""An id in a path: text read as a positive int (JSON numbers stay exact up to 2**53 - 1)."""


def _a_number(value: Any) -> Any:
    """Refuse what pydantic's lax int would read as a number: text ("1") and booleans."""
    if isinstance(value, str | bool):
        raise ValueError(f"an id is a JSON number, got {type(value).__name__} {value!r}")
    return value


BodyId = Annotated[int, Field(ge=1, le=2**53 - 1), BeforeValidator(_a_number)]
"""An id in a JSON body: a number (``7``, or ``7.0`` as JSON Schema's integer allows), never
``"7"`` or ``true``."""
