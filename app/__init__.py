"""The Aura platform's entry points: the demo of its complete flow (and, later, its server).

This is the only package that imports every module: it composes them through ``Platform``.
"""
