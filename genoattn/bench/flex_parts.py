"""Time each part of a flex plan (GPU): where does a multi-part pattern spend its time?

    python -m genoattn.bench.flex_parts [L ...]

For Longformer, BigBird and SlidingWindow (benchmark parameters, B=1, H=8, D=64, bf16, forward) prints the
median milliseconds of every part (masked call, gathered keys, split global rows) and of the whole plan.
"""

from __future__ import annotations

import statistics
import sys

import torch

from genoattn.attention.backends import flex
from genoattn.attention.merge import merge_lse
from genoattn.attention.patterns import BigBird, Longformer, SlidingWindow


def timed(fn, repeats: int = 10) -> float:
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def parts_row(pattern, q, k, v) -> str:
    """Median ms of the whole plan, of each part, and of the log-sum-exp merge."""
    alibi = flex.alibi_factory(None)
    length = q.shape[2]
    plan = flex.plan_for(pattern, length, q.shape[1], q.device)
    row = [f"L={length} {pattern}: plan {timed(lambda: plan.run(q, k, v, flex._flex_call, alibi)):.3f} ms"]
    outs = []
    for part in [*plan.parts, plan.override]:
        if part is None:
            continue
        ms = timed(lambda part=part: part.run(q, k, v, flex._flex_call, alibi, True))
        outs.append(part.run(q, k, v, flex._flex_call, alibi, True))
        row.append(f"{type(part).__name__} {ms:.3f} ms")
    if len(plan.parts) > 1:
        merged = outs[: len(plan.parts)]
        row.append(f"merge {timed(lambda: merge_lse(merged)):.3f} ms")
    flex.clear_cache()
    return "; ".join(row)


def main(lengths: list[int]) -> None:
    for length in lengths:
        q, k, v = (torch.randn(1, 8, length, 64, device="cuda", dtype=torch.bfloat16) for _ in range(3))
        for pattern in (SlidingWindow(256), Longformer(256, global_tokens=(0,)), BigBird(block_size=128)):
            with torch.no_grad():
                print(parts_row(pattern, q, k, v), flush=True)


if __name__ == "__main__":
    main([int(x) for x in sys.argv[1:]] or [65536, 262144])
