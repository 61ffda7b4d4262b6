#!/usr/bin/env bash
# The study of issue 24: the paper's setting in miniature. The classifier starts from the stand-in for ImageNet
# (--backbone-weights miniature: a ResNet-18 pretrained on synthetic shapes, built offline on first use), SLCA reads
# the miniature encoder's regions, and every model runs on the same subsets and seeds. 1600 phantoms at 64 px
# (train 420, val 60, test 1120), 10 seeds. Waves, most important first, so that a stopped run has the key
# comparison complete (each wave resumes where it stopped):
#   1. baseline, slca, slca-shuffled           at fractions 0.02 / 0.1 / 1.0 (9, 42 and 420 training images)
#   2. the from-scratch baseline               at 0.1 (the contrast: does the stand-in help at low data?)
#   3. slca-oracle, slca-residual              at 0.02
#   4. se, cbam                                at 0.02
#   5. baseline, slca, slca-shuffled, seeds 10-14, at 0.02: where the key interval was widest after ten seeds
#      (the recorded run: seeds 10 11 12 in one process, 13 14 in the other)
# The recorded run (2026-12-01, 2-core CPU) split the seeds over two one-thread processes writing into one folder:
#   OMP_NUM_THREADS=1 benchmarks/study_pretrained.sh 0 1 2 3 4 &
#   OMP_NUM_THREADS=1 benchmarks/study_pretrained.sh 5 6 7 8 9 &
# lowdata appends every row under the results file's lock and skips rows already there with the same setting, so
# the two share one folder and a rerun resumes. About 40-90 s per training run on one thread; the whole study took
# about 3 core-hours. Then: python benchmarks/study_pretrained_report.py runs/study-pretrained/results.csv \
#                                  runs/study-scratch/results.csv   (tables, CSVs and figure in benchmarks/)
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
SEEDS=("${@:-0 1 2 3 4 5 6 7 8 9}")
[ -f phantoms-n1600.npz ] || python -c "from slca_min import save_phantoms
save_phantoms('phantoms-n1600.npz', n=1600, size=64, seed=0, split=(0.2625, 0.0375, 0.7))"
run() { python -m slca_min lowdata --data phantoms-n1600.npz --epochs 10 --min-steps 100 --image-size 64 --quiet \
            --seeds ${SEEDS[@]} "$@"; }
run --models baseline,slca,slca-shuffled --fractions 0.02 0.1 1.0 --backbone-weights miniature --out runs/study-pretrained
run --models baseline --fractions 0.1 --backbone-weights none --out runs/study-scratch
run --models slca-oracle,slca-residual --fractions 0.02 --backbone-weights miniature --out runs/study-pretrained
run --models se,cbam --fractions 0.02 --backbone-weights miniature --out runs/study-pretrained
[ $# -gt 0 ] || python -m slca_min lowdata --data phantoms-n1600.npz --epochs 10 --min-steps 100 --image-size 64 --quiet \
    --models baseline,slca,slca-shuffled --fractions 0.02 --backbone-weights miniature --out runs/study-pretrained \
    --seeds 10 11 12 13 14
