#!/usr/bin/env bash
# Issue 17's comparison: the two readings of SLCA's input (the neck into stages 1-4, or five levels into the stem and
# stages 1-4) with the 5-block miniature (recipe 8eb3216f), against the baseline and the shuffled control.
# 600 phantoms, fraction 1.0 (where the study of issue 16 found an effect), seeds 0-4, the study's settings.
# Run twice on 2026-11-28 on the 2-core CPU machine, about 20-25 minutes each: first before BatchNorm recalibration
# became the default (--no-recalibrate-bn reproduces it; one thread, next to other work, and with probe-linear; its
# baseline rows were reused from the issue-16 run, the same setting), then with today's default (2 threads, idle).
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
python -c "from slca_min import save_phantoms; save_phantoms('phantoms-n600.npz', n=600, size=64)"
common=(--data phantoms-n600.npz --fractions 1.0 --seeds 0 1 2 3 4 --epochs 12 --min-steps 150 --image-size 64)
python -m slca_min lowdata "${common[@]}" --models baseline,slca,slca-shuffled,slca-multilevel,probe-linear \
    --no-recalibrate-bn --out runs/study-levels-no-recalibration "$@"
python -m slca_min lowdata "${common[@]}" --models baseline,slca,slca-shuffled,slca-multilevel --out runs/study-levels "$@"
