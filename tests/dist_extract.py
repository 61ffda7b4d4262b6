"""Run under torchrun by tests/test_distributed.py: sharded extraction (all five levels) with a counting encoder.

    torchrun --standalone --nproc_per_node=2 tests/dist_extract.py OUT_DIR [FAIL_RANK FAIL_AFTER_BATCHES]
Each rank writes OUT_DIR/computed-rankR.json: the images its encoder computed in this run.
"""
import json
import sys
from pathlib import Path

import numpy as np

from slca_min import SAMEncoder, distributed, extract
from slca_min.sam.levels import LEVELS

out = Path(sys.argv[1])
fail_rank, fail_after = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (-1, 0)
distributed.start("cpu")
rank = distributed.rank()
images = list(np.random.default_rng(0).integers(0, 256, (50, 24, 24), dtype=np.uint8))
encoder = SAMEncoder.untrained("tiny", seed=0)
computed, original = [], encoder.regions


def counting(batch, **kwargs):
    if rank == fail_rank and len(computed) >= fail_after * 4:
        (out / f"computed-rank{rank}.json").write_text(json.dumps(computed))
        raise SystemExit(f"rank {rank}: failing on purpose after {fail_after} batches")
    computed.extend(int(np.asarray(image).sum()) for image in batch)  # a signature of each image
    return original(batch, **kwargs)


encoder.regions = counting
extract(images, encoder, out / "cache" / "r.npy", grid=4, levels=LEVELS, batch_size=4, progress=False)
(out / f"computed-rank{rank}.json").write_text(json.dumps(computed))
