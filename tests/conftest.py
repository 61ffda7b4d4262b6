import os

import numpy as np
import pytest
import torch

from slca_min import SAMEncoder
from slca_min.sam.miniature import QUICK, miniature_checkpoint, recipe_id


@pytest.fixture(scope="session")
def tiny():
    """The untrained tiny encoder (random weights: every number from it is a pipeline check)."""
    return SAMEncoder.untrained("tiny", seed=0)


@pytest.fixture(scope="session", autouse=True)
def miniature(request):
    """The miniature in its quick configuration (about a minute to build; kept in pytest's cache under a name
    that carries its recipe): the offline default of every test ($SLCA_MINIATURE, inherited by subprocesses
    and notebook kernels), so that no test builds the full one. The attention kernels' choices go beside it."""
    torch.set_num_threads(THREADS)
    path = miniature_checkpoint(request.config.cache.mkdir("slca_min") / f"tiny_lesions-quick-{recipe_id(QUICK)}.pth",
                                config=QUICK, progress=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLCA_MINIATURE", str(path))
        patch.setenv("SLCA_ATTENTION_KERNELS", str(path.parent / "attention_kernels.json"))  # the user's stays untouched
        yield path


@pytest.fixture(scope="session")
def backbone_miniature(request):
    """The stand-in for ImageNet in its quick configuration (seconds to build; in pytest's cache under a name that
    carries its recipe), as $SLCA_BACKBONE_MINIATURE for the tests that ask for it: no test builds the full one."""
    from slca_min.backbones import backbone_miniature
    from slca_min.imagenet_standin.pretrain import QUICK as SHAPES_QUICK, recipe_id as shapes_recipe

    path = backbone_miniature(request.config.cache.mkdir("slca_min") / f"resnet18_shapes-quick-{shapes_recipe(SHAPES_QUICK)}.pth",
                              config=SHAPES_QUICK, progress=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLCA_BACKBONE_MINIATURE", str(path))
        yield path


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh working folder holding p.npz: 40 phantoms of 32 px (test_cli.py has its own, without them)."""
    monkeypatch.chdir(tmp_path)
    from slca_min import save_phantoms

    save_phantoms(tmp_path / "p.npz", n=40, size=32, seed=0)
    return tmp_path


@pytest.fixture
def rng():
    return np.random.default_rng(0)


THREADS = int(os.environ.get("OMP_NUM_THREADS", 2))  # 2, or fewer when the caller asks (a busy machine)
os.environ["OMP_NUM_THREADS"] = str(THREADS)  # subprocesses too; and the CLI's busy-machine hint stays out of stderr


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(THREADS)
