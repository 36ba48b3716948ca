"""Aura: a framework and pytest harness for Python modular monoliths."""

from __future__ import annotations

__version__ = "0.1.0"
