#!/bin/bash
# The GPU figures of benchmarks/README.md in one call of the device machine (an H200 here): ViT-B and ViT-H at 1024 px,
# batch 8, every attention path against the official SamPredictor loop. segment-anything travels as a wheel in .whl/
# (pip download --no-deps -d .whl segment-anything); everything else is the machine's own (torch, numpy, tqdm, PIL).
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nproc
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } 2>&1 | tee "$OUT/machine.txt"
# PATHS (bench_encoder.py --paths) and REPEAT narrow a second call to the paths that matter
timeout "${VIT_B_S:-240}" python3 benchmarks/bench_encoder.py --device cuda --model-type vit_b --n 32 --batch-size 8 \
  --repeat "${REPEAT:-1}" ${PATHS:+--paths "$PATHS"} 2>&1 | tee "$OUT/vit_b.md"
timeout "${VIT_H_S:-240}" python3 benchmarks/bench_encoder.py --device cuda --model-type vit_h --n 16 --batch-size 8 \
  --repeat 1 ${PATHS:+--paths "$PATHS"} 2>&1 | tee "$OUT/vit_h.md"
# Where a batch's time goes end to end (issue 45, item 3): preprocessing (with the copy), encoder, pooling
for batch in 8 32; do
  timeout "${STAGES_S:-90}" python3 benchmarks/stages.py --device cuda --model-type vit_b --batch-size $batch \
    --batches 8 2>&1 | tee "$OUT/stages_vit_b_batch$batch.md"
done
