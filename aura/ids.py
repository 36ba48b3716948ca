"""Fast random identifiers in the UUID4 format, for event and correlation ids.

``str(uuid.uuid4())`` asks the OS for 16 random bytes and builds a ``UUID`` object each time;
that was a fifth of the cost of a publish. Here each thread draws from its own pool of
``os.urandom`` bytes and formats version-4 UUID text directly: the same randomness and format,
without the per-call system call and object. A forked child starts with an empty pool, so parent
and child never hand out the same ids.
"""

from __future__ import annotations

import os
import threading

__all__ = ["new_id"]

_POOL_SIZE = 4096  # 256 ids per system call


class _Pool(threading.local):
    def __init__(self) -> None:
        self.hex = ""
        self.position = 0


_pool = _Pool()


def _reset_after_fork() -> None:
    global _pool
    _pool = _Pool()


os.register_at_fork(after_in_child=_reset_after_fork)


def new_id() -> str:
    """Return a new random id formatted as a UUID4 string (``xxxxxxxx-xxxx-4xxx-yxxx-...``)."""
    pool = _pool
    at = pool.position
    digits = pool.hex
    if at + 32 > len(digits):
        digits = pool.hex = os.urandom(_POOL_SIZE).hex()
        at = 0
    pool.position = at + 32
    # The version digit is 4 and the variant digit one of 8, 9, a, b (RFC 4122), as in uuid4().
    variant = "89ab"[int(digits[at + 16], 16) & 3]
    return (
        f"{digits[at : at + 8]}-{digits[at + 8 : at + 12]}-4{digits[at + 13 : at + 16]}-"
        f"{variant}{digits[at + 17 : at + 20]}-{digits[at + 20 : at + 32]}"
    )
