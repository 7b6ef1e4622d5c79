#!/usr/bin/env bash
# Reproduce the training / prediction benchmark in one device call: GPU training on 1 and 2 GPUs (tokens/s),
# prediction throughput, flex GPU tests. Run on a 2-GPU machine from the repo root with .whl/ carried (see
# ../shared/tools/gpu-wheels):   STEPS=300 bash benchmarks/train_predict/reproduce.sh   (writes into $OUT)
set -u -o pipefail
source "$(dirname "$0")/../device_setup.sh"
STEPS=${STEPS:-300}

train() {  # $1 = number of GPUs
  local root=/tmp/train_$1gpu
  timeout 240 python3 -m genoattn.train --config configs/gpu_sliding_window.yaml --trainer.devices "$1" \
    --trainer.strategy "$([ "$1" = 1 ] && echo auto || echo ddp)" --trainer.max_steps "$STEPS" \
    --trainer.val_check_interval 1000 --trainer.limit_val_batches 2 --trainer.limit_test_batches 4 \
    --trainer.enable_progress_bar false --trainer.default_root_dir $root --checkpoint.dirpath $root/ck \
    > "$OUT/train_$1gpu.log" 2>&1
  echo "train $1 GPU(s): exit $?"
  cp $root/ck/test_metrics.json "$OUT/train_$1gpu.json" 2>/dev/null
  cp "$(ls $root/lightning_logs/version_*/metrics.csv | head -1)" "$OUT/train_$1gpu_metrics.csv" 2>/dev/null
}
train 1
train 2
timeout 200 python3 -m genoattn.bench.predict --model gpu --device cuda --synthetic-mbp 400 --contigs 8 \
  --batch-size 64 --out "$OUT/predict_gpu.json" > "$OUT/predict_gpu.log" 2>&1
echo "predict bench: exit $?"; tail -15 "$OUT/predict_gpu.log"
timeout 150 python3 -m pytest -q -x tests/attention/test_gpu.py -p no:cacheprovider > "$OUT/test_gpu.log" 2>&1
echo "flex GPU tests: exit $?"; tail -3 "$OUT/test_gpu.log"
for n in 1 2; do
  python3 - "$OUT/train_${n}gpu_metrics.csv" "$n" <<'PY'
import csv, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r.get("tok_per_s")]
rates = [float(r["tok_per_s"]) for r in rows][len(rows) // 3:]  # drop the warm-up third (compile)
print(f"{sys.argv[2]} GPU(s): median training tokens/s after warm-up = {statistics.median(rates):,.0f} over {len(rates)} windows")
PY
done
