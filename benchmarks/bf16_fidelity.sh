#!/usr/bin/env bash
# bf16 fidelity (issue 28): the same small lowdata grid in fp32 and in bf16 (extraction and training), paired by seed.
set -euo pipefail
[ -f phantoms-n600.npz ] || python -c "from slca_min import save_phantoms; save_phantoms('phantoms-n600.npz', n=600, size=64)"
for precision in fp32 bf16; do
  python -m slca_min lowdata --data phantoms-n600.npz --models baseline,slca --fractions 1.0 --seeds 0 1 2 3 4 \
      --epochs 6 --image-size 64 --backbone-weights miniature --precision $precision --out runs/fidelity-$precision --quiet
done
