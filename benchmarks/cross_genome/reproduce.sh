#!/usr/bin/env bash
# Train the GPU cross-genome model (configs/cross_genome_gpu.yaml, <= 8 minutes of training on one H100/H200) and
# score it on every genome it was not trained on beside the baselines (python -m pipelines.cross_genome), in one
# device call. The best checkpoint is copied to $OUT/cross_genome_gpu.ckpt (weights only; the shipped-model
# candidate: models/README.md says how it ships) and the report to $OUT/cross_genome_gpu/.
# Run from the repo root with .whl/ carried (see ../shared/tools/gpu-wheels); writes into $OUT (default ./gpu_out).
set -u -o pipefail
source "$(dirname "$0")/../device_setup.sh"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$OUT/gpus.txt"
ROOT=/tmp/cross_genome_gpu
timeout "${TRAIN_TIMEOUT:-560}" python3 -m genoattn.train --config configs/cross_genome_gpu.yaml \
  --trainer.default_root_dir "$ROOT" --trainer.enable_progress_bar false ${TRAIN_ARGS:-} > "$OUT/train.log" 2>&1
echo "train: exit $?"; grep -A12 "^Test metrics" "$OUT/train.log"
best=$(ls "$ROOT"/lightning_logs/version_*/checkpoints/best-*.ckpt 2>/dev/null | head -1)
[ -n "$best" ] || { echo "no checkpoint"; exit 1; }
cp "$best" "$OUT/cross_genome_gpu.ckpt"
cp "$(dirname "$best")/test_metrics.json" "$OUT/train_test_metrics.json" 2>/dev/null
timeout "${SCORE_TIMEOUT:-240}" python3 -m pipelines.cross_genome --checkpoint "$best" --name cross_genome_gpu \
  --out "$OUT/cross_genome_gpu" --device cuda --quiet > "$OUT/score.log" 2>&1
echo "score: exit $?"; cat "$OUT/cross_genome_gpu/report.md" 2>/dev/null | head -30
