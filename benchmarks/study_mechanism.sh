#!/usr/bin/env bash
# The study of issue 16: does SLCA's mechanism work with trained segmentation features (the miniature) and with
# a perfect segmentation (the oracle)? 600 phantoms, fractions 0.1 / 0.25 / 1.0, seeds 0-4, every control.
# One process takes about 2 hours on 2 CPU cores; the recorded run split the seeds over two processes with one
# thread each (OMP_NUM_THREADS=1, --out runs/a and runs/b), concatenated their results.csv into runs/study/ and
# ran the command below once more: lowdata then finds every row done and only prints and writes the summary.
# Recorded before BatchNorm statistics were recomputed at the end of training (now the default), hence
# --no-recalibrate-bn: the command reproduces the recorded table.
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
python -c "from slca_min import save_phantoms; save_phantoms('phantoms-n600.npz', n=600, size=64)"
python -m slca_min lowdata --data phantoms-n600.npz \
    --models baseline,se,cbam,slca,slca-shuffled,slca-oracle,probe-linear,probe-knn,probe-oracle,slca-residual,slca-oracle-residual \
    --fractions 0.1 0.25 1.0 --seeds 0 1 2 3 4 --epochs 12 --min-steps 150 --image-size 64 --no-recalibrate-bn \
    --out runs/study "$@"
