# Final device call of session 5: GPU tests, every pattern at 64k and 1M, then GPU-only and host times per call.
#   run: bash benchmarks/attention/session5_final.sh   (carry .whl)
source benchmarks/gpu_setup.sh
GENOATTN_TRITON_BAND_TUNE=0 timeout 200 python3 -m pytest -q -m gpu tests/attention/test_triton_band.py \
  tests/attention/test_triton_blocks.py tests/attention/test_sdpa_parts.py \
  -k "blocks or sdpa_parts or both_walks or bfloat16 or strided_views" > "$OUT/test_gpu.log" 2>&1
tail -2 "$OUT/test_gpu.log"
timeout 330 python3 -m genoattn.bench.attention --out "$OUT/bench" --patterns sliding_window dilated neighborhood \
  longformer strided fixed bigbird --backends triton_band triton_blocks sdpa_parts sdpa --lengths 65536 1048576 \
  --cell-timeout 90 --deadline 270 > "$OUT/bench.log" 2>&1
python3 - "$OUT/bench/results.csv" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    if r["status"] == "ok" and r["backend"] != "sdpa":
        print(f'{r["pattern"]:15s} {r["backend"]:13s} {r["length"]:>8s} {r["mode"]:6s} {float(r["ms"]):9.3f} ms  ratio {float(r["ratio_sdpa"]):.3f}')
PY
timeout 120 python3 benchmarks/attention/host_time.py --patterns dilated neighborhood longformer \
  > "$OUT/host_time.txt" 2>&1; grep -v Warning "$OUT/host_time.txt" | grep -v "^tiles"
rm -f "$OUT/triton_cache.tgz"; trap - EXIT
