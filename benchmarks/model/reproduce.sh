#!/usr/bin/env bash
# Reproduce the whole-model benchmark of issue 16 in one device call (<= 9 minutes): python -m genoattn.bench.model
# over configs gpu (configs/gpu_sliding_window.yaml's network) and d512, every pattern, 16k-1M nt, eager plus the
# step captured in a CUDA graph and under torch.compile; cells in priority order (targets first) until DEADLINE.
# CONFIGS, PATTERNS, LENGTHS, MODES, DEADLINE, CELL_TIMEOUT choose what runs. Rows are saved after every cell, so a
# run cut by BENCH_TIMEOUT keeps what it measured.
# Run from the repo root with .whl/ carried (see ../shared/tools/gpu-wheels); writes into $OUT (default ./gpu_out).
set -u -o pipefail
source "$(dirname "$0")/../device_setup.sh"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$OUT/gpus.txt"
timeout "${BENCH_TIMEOUT:-480}" python3 -m genoattn.bench.model --out "$OUT/model" \
  --configs ${CONFIGS:-gpu d512} ${PATTERNS:+--patterns $PATTERNS} --lengths ${LENGTHS:-16384 65536 262144 1048576} \
  ${MODES---cuda-graphs --compile} --deadline "${DEADLINE:-390}" --cell-timeout "${CELL_TIMEOUT:-90}" \
  > "$OUT/model.log" 2>&1
echo "model: exit $?"; grep -E "^\[" "$OUT/model.log" | cut -c1-200
cat "$OUT/model/summary.md" 2>/dev/null
