"""Every scenario of features/, bound to Aura's generic steps and to those of conftest.py, on
each database of the ``engine`` fixture (SQLite and PostgreSQL)."""

import pytest
from pytest_bdd import scenarios

# The steps ask for the shop (and so the engine) as they run; named here, the engine's
# parameters apply to every scenario at collection.
pytestmark = pytest.mark.usefixtures("engine")

scenarios("../features")
