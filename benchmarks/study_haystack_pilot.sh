#!/usr/bin/env bash
# The haystack pilot (issue 44): is there a setting where knowing where to look must help? Three models that need no
# encoder (baseline; oracle-crop: the backbone shown only a 64-px box around the true lesion; slca-oracle: the gate
# fed the true lesion), 3 seeds, training sets of 16, 42, 128 and 420 images, and the baseline alone from 2000
# (seeds 0 and 1: is the cue visible at all?). Scenes: 128 px canvas, the lesion 2 % of the image, 4 cysts.
# 3100 scenes: train 2000, val 100, test 1000. ResNet-18 from the stand-in for ImageNet, the ladder's training
# settings (10 epochs, at least 100 steps), trained in bf16 autocast (2.5x faster than fp32 on this CPU).
# Two lanes, one one-thread process per core, each its own results folder:
#   benchmarks/study_haystack_pilot.sh            then: python benchmarks/study_haystack_report.py --prefix study_haystack_pilot runs/haystack-pilot-*/results.csv
# The recorded run (2026-12-05, 22:45-23:28 UTC): lane 1 was moved on to the baseline from 2000 images once its
# 42-image runs were done (seed 0), then to the 16-image runs; both lanes were stopped at 23:28, when both criteria
# held (docs/study.md): 16 images has one baseline run, 420 images two seeds of oracle-crop and slca-oracle (three of
# the baseline), and the second seed of 2000 was not run. Its rows: benchmarks/haystack/pilot-results-{1,2}.csv.
set -euo pipefail
export OMP_NUM_THREADS=1
data=data/haystack-s128-sh0.02-d4-n3100.npz
[ -f "$data" ] || python data_scripts/make_phantoms.py --scene haystack --n 3100 --size 128 --share 0.02 \
    --distractors 4 --seed 0 --split 0.6452 0.0323 0.3225 --out "$data"
run() {  # run LANE FRACTIONS MODELS SEEDS
    python -m slca_min lowdata --data "$data" --checkpoint untrained --precision bf16 --epochs 10 --min-steps 100 \
        --image-size 128 --quiet --backbone-weights miniature --seeds $4 --fractions $2 --models "$3" \
        --out "runs/haystack-pilot-$1"
}
lane() {  # lane N: its sizes, then one seed of the baseline from all 2000 images
    if [ "$1" = 1 ]; then run 1 "0.021 0.008" baseline,oracle-crop,slca-oracle "0 1 2"; run 1 1.0 baseline 0
    else run 2 "0.064 0.21" baseline,oracle-crop,slca-oracle "0 1 2"; run 2 1.0 baseline 1; fi
}
lane 1 > runs/haystack-pilot-1.log 2>&1 &
lane 2 > runs/haystack-pilot-2.log 2>&1 &
wait
