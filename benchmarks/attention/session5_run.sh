# Device call: GPU tests of the band kernels, the benchmark of the band patterns, per-kernel times and host time.
#   run: bash benchmarks/attention/session5_run.sh [bench lengths...]   (carry .whl)
source benchmarks/gpu_setup.sh
LENGTHS=${*:-65536 1048576}
GENOATTN_TRITON_BAND_TUNE=0 timeout 200 python3 -m pytest -q -m gpu tests/attention/test_triton_band.py \
  -k "both_walks or bfloat16 or strided_views" > "$OUT/test_gpu.log" 2>&1
tail -3 "$OUT/test_gpu.log"
timeout 300 python3 -m genoattn.bench.attention --out "$OUT/bench" --patterns sliding_window dilated neighborhood \
  longformer strided --backends triton_band sdpa --lengths $LENGTHS --cell-timeout 90 --deadline 240 \
  > "$OUT/bench.log" 2>&1
python3 - "$OUT/bench/results.csv" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    if r["status"] == "ok" and r["backend"] != "sdpa":
        print(f'{r["pattern"]:15s} {r["length"]:>8s} {r["mode"]:6s} {float(r["ms"]):8.3f} ms  sync {float(r["ms_sync"]):8.3f}  ratio {float(r["ratio_sdpa"]):.3f}')
PY
timeout 150 python3 benchmarks/attention/host_time.py --patterns dilated neighborhood longformer sliding_window \
  > "$OUT/host_time.txt" 2>&1; cat "$OUT/host_time.txt" | grep -v Warning
timeout 150 python3 benchmarks/attention/kernel_table.py --patterns dilated neighborhood longformer \
  > "$OUT/kernel_table.txt" 2>&1
grep -E "^== |band_|tiles " "$OUT/kernel_table.txt" | grep -v "^  *0.000" | cut -c1-150 | head -40
rm -f "$OUT/triton_cache.tgz"; trap - EXIT
