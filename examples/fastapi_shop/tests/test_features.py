"""Every scenario of features/, bound to Aura's generic steps and to those of conftest.py."""

from pytest_bdd import scenarios

scenarios("../features")
