"""The Aura platform's inter-module contracts: service ABCs and event dataclasses.

``contracts`` depends only on ``aura`` and the standard library; every module may import it.
"""

from contracts import events as events  # registers the platform's event contracts
