"""The unit of work every module's application layer runs its use cases in.

A use case writes through its repositories and publishes its events inside one
``transaction()``: both commit together, or neither does (the events are delivered only after
the commit). The platform's :class:`aura.database.Database` satisfies the protocol; each module
names its own port after it (``UserUnitOfWork``, ...) and its ``__init__`` wires the adapter, so
the application layer never imports the concrete database.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

__all__ = ["UnitOfWork"]


class UnitOfWork(Protocol):
    """Runs a block of writes, and the events published in it, as one transaction."""

    def transaction(self) -> AbstractContextManager[object]:
        """Commit everything done in the block together, or nothing if it raises."""
        ...
