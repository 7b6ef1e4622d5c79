"""Context-parallel training cost: the longest sequence trained per GPU count, found by doubling, and tokens/s.

Run one process per GPU with torchrun (the group of all processes shares each sequence)::

    torchrun --nproc_per_node 2 -m genoattn.bench.context_parallel --pattern sliding_window --window 512 \\
        --min-length 262144 --max-length 16777216 --out benchmarks/context_parallel/h100x2.json

Each length trains ``--steps`` timed steps (after one warm-up) of a ``GenomeTransformer`` with
``context_parallel`` = the process count (bf16 autocast on CUDA); the length doubles until a step runs out of
memory on any rank or ``--max-length`` is passed. Rank 0 writes one JSON: provenance, arguments, a row per length
(tokens/s, seconds per step, peak memory per GPU) and the longest length trained. A CUDA out-of-memory inside an
exchange can leave the other ranks waiting until the NCCL timeout: give ``--max-length`` near the expected limit.
On CPU (gloo, float32) it runs at tiny sizes for the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist

from genoattn.attention.patterns import BigBird, DilatedSlidingWindow, Longformer, Neighborhood, SlidingWindow
from genoattn.bench.provenance import provenance
from genoattn.models import GenomeTransformer

PATTERNS = {
    "sliding_window": lambda w: SlidingWindow(w),
    "dilated_sliding_window": lambda w: DilatedSlidingWindow(w // 4, dilation=4),
    "neighborhood": lambda w: Neighborhood(2 * w + 1),
    "longformer": lambda w: Longformer(w, global_tokens=(0,)),
    "bigbird": lambda w: BigBird(block_size=w, random_blocks=3),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m genoattn.bench.context_parallel",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--pattern", choices=sorted(PATTERNS), default="sliding_window")
    parser.add_argument("--window", type=int, default=512, help="window in tokens (BigBird: block size)")
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--min-length", type=int, default=65536, help="first sequence length (nucleotides)")
    parser.add_argument("--max-length", type=int, default=2**24, help="stop doubling past this length")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per length")
    parser.add_argument("--backend", default="auto", help="attention backend of the local attention")
    parser.add_argument("--checkpointing", action="store_true", help="activation checkpointing per block")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (rank 0 writes it)")
    return parser.parse_args(argv)


def start_processes() -> torch.device:
    """Join the torchrun group (NCCL on CUDA, gloo on CPU); a single process runs without one."""
    cuda = torch.cuda.is_available()
    if "RANK" in os.environ and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    if not cuda:
        return torch.device("cpu")
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    torch.cuda.set_device(device)
    return device


def build_model(args: argparse.Namespace, world: int, device: torch.device) -> GenomeTransformer:
    torch.manual_seed(0)
    net = GenomeTransformer(d_model=args.d_model, num_layers=args.layers, num_heads=args.heads, dropout=0.0,
                            attention=PATTERNS[args.pattern](args.window), backend=args.backend,
                            checkpointing=args.checkpointing, context_parallel=world).to(device)
    if world > 1:
        net.enable_context_parallel()
    return net


def train_steps(net: GenomeTransformer, length: int, args: argparse.Namespace, device: torch.device) -> dict:
    """Seconds per step and peak memory of ``args.steps`` steps at ``length`` (after one warm-up step)."""
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    ids = torch.randint(4, 8, (args.batch, length), generator=torch.Generator().manual_seed(0)).to(device)
    lo, hi = net.output_range(length)
    labels = torch.randint(0, 2, (args.batch, hi - lo), generator=torch.Generator().manual_seed(1)).to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = net(ids)
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), labels.flatten())
        loss.backward()
        for p in net.parameters():  # what DDP would do: the ranks' gradients summed
            if p.grad is not None and dist.is_initialized():
                dist.all_reduce(p.grad)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    sync(device)
    began = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync(device)
    seconds = (time.perf_counter() - began) / args.steps
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"length": length, "step_s": seconds, "tokens_per_s": args.batch * length / seconds, "peak_gib": peak}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    if dist.is_initialized():
        dist.barrier()


def fits(net: GenomeTransformer, length: int, args: argparse.Namespace, device: torch.device) -> dict | None:
    """The row of ``length``, or None when a rank ran out of memory (every rank agrees)."""
    try:
        row = train_steps(net, length, args, device)
    except torch.cuda.OutOfMemoryError:
        row = None
        net.zero_grad(set_to_none=True)
        torch.cuda.empty_cache()
    ok = torch.tensor([row is not None], dtype=torch.int32, device=device)
    if dist.is_initialized():
        dist.all_reduce(ok, op=dist.ReduceOp.MIN)
    return row if bool(ok) else None


def run(args: argparse.Namespace) -> dict:
    device = start_processes()
    world = dist.get_world_size() if dist.is_initialized() else 1
    net = build_model(args, world, device)
    rows, length = [], args.min_length
    while length <= args.max_length:
        row = fits(net, length, args, device)
        if row is None:
            break
        rows.append(row)
        length *= 2
    result = {"provenance": provenance(device), "args": {k: str(v) for k, v in vars(args).items()},
              "processes": world, "rows": rows, "longest_trained": rows[-1]["length"] if rows else None}
    if args.out is not None and (not dist.is_initialized() or dist.get_rank() == 0):
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> None:
    result = run(parse_args(argv))
    if not dist.is_initialized() or dist.get_rank() == 0:
        for row in result["rows"]:
            print(f"{result['processes']} processes  L={row['length']:>10,}  {row['tokens_per_s']:>12,.0f} tokens/s")
        print(f"longest trained: {result['longest_trained']}")
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
