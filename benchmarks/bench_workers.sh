#!/usr/bin/env bash
# lowdata's runs side by side (issue 35): the same 4-run grid (baseline and slca-oracle, seeds 0-1, fraction 0.1 of
# the 420 training phantoms of the ladder's level 0, the study's training settings) as one two-thread process, then
# as --workers 2 (two one-thread processes), on an otherwise idle machine; each into a fresh folder, regions cached.
#   benchmarks/bench_workers.sh        # prints the two wall-clock times
set -euo pipefail
data=data/phantoms-d0-n1600.npz
[ -f "$data" ] || python data_scripts/make_phantoms.py --n 1600 --size 64 --seed 0 --difficulty 0 \
    --split 0.2625 0.0375 0.7 --out "$data"
grid=(lowdata --data "$data" --epochs 10 --min-steps 100 --image-size 64 --quiet --models baseline,slca-oracle
      --fractions 0.1 --seeds 0 1 --backbone-weights miniature)
rm -rf runs/bench-workers-one runs/bench-workers-two
start=$(date +%s.%N)
OMP_NUM_THREADS=2 python -m slca_min "${grid[@]}" --out runs/bench-workers-one > /dev/null
one=$(echo "$(date +%s.%N) - $start" | bc)
start=$(date +%s.%N)
python -m slca_min "${grid[@]}" --out runs/bench-workers-two --workers 2 > /dev/null
two=$(echo "$(date +%s.%N) - $start" | bc)
echo "one process, 2 threads: ${one} s; --workers 2 (one thread each): ${two} s; speed-up $(echo "scale=2; $one / $two" | bc)"
