"""Fixtures for the prove tests: the hand-built 2-2-2 ReLU network of prove_nets."""
from __future__ import annotations

import pytest
from prove_nets import B1, B2, W1, W2, mlp


@pytest.fixture
def net222():
    return mlp([W1, W2], [B1, B2])


@pytest.fixture
def net222_shifted():
    """The same network with 0.125 added to y1: its decision boundary moves."""
    return mlp([W1, W2], [B1, [0.0, 0.375]])
