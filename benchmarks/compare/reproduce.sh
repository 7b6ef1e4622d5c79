#!/usr/bin/env bash
# Reproduce the pattern comparison (python -m pipelines.compare --config configs/compare/gpu.yaml) on one GPU, in as
# many device calls as it needs: each call runs the tasks named by TASKS (default: all) until RUN_TIMEOUT, and a
# later call with the same carried results folder skips the rows already written (resume). Cost rows first, unless
# COST=0. Plan for 30 device-minutes (one H100/H200):
#   call 1: TASKS="motif_pairs_token" COST=1 bash benchmarks/compare/reproduce.sh     # 3 bands x 10 patterns
#   call 2: TASKS="motif_pairs" COST=0 RESULTS=<the last call's compare folder> bash benchmarks/compare/reproduce.sh
#   call 3: TASKS="coding mlm" COST=0 RESULTS=<the last call's compare folder> bash benchmarks/compare/reproduce.sh
# RESULTS: a results folder from an earlier call (copied into the repo under an ignored path and carried) to resume.
# Run from the repo root with .whl/ carried (see ../shared/tools/gpu-wheels); writes into $OUT (default ./gpu_out).
set -u -o pipefail
source "$(dirname "$0")/../device_setup.sh"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$OUT/gpus.txt"
mkdir -p "$OUT/compare"
[ -n "${RESULTS:-}" ] && cp -r "$RESULTS"/. "$OUT/compare/"
timeout "${RUN_TIMEOUT:-540}" python3 -m pipelines.compare --config "${CONFIG:-configs/compare/gpu.yaml}" \
  --out "$OUT/compare" ${TASKS:+--tasks $TASKS} ${PATTERNS:+--patterns $PATTERNS} \
  $([ "${COST:-1}" = 0 ] && echo --no-cost) > "$OUT/compare.log" 2>&1
echo "compare: exit $?"; tail -40 "$OUT/compare.log" | cut -c1-200
# A call cut by RUN_TIMEOUT keeps its finished rows; aggregate them into the tables and plots:
python3 -m pipelines.compare --config "${CONFIG:-configs/compare/gpu.yaml}" --out "$OUT/compare" --no-runs \
  > "$OUT/aggregate.log" 2>&1 || tail -5 "$OUT/aggregate.log"
