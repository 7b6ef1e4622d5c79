# Device call: GPU tests of the band kernels, the benchmark of the band patterns, host time and GPU time of the
# fused and the two-kernel backward.   run: bash benchmarks/attention/session5_run.sh   (carry .whl)
source benchmarks/gpu_setup.sh
GENOATTN_TRITON_BAND_TUNE=0 timeout 200 python3 -m pytest -q -m gpu tests/attention/test_triton_band.py \
  -k "both_walks or bfloat16 or strided_views" > "$OUT/test_gpu.log" 2>&1
tail -3 "$OUT/test_gpu.log"
timeout 300 python3 -m genoattn.bench.attention --out "$OUT/bench" --patterns sliding_window dilated neighborhood \
  longformer strided --backends triton_band sdpa --lengths 65536 1048576 --cell-timeout 90 --deadline 240 \
  > "$OUT/bench.log" 2>&1
python3 - "$OUT/bench/results.csv" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    if r["status"] == "ok" and r["backend"] != "sdpa":
        print(f'{r["pattern"]:15s} {r["length"]:>8s} {r["mode"]:6s} {float(r["ms"]):8.3f} ms  sync {float(r["ms_sync"]):8.3f}  ratio {float(r["ratio_sdpa"]):.3f}')
PY
for fused in 1 0; do
  GENOATTN_TRITON_BAND_FUSED=$fused timeout 200 python3 benchmarks/attention/host_time.py \
    --patterns dilated neighborhood longformer sliding_window > "$OUT/host_time_fused$fused.txt" 2>&1
  echo "fused=$fused"; grep -v Warning "$OUT/host_time_fused$fused.txt"
done
rm -f "$OUT/triton_cache.tgz"; trap - EXIT
