#!/usr/bin/env bash
# The difficulty ladder's pilot (issue 35, step 3): where does the pretrained baseline degrade, and does a perfect
# segmentation through the gate (slca-oracle) start to matter? Every level 0-4, fraction 0.1 (42 training images),
# baseline and slca-oracle, 3 seeds; the same 1600 phantoms per level as the pretrained study (train 420, val 60,
# test 1120; level 0 is that study's data, bit for bit), the stand-in for ImageNet, the study's training settings.
# The recorded run split the levels over two one-thread processes:
#   OMP_NUM_THREADS=1 benchmarks/study_ladder_pilot.sh 0 2 4 &
#   OMP_NUM_THREADS=1 benchmarks/study_ladder_pilot.sh 1 3 &
# A second part, added after the first showed levels 2-4 at chance for both models: is the task learnable there at
# all? The baseline with the whole training split (fraction 1.0, 420 images). The recorded run, for lack of time,
# seed 0 only, at levels 2 and 4, one one-thread process each (FULL_DATA=1 with the levels as arguments runs all
# three seeds):
#   OMP_NUM_THREADS=1 python -m slca_min lowdata --data data/phantoms-d2-n1600.npz --epochs 10 --min-steps 100 \
#       --image-size 64 --quiet --models baseline --fractions 1.0 --seeds 0 --backbone-weights miniature \
#       --out runs/ladder-pilot-d2          (and the same for level 4)
# Then: python benchmarks/study_ladder_report.py --prefix study_ladder_pilot runs/ladder-pilot-d*/results.csv
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
for level in "${@:-0 1 2 3 4}"; do
    data=data/phantoms-d$level-n1600.npz
    [ -f "$data" ] || python data_scripts/make_phantoms.py --n 1600 --size 64 --seed 0 --difficulty "$level" \
        --split 0.2625 0.0375 0.7 --out "$data"
    if [ "${FULL_DATA:-0}" = 1 ]; then models=baseline fractions=1.0; else models=baseline,slca-oracle fractions=0.1; fi
    python -m slca_min lowdata --data "$data" --epochs 10 --min-steps 100 --image-size 64 --quiet \
        --models $models --fractions $fractions --seeds 0 1 2 --backbone-weights miniature \
        --out "runs/ladder-pilot-d$level"
done
