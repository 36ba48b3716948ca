"""Every scenario of features/, bound to Aura's generic steps and to those of conftest.py.

Commits are real (``transactional_db``): each booking's deliveries run after its commit, as in
production.
"""

import pytest
from pytest_bdd import scenarios

pytestmark = pytest.mark.django_db(transaction=True)

scenarios("../features")
