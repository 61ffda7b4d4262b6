"""torchrun on the CPU (gloo, 1 thread per process): sharded extraction, resume of a failed rank, DDP training."""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from slca_min import SAMEncoder, extract, save_phantoms
from slca_min.sam.levels import LEVELS

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                                reason="torchrun not found")


def torchrun(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def computed(out: Path) -> list[list[int]]:
    return [json.loads((out / f"computed-rank{r}.json").read_text()) for r in range(2)]


def images():
    return list(np.random.default_rng(0).integers(0, 256, (50, 24, 24), dtype=np.uint8))


def test_sharded_extract_equals_one_process_and_computes_each_image_once(tmp_path):
    result = torchrun(HERE / "dist_extract.py", tmp_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = computed(tmp_path)
    signatures = [int(image.sum()) for image in images()]
    assert sorted(ranks[0] + ranks[1]) == sorted(signatures) and len(ranks[0]) == len(ranks[1]) == 25  # once each
    sharded = np.load(tmp_path / "cache/r.npy")
    single = extract(images(), SAMEncoder.untrained("tiny", seed=0), tmp_path / "single/r.npy", grid=4, levels=LEVELS, batch_size=4,
                     progress=False)
    np.testing.assert_allclose(sharded.astype(np.float32), np.asarray(single, np.float32), atol=2e-3)
    sidecar = lambda p: {k: v for k, v in json.loads(p.read_text()).items() if k != "sha256"}  # noqa: E731
    assert sidecar(tmp_path / "cache/r.json") == sidecar(tmp_path / "single/r.json")  # same description
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["r.json", "r.npy"]
    reused = extract(images(), SAMEncoder.untrained("tiny", seed=0), tmp_path / "cache/r.npy", grid=4, progress=False)
    assert np.array_equal(np.asarray(reused), sharded[:, -256:])  # a single process reuses the sharded cache (its neck)


@pytest.mark.parametrize("resume", ["torchrun", "one process"])
def test_a_failed_rank_resumes_without_redoing_finished_images(tmp_path, resume):
    first = torchrun(HERE / "dist_extract.py", tmp_path, 1, 3, cwd=tmp_path)  # rank 1 fails after 3 batches (12 images)
    assert first.returncode != 0 and not (tmp_path / "cache/r.npy").exists()
    progress = [json.loads((tmp_path / f"cache/r.partial.rank{r}-of-2.json").read_text())["done"]
                if (tmp_path / f"cache/r.partial.rank{r}-of-2.json").exists() else 25 * r for r in range(2)]
    finished = [progress[0] - 0, progress[1] - 25]  # rank 0 holds images 0..24, rank 1 images 25..49
    assert finished[1] == 12
    if resume == "torchrun":
        second = torchrun(HERE / "dist_extract.py", tmp_path, cwd=tmp_path)
        assert second.returncode == 0, second.stderr[-3000:]
        assert [len(c) for c in computed(tmp_path)] == [25 - finished[0], 25 - finished[1]]  # only what was left
    else:  # another world size: the ranks' progress still counts
        encoder, seen = SAMEncoder.untrained("tiny", seed=0), []
        original = encoder.regions
        encoder.regions = lambda batch, **kwargs: seen.extend(batch) or original(batch, **kwargs)
        extract(images(), encoder, tmp_path / "cache/r.npy", grid=4, levels=LEVELS, batch_size=4, progress=False)
        assert len(seen) == 50 - sum(finished)
    single = extract(images(), SAMEncoder.untrained("tiny", seed=0), tmp_path / "single/r.npy", grid=4, levels=LEVELS, batch_size=4,
                     progress=False)
    np.testing.assert_allclose(np.load(tmp_path / "cache/r.npy").astype(np.float32), np.asarray(single, np.float32),
                               atol=2e-3)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["r.json", "r.npy"]


def test_ddp_training_writes_one_set_of_outputs_close_to_one_process(tmp_path):
    save_phantoms(tmp_path / "p.npz", n=120, size=32)
    small = ["--data", "p.npz", "--epochs", "3", "--image-size", "32", "--batch-size", "16", "--grid", "4", "--quiet"]
    ddp = torchrun("-m", "slca_min", "train", *small, "--out", "ddp", cwd=tmp_path)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = subprocess.run([sys.executable, "-m", "slca_min", "train", *small, "--out", "one"], cwd=tmp_path,
                            capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert single.returncode == 0, single.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == [".slca_min-run", "history.csv", "model.pt", "results.csv",
                                                                   "results.json"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("ddp")) == ["ddp"]  # nothing from rank 1
    a, b = (list(csv.DictReader(open(tmp_path / run / "history.csv"))) for run in ("ddp", "one"))
    assert len(a) == len(b) == 3
    # not equal: the shuffles differ (DistributedSampler vs DataLoader) and BatchNorm sees half batches
    for h_ddp, h_one in zip(a, b):
        assert abs(float(h_ddp["val_loss"]) - float(h_one["val_loss"])) < 0.25  # measured: within 0.06
    assert float(a[-1]["train_loss"]) < float(a[0]["train_loss"]) + 0.2
