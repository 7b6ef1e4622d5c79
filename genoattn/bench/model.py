"""Whole-model training cost: step time, tokens/s, peak memory, MFU, and the longest window that fits.

    python -m genoattn.bench.model --out OUT [--patterns sliding_window full ...]
        [--lengths 16384 65536 262144 1048576] [--d-model 256] [--layers 6] [--heads 8] [--patch-size 1]

For each pattern x window (nucleotides), a ``GenomeTransformer`` (token classification, binary) takes
``--steps`` AdamW training steps on random nucleotides (bf16 autocast on CUDA) after ``--warmup`` steps; the
figures are the mean step time between CUDA events, tokens/s (transformer tokens, batch included), peak
allocated memory, and MFU: useful model FLOPs per step over the step time and the card's bf16 matmul peak,
measured in the same process (:func:`matmul_peak_tflops`). Useful FLOPs (:func:`train_flops`) are
``3 x forward``: 2 FLOPs per weight per token for every weight outside the embedding, plus
``4 * head_dim`` per visible (query, key) pair of each head and layer (pairs counted from the pattern's
definition; Performer by its own arithmetic; Routing as its clusters' pairs). A window that runs out of memory,
or whose step takes longer than ``--max-step-s``, is recorded with its status and ends that pattern's doubling.
``--longest`` searches, per pattern, the longest window that trains by doubling from the first length up to
``--max-window`` nucleotides. Results: OUT/model.csv, OUT/model.json (with provenance).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from genoattn.attention import patterns as P
from genoattn.bench.attention_pairs import performer_flops, visible_pairs
from genoattn.bench.provenance import provenance
from genoattn.models import GenomeTransformer
from genoattn.models.specs import AttentionSpec, PerformerSpec, RoutingSpec

# Patterns at sizes for one-token-per-nucleotide models (attention windows in tokens).
PATTERNS: dict[str, Callable[[], AttentionSpec]] = {
    "full": lambda: P.Full(),
    "sliding_window": lambda: P.SlidingWindow(256),
    "dilated_sliding_window": lambda: P.DilatedSlidingWindow(128, dilation=2),
    "strided": lambda: P.Strided(256),
    "fixed_factorized": lambda: P.FixedFactorized(128, summary=8),
    "longformer": lambda: P.Longformer(256, global_tokens=(0,)),
    "bigbird": lambda: P.BigBird(block_size=128, random_blocks=3, seed=0),
    "neighborhood": lambda: P.Neighborhood(kernel_size=255, dilation=2),
    "routing": lambda: RoutingSpec(num_clusters=8, window=512, seed=0),
    "performer": lambda: PerformerSpec(num_features=128, seed=0),
}


def attention_flops(spec: AttentionSpec, tokens: int, num_heads: int, head_dim: int) -> int:
    """Forward FLOPs of one attention layer on one window of ``tokens`` tokens (all heads)."""
    if isinstance(spec, PerformerSpec):
        return performer_flops(tokens, num_heads, head_dim, spec.num_features)
    if isinstance(spec, RoutingSpec):
        width = min(spec.window, tokens)
        return 4 * head_dim * num_heads * spec.num_clusters * width * width
    return 4 * head_dim * visible_pairs(spec, tokens, num_heads)


def weight_count(net: nn.Module) -> int:
    """Weights applied once per token: every parameter except the token embedding (and tied copies)."""
    embedding = getattr(getattr(net, "encoder", None), "embedding", None)
    skip = {id(p) for p in embedding.parameters()} if embedding is not None else set()
    return sum(p.numel() for p in net.parameters() if id(p) not in skip)


def train_flops(net: GenomeTransformer, tokens: int, batch: int = 1) -> int:
    """Useful FLOPs of one training step (forward + backward = 3 x forward) on ``batch`` windows."""
    config = net.config
    heads = config["num_heads"]
    head_dim = config["d_model"] // heads
    specs = [block.attn.spec for block in net.encoder.blocks]
    forward = 2 * weight_count(net) * tokens + sum(attention_flops(s, tokens, heads, head_dim) for s in specs)
    return 3 * forward * batch


def matmul_peak_tflops(device: torch.device, size: int = 8192, repeats: int = 20) -> float:
    """Measured bf16 matmul TFLOP/s of this device (the MFU denominator)."""
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        a @ b
    end.record()
    torch.cuda.synchronize(device)
    seconds = start.elapsed_time(end) / 1e3 / repeats
    return 2 * size**3 / seconds / 1e12


@dataclass
class StepCost:
    """Cost of training steps of one model at one window."""

    pattern: str
    window_nt: int
    tokens: int
    batch: int
    status: str = "ok"
    ms_per_step: float | None = None
    tokens_per_s: float | None = None
    peak_gib: float | None = None
    tflops: float | None = None
    mfu: float | None = None
    params: int = 0
    backends: list[str] = field(default_factory=list)


def _random_batch(batch: int, window: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    from genoattn.data import vocab

    ids = torch.randint(vocab.A, vocab.T + 1, (batch, window), device=device)  # [B, window] A/C/G/T ids
    labels = torch.randint(0, 2, (batch, window), device=device)  # [B, window]
    return ids, labels


def measure_steps(net: GenomeTransformer, name: str, window: int, batch: int, steps: int, warmup: int,
                  device: torch.device, peak_tflops: float | None, max_step_s: float = 30.0) -> StepCost:
    """Time ``steps`` AdamW steps of ``net`` on random windows; OOM and slow steps become a status."""
    patch = net.config["patch_size"]
    cost = StepCost(name, window, window // patch, batch, params=sum(p.numel() for p in net.parameters()))
    on_cuda = device.type == "cuda"
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    ids, labels = _random_batch(batch, window, device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_cuda):
            logits = net(ids)
        loss = nn.functional.cross_entropy(logits.float().flatten(0, 1), labels.flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    try:
        if on_cuda:
            torch.cuda.reset_peak_memory_stats(device)
        first = time.perf_counter()
        step()
        sync(device)
        if time.perf_counter() - first > max_step_s:
            cost.status = f"slow: first step {time.perf_counter() - first:.1f} s > {max_step_s} s"
            return cost
        for _ in range(max(0, warmup - 1)):
            step()
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync(device)
        seconds = (time.perf_counter() - start) / steps
    except torch.OutOfMemoryError:
        cost.status = "oom"
        return cost
    finally:
        optimizer.zero_grad(set_to_none=True)
    flops = train_flops(net, cost.tokens, batch)
    cost.ms_per_step = seconds * 1e3
    cost.tokens_per_s = cost.tokens * batch / seconds
    cost.tflops = flops / seconds / 1e12
    cost.mfu = cost.tflops / peak_tflops if peak_tflops else None
    cost.peak_gib = torch.cuda.max_memory_allocated(device) / 2**30 if on_cuda else None
    return cost


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_model(spec: AttentionSpec, model_args: dict, backend: str = "auto") -> GenomeTransformer:
    """The benchmark's network: token classification (2 classes), ``model_args`` as GenomeTransformer's."""
    return GenomeTransformer(task="token_classification", num_classes=2, attention=spec, backend=backend,
                             **model_args)


def free(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def backends_used(net: GenomeTransformer, ids: torch.Tensor) -> list[str]:
    """Backend chosen by ``attend`` in each layer for this input (names; '' for Performer/Routing modules)."""
    from genoattn.attention import dispatch

    names: list[str] = []
    original = dispatch.choose_backend

    def record(*args, **kwargs):
        chosen = original(*args, **kwargs)
        names.append(getattr(chosen, "name", type(chosen).__name__))
        return chosen

    dispatch.choose_backend = record
    try:
        with torch.no_grad(), torch.autocast(ids.device.type, dtype=torch.bfloat16, enabled=ids.is_cuda):
            net(ids)
    finally:
        dispatch.choose_backend = original
    return names


def cost_grid(names: list[str], lengths: list[int], model_args: dict, batch: int, steps: int, warmup: int,
              device: torch.device, peak_tflops: float | None, max_step_s: float,
              specs: dict[str, AttentionSpec] | None = None, log: Callable[[str], None] = print) -> list[StepCost]:
    """Every pattern at every length (ascending); a pattern stops at its first OOM / slow window."""
    rows: list[StepCost] = []
    for name in names:
        spec = specs[name] if specs else PATTERNS[name]()
        for window in sorted(lengths):
            torch.manual_seed(0)
            try:
                net = build_model(spec, model_args).to(device)
            except Exception as exc:  # noqa: BLE001  (a pattern refusing this length is a row)
                rows.append(StepCost(name, window, 0, batch, status=f"failed: {exc}"[:200]))
                break
            try:
                cost = measure_steps(net, name, window, batch, steps, warmup, device, peak_tflops, max_step_s)
                if cost.status == "ok":
                    cost.backends = sorted(set(backends_used(net, _random_batch(1, window, device)[0])))
            except Exception as exc:  # noqa: BLE001
                cost = StepCost(name, window, 0, batch, status=f"failed: {type(exc).__name__}: {exc}"[:200])
            del net
            free(device)
            rows.append(cost)
            log(f"[model] {name} {window:>8} nt: {cost.status} ms/step={_fmt(cost.ms_per_step)} "
                f"peak={_fmt(cost.peak_gib)} GiB mfu={_fmt(cost.mfu)} {','.join(cost.backends)}")
            if cost.status != "ok":
                break
    return rows


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def longest_windows(rows: list[StepCost]) -> dict[str, int]:
    """Per pattern, the longest window whose steps ran (0 when none did)."""
    best: dict[str, int] = {}
    for row in rows:
        best.setdefault(row.pattern, 0)
        if row.status == "ok":
            best[row.pattern] = max(best[row.pattern], row.window_nt)
    return best


def doubling(first: int, last: int) -> list[int]:
    """first, 2 * first, ... up to and including ``last`` (when it is first * 2**k)."""
    out, window = [], first
    while window <= last:
        out.append(window)
        window *= 2
    return out


def write(rows: list[StepCost], out: Path, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    records = [asdict(r) for r in rows]
    with open(out / "model.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(records[0]) if records else ["pattern"])
        writer.writeheader()
        for record in records:
            writer.writerow({**record, "backends": " ".join(record["backends"])})
    (out / "model.json").write_text(json.dumps({"meta": meta, "rows": records}, indent=2) + "\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--patterns", nargs="*", default=list(PATTERNS), choices=list(PATTERNS))
    parser.add_argument("--lengths", nargs="*", type=int, default=[16384, 65536, 262144, 1048576])
    parser.add_argument("--longest", action="store_true", help="double from the first length to --max-window")
    parser.add_argument("--max-window", type=int, default=1 << 20)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--patch-size", type=int, default=1)
    parser.add_argument("--checkpointing", action="store_true", help="activation checkpointing per block")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--max-step-s", type=float, default=20.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[StepCost]:
    args = parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    peak = matmul_peak_tflops(device) if device.type == "cuda" else None
    model_args = {"d_model": args.d_model, "num_layers": args.layers, "num_heads": args.heads,
                  "patch_size": args.patch_size, "dropout": 0.0, "checkpointing": args.checkpointing}
    lengths = doubling(args.lengths[0], args.max_window) if args.longest else args.lengths
    rows = cost_grid(args.patterns, lengths, model_args, args.batch, args.steps, args.warmup, device, peak,
                     args.max_step_s)
    meta = provenance(device) | {"matmul_peak_tflops": peak, "model": model_args, "batch": args.batch,
                                 "longest": longest_windows(rows)}
    write(rows, args.out, meta)
    return rows


if __name__ == "__main__":
    main()
