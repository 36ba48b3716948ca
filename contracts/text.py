"""Rules for the text people type that others read (names, reasons), shared by the modules."""

from __future__ import annotations

import unicodedata

__all__ = ["hidden_character"]

_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
"""Unicode categories such text may not hold: controls (a newline, a NUL), format characters
(bidi overrides, zero-width spaces), surrogates, private use, line and paragraph separators.
They forge lines in logs and e-mails, or show another text than the one stored."""
_JOINERS = "\u200c\u200d"
"""Format characters that real text holds: the zero-width non-joiner of Persian spelling and
the joiner of emoji sequences."""


def hidden_character(text: str) -> str | None:
    """The first character of ``text`` that is no printable text on one line, or ``None``."""
    return next((c for c in text if unicodedata.category(c) in _HIDDEN and c not in _JOINERS), None)
