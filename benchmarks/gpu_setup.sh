# Sourced by the device-call scripts (bash benchmarks/...sh) from the repo root with .whl/ carried
# (see ../shared/tools/gpu-wheels): installs the wheels, sets PYTHONPATH, makes $OUT, records the GPUs.
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit 1
export PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$OUT/gpus.txt"
