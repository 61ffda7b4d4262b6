import os

import numpy as np
import pytest
import torch

from slca_min import SAMEncoder
from slca_min.miniature import QUICK, build_miniature


@pytest.fixture(scope="session")
def tiny():
    """The untrained tiny encoder (random weights: every number from it is a pipeline check)."""
    return SAMEncoder.untrained("tiny", seed=0)


@pytest.fixture(scope="session", autouse=True)
def miniature(tmp_path_factory):
    """The miniature in its quick configuration, built once per session: the offline default of every test
    ($SLCA_MINIATURE, inherited by subprocesses and notebook kernels), so no test builds the full one."""
    path = tmp_path_factory.mktemp("miniature") / "tiny_lesions-quick.pth"
    torch.set_num_threads(2)
    build_miniature(path, QUICK, progress=False)
    previous = os.environ.get("SLCA_MINIATURE")
    os.environ["SLCA_MINIATURE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("SLCA_MINIATURE")
    else:
        os.environ["SLCA_MINIATURE"] = previous


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)
