"""The Aura platform's inter-module contracts: service ABCs and event dataclasses."""
