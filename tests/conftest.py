import numpy as np
import pytest
import torch

from slca_min import SAMEncoder


@pytest.fixture(scope="session")
def tiny():
    """The untrained tiny encoder (random weights: every number from it is a pipeline check)."""
    return SAMEncoder.untrained("tiny", seed=0)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)
