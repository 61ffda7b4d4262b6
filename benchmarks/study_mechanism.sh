#!/usr/bin/env bash
# The study of issue 16: does SLCA's mechanism work with trained segmentation features (the miniature) and with
# a perfect segmentation (the oracle)? 600 phantoms, fractions 0.1 / 0.25 / 1.0, seeds 0-4, every control,
# the library's defaults (BatchNorm statistics recomputed at the end of training; today's 5-block miniature).
# One process takes about 2.5 hours on 2 CPU cores. The recorded run split the models over two processes with one
# thread each (OMP_NUM_THREADS=1 benchmarks/study_mechanism.sh --models ... --out runs/a, and runs/b),
# concatenated their results.csv into runs/study/ and ran this command once more: lowdata then finds every row
# done and only prints and writes the summary. The earlier recording (2-block miniature, no BatchNorm
# recalibration) is kept in benchmarks/study_mechanism_2block_summary.csv.
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
python -c "from slca_min import save_phantoms; save_phantoms('phantoms-n600.npz', n=600, size=64)"
python -m slca_min lowdata --data phantoms-n600.npz \
    --models baseline,se,cbam,slca,slca-shuffled,slca-oracle,probe-linear,probe-knn,probe-oracle,slca-residual,slca-oracle-residual \
    --fractions 0.1 0.25 1.0 --seeds 0 1 2 3 4 --epochs 12 --min-steps 150 --image-size 64 \
    --out runs/study "$@"
