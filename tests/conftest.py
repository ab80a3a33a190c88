"""Fixtures shared by all tests."""

import pytest
from model_support import random_cluster, random_crystal


@pytest.fixture
def cluster():
    return random_cluster()


@pytest.fixture
def crystal():
    return random_crystal()
