# Sourced by the benchmarks' reproduce scripts (bash benchmarks/NAME/reproduce.sh) from the repo root with .whl/ carried
# (see ../shared/tools/gpu-wheels): installs the wheels, sets PYTHONPATH, makes $OUT, records the GPUs.
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit 1
export PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$OUT/gpus.txt"
# Triton's compile cache travels between device calls (each starts on a fresh machine): it is packed into
# $OUT/triton_cache.tgz at exit; unpack it here into .triton_cache/ (git-ignored) and carry that path next time:
#   mkdir -p .triton_cache && tar xzf FILES_AT/triton_cache.tgz -C .triton_cache
export TRITON_CACHE_DIR="$PWD/.triton_cache"; mkdir -p "$TRITON_CACHE_DIR"
trap 'tar czf "$OUT/triton_cache.tgz" -C "$TRITON_CACHE_DIR" . 2>/dev/null' EXIT
