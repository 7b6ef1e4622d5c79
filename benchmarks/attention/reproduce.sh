#!/usr/bin/env bash
# Reproduce the attention benchmark in one device call: the Triton backends' GPU tests (untuned tiles), a profile of
# the band kernels (python -m genoattn.bench.band_profile), then the benchmark (python -m genoattn.bench.attention).
# TESTS, PATTERNS, BACKENDS, LENGTHS, HEAD_DIMS choose what runs. The comparison with the best dense kernel (issue 16;
# every SDPA kernel, D=64 and 128, 16k-256k; not yet run on a GPU):
#   TESTS="tests/attention/test_triton_band.py" TEST_TIMEOUT=90 PROFILE=0 HEAD_DIMS="64 128" LENGTHS="65536 16384 262144" \
#     PATTERNS="sliding_window dilated neighborhood longformer strided fixed bigbird" \
#     BACKENDS="triton_band triton_blocks sdpa_parts sdpa sdpa_cudnn sdpa_efficient" DEADLINE=330 BENCH_TIMEOUT=400 \
#     bash benchmarks/attention/reproduce.sh
# The README's current table:
#   TESTS="tests/attention/test_triton_band.py tests/attention/test_triton_blocks.py" PROFILE=0 \
#     PATTERNS="sliding_window dilated neighborhood longformer strided fixed bigbird" \
#     BACKENDS="triton_band triton_blocks sdpa_parts sdpa" LENGTHS="65536 1048576" bash benchmarks/attention/reproduce.sh
# Run from the repo root with .whl/ carried (see ../shared/tools/gpu-wheels); writes into $OUT (default ./gpu_out).
set -u -o pipefail
source "$(dirname "$0")/../device_setup.sh"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$OUT/gpus.txt"
GENOATTN_TRITON_BAND_TUNE=0 timeout "${TEST_TIMEOUT:-240}" python3 -m pytest -q -m gpu -p no:cacheprovider \
  ${TESTS:-tests/attention/test_triton_band.py} ${TEST_ARGS:-} > "$OUT/test_gpu.log" 2>&1
echo "tests: exit $?"; tail -5 "$OUT/test_gpu.log"
if [ "${PROFILE:-1}" = 1 ]; then
  timeout "${PROFILE_TIMEOUT:-200}" python3 -m genoattn.bench.band_profile --out "$OUT/band_profile.json" \
    > "$OUT/band_profile.log" 2>&1
  echo "profile: exit $?"; cut -c1-400 "$OUT/band_profile.log" | tail -8
fi
timeout "${BENCH_TIMEOUT:-300}" python3 -m genoattn.bench.attention --out "$OUT/bench" \
  --patterns ${PATTERNS:-sliding_window dilated neighborhood} --backends ${BACKENDS:-triton_band flex sdpa sdpa_cudnn sdpa_efficient} \
  --lengths ${LENGTHS:-65536 1048576} --head-dims ${HEAD_DIMS:-64} --cell-timeout 90 --deadline "${DEADLINE:-240}" > "$OUT/bench.log" 2>&1
echo "bench: exit $?"; grep -E "^\[" "$OUT/bench.log" | cut -c1-150
