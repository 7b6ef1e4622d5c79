"""One GPU session: the GPU tests, then the benchmark, in one process (so compiled kernels are shared).

    GENOATTN_FLEX_DYNAMIC=true python3 benchmarks/attention/gpu_session.py --out OUT [--tests] [--budget 540]
        [-- extra benchmark arguments]

Writes OUT/gpu_errors.json (measured flex-vs-reference errors) and OUT/bench/* (results.csv, results.json,
summary.md, attention.png). The benchmark's deadline is what is left of ``--budget`` after the tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    start = time.perf_counter()
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tests", action="store_true")
    parser.add_argument("--budget", type=float, default=540.0, help="seconds for tests + benchmark")
    parser.add_argument("--reserve", type=float, default=60.0, help="seconds kept for the last cells and plots")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.tests:
        import pytest

        os.environ["GENOATTN_GPU_REPORT"] = str(args.out / "gpu_errors.json")
        code = pytest.main(["-q", "-p", "no:cacheprovider", "-rfE", "tests/attention/test_gpu.py"])
        print(f"GPU tests exit code {int(code)} after {time.perf_counter() - start:.0f} s", flush=True)
    from genoattn.bench.attention import main

    left = args.budget - (time.perf_counter() - start) - args.reserve
    main(["--out", str(args.out / "bench"), "--deadline", f"{max(left, 1):.0f}", *extra])
    print(f"session done after {time.perf_counter() - start:.0f} s", file=sys.stderr)
