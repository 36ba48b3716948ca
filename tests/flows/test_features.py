"""Every scenario of features/, bound to the generic steps and to the platform's own steps.

A new ``.feature`` file there is picked up without touching this file; a step no definition
matches fails collection (see aura.testing.bdd).
"""

from pytest_bdd import scenarios

scenarios("../../features")
