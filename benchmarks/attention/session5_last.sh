# Last device call of session 5 (~5 min): GPU tests of the band kernels through the new launch path, then every
# pattern at 64k and the 1M fwd+bwd targets in one run.   run: bash benchmarks/attention/session5_last.sh (carry .whl)
source benchmarks/gpu_setup.sh
GENOATTN_TRITON_BAND_TUNE=0 timeout 70 python3 -m pytest -q -m gpu tests/attention/test_triton_band.py \
  -k "(bfloat16 and (Neighborhood or Longformer or Dilated)) or strided_views" > "$OUT/test_gpu.log" 2>&1
tail -1 "$OUT/test_gpu.log"
timeout 215 python3 -m genoattn.bench.attention --out "$OUT/bench" --patterns sliding_window dilated neighborhood \
  longformer strided fixed bigbird --backends triton_band triton_blocks sdpa_parts sdpa --lengths 65536 1048576 \
  --cell-timeout 60 --deadline 195 > "$OUT/bench.log" 2>&1
python3 - "$OUT/bench/results.csv" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    if r["status"] == "ok" and r["backend"] != "sdpa":
        print(f'{r["pattern"]:15s} {r["backend"]:13s} {r["length"]:>8s} {r["mode"]:6s} {float(r["ms"]):9.3f} ms  ratio {float(r["ratio_sdpa"]):.3f}')
PY
rm -f "$OUT/triton_cache.tgz"; trap - EXIT
