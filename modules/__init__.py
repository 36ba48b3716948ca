"""The Aura platform's modules. Each module imports only ``aura``, ``contracts`` and itself."""
