"""One GPU session: probes, the GPU tests, then the benchmark, in one process (so compiled kernels are shared).

    python -m genoattn.bench.attention_with_probes --out OUT [--tests] [--budget 540] [-- benchmark arguments]

Probes (subprocesses, so a crash cannot poison this process): FlexAttention on SlidingWindow(256), L=3000,
bf16, forward + backward against float64, with (a) dynamic shapes and padded indices and (b) narrow indices.
If (a) fails, this session falls back to automatic dynamic shapes. Writes OUT/probes.txt, OUT/gpu_errors.json
and OUT/bench/* (results.csv, results.json, summary.md, attention.png).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

PROBE = """
import sys, torch
from genoattn.attention.backends import flex
from genoattn.attention.backends.reference import backend as reference
from genoattn.attention.patterns import SlidingWindow
p = SlidingWindow(256)
g = torch.Generator(device="cuda").manual_seed(0)
q, k, v = (torch.randn(1, 8, 3000, 64, device="cuda", generator=g).bfloat16().requires_grad_() for _ in range(3))
out = flex.backend.attend(q, k, v, p)
grads = torch.autograd.grad(out.float().square().sum(), (q, k, v))
q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
ref = reference.attend(q64, k64, v64, p)
ref_grads = torch.autograd.grad(ref.square().sum(), (q64, k64, v64))
errs = [float((a.double() - b).norm() / b.norm()) for a, b in zip((out, *grads), (ref, *ref_grads))]
verdict = "OK" if max(errs) < 3e-2 else "BAD"
print("PROBE", sys.argv[1], "rel errors out,dq,dk,dv:", " ".join(f"{e:.2e}" for e in errs), verdict)
"""


def probe(name: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PROBE, name], env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


if __name__ == "__main__":
    start = time.perf_counter()
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tests", action="store_true")
    parser.add_argument("--tests-k", default="", help="pytest -k expression selecting GPU tests")
    parser.add_argument("--no-probes", action="store_true")
    parser.add_argument("--no-bench", action="store_true")
    parser.add_argument("--budget", type=float, default=540.0, help="seconds for probes + tests + benchmark")
    parser.add_argument("--reserve", type=float, default=60.0, help="seconds kept for the last cells and plots")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    args.out.mkdir(parents=True, exist_ok=True)
    probes = [] if args.no_probes else [
        ("dynamic+padded", probe("dynamic+padded", {"GENOATTN_FLEX_DYNAMIC": "true", "GENOATTN_FLEX_NARROW": "0"})),
        ("dynamic+narrow", probe("dynamic+narrow", {"GENOATTN_FLEX_DYNAMIC": "true", "GENOATTN_FLEX_NARROW": "1"})),
    ]
    lines = []
    for name, proc in probes:
        try:
            text, _ = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            proc.kill()
            text = "timeout"
        found = [line for line in text.splitlines() if line.startswith("PROBE")]
        tail = [line for line in text.splitlines() if "Error" in line][-2:]
        lines.append(found[0] if found else f"PROBE {name} crashed: {' | '.join(tail)[:400]}")
    if lines:
        (args.out / "probes.txt").write_text("\n".join(lines) + "\n")
        print("\n".join(lines), flush=True)
    if lines and not lines[0].endswith("OK"):
        os.environ["GENOATTN_FLEX_DYNAMIC"] = "auto"
        print("dynamic shapes failed the probe: this session uses automatic dynamic shapes", flush=True)
    os.environ["GENOATTN_FLEX_NARROW"] = "0"
    if args.tests:
        import pytest

        os.environ["GENOATTN_GPU_REPORT"] = str(args.out / "gpu_errors.json")
        selection = ["-k", args.tests_k] if args.tests_k else []
        code = pytest.main(["-q", "-p", "no:cacheprovider", "-rfE", *selection, "tests/attention/test_gpu.py"])
        print(f"GPU tests exit code {int(code)} after {time.perf_counter() - start:.0f} s", flush=True)
    if args.no_bench:
        sys.exit(0)
    from genoattn.bench.attention import main

    left = args.budget - (time.perf_counter() - start) - args.reserve
    main(["--out", str(args.out / "bench"), "--deadline", f"{max(left, 1):.0f}", *extra])
    print(f"session done after {time.perf_counter() - start:.0f} s", file=sys.stderr)
