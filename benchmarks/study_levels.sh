#!/usr/bin/env bash
# Issue 17's comparison: the two readings of SLCA's input (the neck into stages 1-4, or five levels into the stem and
# stages 1-4) with the 5-block miniature (recipe 8eb3216f), against the baseline and the shuffled control.
# 600 phantoms, fraction 1.0 (where the study of issue 16 found an effect), seeds 0-4, the study's settings.
# Recorded on 2026-11-28: one process, one thread (OMP_NUM_THREADS=1), next to other work on a 2-core CPU, about
# 25 minutes; the baseline rows came from the issue-16 run in the same folder (same setting, so lowdata reused them).
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
python -c "from slca_min import save_phantoms; save_phantoms('phantoms-n600.npz', n=600, size=64)"
python -m slca_min lowdata --data phantoms-n600.npz --models baseline,slca,slca-shuffled,slca-multilevel,probe-linear \
    --fractions 1.0 --seeds 0 1 2 3 4 --epochs 12 --min-steps 150 --image-size 64 --no-recalibrate-bn --out runs/study "$@"
