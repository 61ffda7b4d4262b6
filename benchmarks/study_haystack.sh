#!/usr/bin/env bash
# The haystack study (issue 44; the pilot, the chosen setting and this plan are in docs/study.md, committed before
# this ran). The pilot's scenes (128 px, the lesion 2 % of the image, 4 cysts; 3100 scenes: train 2000, val 100,
# test 1000), ResNet-18 from the stand-in for ImageNet, 10 epochs and at least 100 steps, bf16 autocast, seeds 0-9,
# every model on the same subsets. slca, slca-shuffled and fusion read the haystack miniature's regions
# (data_scripts/pretrain_tiny_sam.py --scene haystack); the other models read no encoder. Waves, most important first
# (each resumes where it stopped; the pilot's rows of seeds 0-2, copied into runs/haystack/results.csv first, are
# reused by lowdata because their setting is the same):
#   1. 42 images: baseline, oracle-crop, slca-oracle             (the positive control; can the gate use a location?)
#   2. 42 images: slca, slca-shuffled                             (do the learnt regions carry it?)
#   3. 420 images: baseline, oracle-crop, slca-oracle
#   4. 420 images: slca, slca-shuffled
#   5. 128 images: baseline, oracle-crop, slca-oracle, slca, slca-shuffled
#   6. 42, 128, 420 images: slca-oracle-residual, cbam, fusion
# The follow-up (docs/study.md, "Why do the learnt regions help?", planned after waves 1-5 and wave 6 at 42 images
# were seen, and before these ran): the haystack miniature's regions cut by the true lesion's cells.
#   7. 128 images: slca-inside, slca-outside, probe-inside
#   8. 420 images: slca-inside, slca-outside, probe-inside
# The second follow-up (docs/study.md, "Is the hole the help?", planned after waves 7-8 were seen, before this ran):
#   9. 128 and 420 images: slca-outside-swapped
# Each lowdata call trains its runs two at a time (--workers 2: two one-thread processes on the 2 cores).
#   benchmarks/study_haystack.sh [FIRST_WAVE]
# Then: python benchmarks/study_haystack_report.py runs/haystack/results.csv
# The recorded run (the 2-core AMD EPYC): waves 1-3 in full (2026-12-05/06 23:34-00:28 UTC); then, for the first
# session's time, wave 6's slca-oracle-residual and fusion at 42 images only, moved ahead of waves 4-5
# (`lowdata ... --fractions 0.021 --models slca-oracle-residual,fusion --out runs/haystack`); in the next session
# (2026-12-06 01:24-02:56) `study_haystack.sh 4`: waves 4 and 5 in full and wave 6's cbam at 42 images, then
# interrupted; in a third session (2026-12-06 04:13-06:03, from a separate git worktree) `study_haystack.sh 6`
# (wave 6 at 128 and 420 images) and then `study_haystack.sh 7` (waves 7 and 8); in a fourth (2026-12-06
# 08:06-08:38, the main checkout, runs/haystack/results.csv seeded with the committed rows) `study_haystack.sh 9`.
# Post hoc, after the results were seen: the same lowdata call with `--fractions 0.021 0.064 0.21 --models
# probe-linear,probe-knn` (seconds).
# Its rows: benchmarks/haystack/results.csv.
set -euo pipefail
export OMP_NUM_THREADS=2  # the parent's extraction; the workers take one thread each
data=data/haystack-s128-sh0.02-d4-n3100.npz
[ -f "$data" ] || python data_scripts/make_phantoms.py --scene haystack --n 3100 --size 128 --share 0.02 \
    --distractors 4 --seed 0 --split 0.6452 0.0323 0.3225 --out "$data"
miniature=$(python -c "from slca_min.sam.miniature import PretrainConfig, default_path, recipe_id as r; c = PretrainConfig()
print(default_path(c).with_name(f'tiny_haystack-{r(c)}-s128-sh0.02-d4.pth'))")
[ -f "$miniature" ] || python data_scripts/pretrain_tiny_sam.py --scene haystack --size 128 --share 0.02 --distractors 4
run() {  # run FRACTIONS MODELS
    python -m slca_min lowdata --data "$data" --checkpoint "$miniature" --precision bf16 --epochs 10 --min-steps 100 \
        --image-size 128 --quiet --workers 2 --backbone-weights miniature --seeds 0 1 2 3 4 5 6 7 8 9 \
        --fractions $1 --models "$2" --out runs/haystack
}
first=${1:-1}
[ "$first" -le 1 ] && run 0.021 baseline,oracle-crop,slca-oracle
[ "$first" -le 2 ] && run 0.021 slca,slca-shuffled
[ "$first" -le 3 ] && run 0.21 baseline,oracle-crop,slca-oracle
[ "$first" -le 4 ] && run 0.21 slca,slca-shuffled
[ "$first" -le 5 ] && run 0.064 baseline,oracle-crop,slca-oracle,slca,slca-shuffled
[ "$first" -le 6 ] && run "0.021 0.064 0.21" slca-oracle-residual,cbam,fusion
[ "$first" -le 7 ] && run 0.064 slca-inside,slca-outside,probe-inside
[ "$first" -le 8 ] && run 0.21 slca-inside,slca-outside,probe-inside
[ "$first" -le 9 ] && run "0.064 0.21" slca-outside-swapped
exit 0
