"""The Aura platform's inter-module contracts: service ABCs, event dataclasses, shared ports.

``contracts`` depends only on ``aura``, pydantic (aura's one dependency, for the events' wire
format) and the standard library; every module may import it.
"""

from contracts import events as events  # registers the platform's event contracts
