#!/usr/bin/env bash
# The study of issue 24: the paper's setting in miniature. The classifier starts from the stand-in for ImageNet
# (--backbone-weights miniature: a ResNet-18 pretrained on synthetic shapes, built offline on first use), SLCA reads
# the miniature encoder's regions, and every model runs on the same subsets and seeds. 1600 phantoms at 64 px
# (train 420, val 60, test 1120), fractions 0.02 / 0.05 / 0.1 / 1.0 (8, 21, 42 and 420 training images), 10 seeds.
# Models in three waves, most important first, so that a stopped run has the key comparison complete:
#   1. baseline, slca, slca-shuffled        2. slca-oracle, slca-residual        3. se, cbam
# The recorded run (2026-12-01, 2-core CPU) split the seeds over two one-thread processes writing into one folder:
#   OMP_NUM_THREADS=1 benchmarks/study_pretrained.sh --seeds 0 1 2 3 4 &
#   OMP_NUM_THREADS=1 benchmarks/study_pretrained.sh --seeds 5 6 7 8 9 &
# lowdata appends every row under the results file's lock and skips rows already there with the same setting, so
# the two share runs/study-pretrained and a rerun resumes. About 50-90 s per training run on one thread.
# The from-scratch contrast: the same command with --backbone-weights none --out runs/study-scratch (baseline, slca).
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
[ -f phantoms-n1600.npz ] || python -c "from slca_min import save_phantoms
save_phantoms('phantoms-n1600.npz', n=1600, size=64, seed=0, split=(0.2625, 0.0375, 0.7))"
COMMON=(--data phantoms-n1600.npz --fractions 0.02 0.05 0.1 1.0 --epochs 10 --min-steps 100 --image-size 64
        --backbone-weights miniature --out runs/study-pretrained --quiet)
for models in baseline,slca,slca-shuffled slca-oracle,slca-residual se,cbam; do
    python -m slca_min lowdata "${COMMON[@]}" --models "$models" "$@"
done
