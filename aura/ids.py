"""Fast random identifiers in the UUID4 format, for event and correlation ids.

``str(uuid.uuid4())`` asks the OS for 16 random bytes and builds a ``UUID`` object each time;
that was a fifth of the cost of a publish. Here each thread keeps a batch of ready ids, made 256
at a time from one ``os.urandom`` call by bulk byte operations (no Python loop per id): the same
randomness and format, a ``list.pop`` per id. A forked child starts with an empty batch, so
parent and child never hand out the same ids.
"""

from __future__ import annotations

import os
import threading

__all__ = ["new_id"]

_BATCH = 256  # ids per system call (4 KiB of randomness)

# RFC 4122 version 4: the high nibble of byte 6 is 4, the top bits of byte 8 are 10 (the variant
# digit one of 8, 9, a, b), as in uuid4(). Applied to every id of a batch at once.
_VERSION = bytes((byte & 0x0F) | 0x40 for byte in range(256))
_VARIANT = bytes((byte & 0x3F) | 0x80 for byte in range(256))


def _batch(count: int = _BATCH) -> list[str]:
    """``count`` new ids, in the canonical text form ``xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx``."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = raw[6::16].translate(_VERSION)
    raw[8::16] = raw[8::16].translate(_VARIANT)
    # Hex in groups of 4 digits, each id 8 groups: "g0-g1-g2-g3-g4-g5-g6-g7-". An id is
    # "g0g1-g2-g3-g4-g5g6g7": drop the dashes at 34, 29 and 4 of each 40-character block (the
    # later first, so that the earlier keep their offsets), then the one left after each id
    # becomes the space that separates it from the next.
    text = bytearray(raw.hex("-", 2), "ascii")
    text += b"-"
    del text[34::40]
    del text[29::39]
    del text[4::38]
    text[36::37] = b" " * count
    return text.decode("ascii").split()


class _Pool(threading.local):
    def __init__(self) -> None:
        self.ids: list[str] = []


_pool = _Pool()


def _reset_after_fork() -> None:
    global _pool
    _pool = _Pool()


os.register_at_fork(after_in_child=_reset_after_fork)


def new_id() -> str:
    """Return a new random id formatted as a UUID4 string (``xxxxxxxx-xxxx-4xxx-yxxx-...``)."""
    ids = _pool.ids
    if not ids:
        ids = _pool.ids = _batch()
    return ids.pop()
