#!/usr/bin/env bash
# The difficulty ladder's full study (issue 35; the plan, written before this ran, is in docs/study.md). The same
# 1600 phantoms per level as the pilot (train 420, val 60, test 1120), ResNet-18 from the stand-in for ImageNet, the
# pretrained study's training settings, seeds 0-9, every model on the same subsets. Waves, most important first, so
# that a stopped run has the key comparisons complete (each wave resumes where it stopped):
#   1. levels 0 and 1, fraction 0.1 (42 images): baseline, slca-oracle, slca, slca-shuffled
#   2. fusion at levels 0 and 1, fraction 0.1; level 2, fraction 0.1: baseline, slca-oracle, slca, fusion
#   3. levels 0 and 1, fraction 0.02 (9 images): baseline, slca-oracle, slca, slca-shuffled
#   4. slca-multilevel at levels 0 and 1, fraction 0.1; fusion at levels 0 and 1, fraction 0.02
# Each lowdata call trains its runs two at a time (--workers 2: two one-thread processes on the 2 cores).
#   benchmarks/study_ladder.sh [FIRST_WAVE]     (e.g. 3 to start at wave 3)
# The recorded run (2026-12-04, 2-core AMD EPYC): waves 1, 2's fusion, 3, then wave 4's slca-multilevel at level 1
# (`lowdata ... --models slca-multilevel --fractions 0.1 --out runs/ladder-d1`); level 2 and the rest of wave 4 were
# not run (time; docs/study.md says why). Its rows: benchmarks/ladder/results-d{0,1}.csv.
# Then: python benchmarks/study_ladder_report.py benchmarks/ladder/results-d*.csv   (or runs/ladder-d*/results.csv)
set -euo pipefail
export OMP_NUM_THREADS=2  # the parent's extraction; the workers take one thread each
seeds=(0 1 2 3 4 5 6 7 8 9)
run() {  # run LEVEL FRACTION MODELS
    data=data/phantoms-d$1-n1600.npz
    [ -f "$data" ] || python data_scripts/make_phantoms.py --n 1600 --size 64 --seed 0 --difficulty "$1" \
        --split 0.2625 0.0375 0.7 --out "$data"
    python -m slca_min lowdata --data "$data" --epochs 10 --min-steps 100 --image-size 64 --quiet --workers 2 \
        --backbone-weights miniature --seeds "${seeds[@]}" --fractions "$2" --models "$3" --out "runs/ladder-d$1"
}
first=${1:-1}
if [ "$first" -le 1 ]; then
    for level in 1 0; do run $level 0.1 baseline,slca-oracle,slca,slca-shuffled; done
fi
if [ "$first" -le 2 ]; then
    for level in 1 0; do run $level 0.1 fusion; done
    run 2 0.1 baseline,slca-oracle,slca,fusion
fi
if [ "$first" -le 3 ]; then
    for level in 1 0; do run $level 0.02 baseline,slca-oracle,slca,slca-shuffled; done
fi
if [ "$first" -le 4 ]; then
    for level in 1 0; do run $level 0.1 slca-multilevel; done
    for level in 1 0; do run $level 0.02 fusion; done
fi
