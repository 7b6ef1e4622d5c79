"""Whole-model training cost: step time, tokens/s, peak memory, MFU, and the longest window that fits.

    python -m genoattn.bench.model --out OUT [--configs gpu d512] [--patterns sliding_window full ...]
        [--lengths 16384 65536 262144 1048576] [--cuda-graphs] [--compile] [--deadline 480]
    python -m genoattn.bench.model --out OUT --longest --configs custom [--d-model 256] [--layers 6] ...

For each model configuration x pattern x window (nucleotides) x step mode, a ``GenomeTransformer`` (token
classification, binary) takes ``--steps`` AdamW training steps on random nucleotides (bf16 autocast on CUDA)
after ``--warmup`` steps; the figures are the mean step time, tokens/s (transformer tokens, batch included), peak
allocated memory, and MFU: useful model FLOPs per step over the step time and the card's bf16 matmul peak,
measured in the same process (``model_cost``). Configurations, the cells' priority order (targets first, so a run
cut by ``--deadline`` keeps them) and the dense model (pattern ``full``: one SDPA call per layer, each SDPA kernel
tried at its first cell, the fastest kept) are ``model_grid``'s. Step modes (``train_step``): ``eager`` always;
``--cuda-graphs`` adds the step captured in a CUDA graph (GPU only: a ``refused`` row elsewhere), ``--compile``
the step with the network under ``torch.compile``. A window that runs out of memory, times out or whose first step
takes longer than ``--max-step-s`` is recorded with its status, and the same model's longer windows are skipped.
``--longest`` searches, per pattern, the longest window that trains by doubling from the first length up to
``--max-window`` nucleotides (the ``custom`` configuration of ``--d-model`` ...). Results: OUT/model.csv,
OUT/model.json (with provenance), OUT/summary.md (``model_summary``: the targets as measured, tables, mode gains).
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import asdict
from pathlib import Path

import torch

from genoattn.bench.dense_sdpa import SDPA_BACKENDS
from genoattn.bench.model_cost import (  # noqa: F401  (the model benchmark's API: tests and pipelines use it here)
    PATTERNS,
    StepCost,
    attention_flops,
    build_model,
    cost_grid,
    matmul_peak_tflops,
    measure_steps,
    train_flops,
)
from genoattn.bench.model_grid import DENSE_BACKEND, DenseChoice, GridRun, default_configs, grid, run_grid
from genoattn.bench.model_summary import summary_markdown
from genoattn.bench.provenance import provenance


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
    parser.add_argument("--configs", nargs="+", default=["gpu", "d512"], choices=["gpu", "d512", "custom"],
                        help="model configurations (model_grid); custom: --d-model, --layers, --heads, ...")
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
    parser.add_argument("--cuda-graphs", action="store_true", help="also time the step captured in a CUDA graph")
    parser.add_argument("--compile", action="store_true", help="also time the step with torch.compile")
    parser.add_argument("--compile-backend", default="inductor", help="torch.compile backend (aot_eager: tests)")
    parser.add_argument("--deadline", type=float, default=0.0, help="start no cell after this many seconds")
    parser.add_argument("--cell-timeout", type=float, default=120.0, help="seconds per cell, compilation included")
    parser.add_argument("--dense-max-length", type=int, default=262144, help="longest window of the dense model")
    parser.add_argument("--sdpa-backends", nargs="+", default=list(SDPA_BACKENDS), choices=list(SDPA_BACKENDS),
                        help="dense SDPA kernels tried for the dense model (the fastest is kept)")
    parser.add_argument("--dense-backend", default=DENSE_BACKEND, help="attention backend of the dense model")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser.parse_args(argv)


def model_configs(args: argparse.Namespace) -> dict[str, dict]:
    custom = {"d_model": args.d_model, "num_layers": args.layers, "num_heads": args.heads,
              "patch_size": args.patch_size, "dropout": 0.0, "checkpointing": args.checkpointing}
    return {**default_configs(), "custom": custom}


def main(argv: list[str] | None = None) -> list[StepCost]:
    args = parse_args(argv)
    device = torch.device(args.device)
    peak = matmul_peak_tflops(device) if device.type == "cuda" else None
    configs = model_configs(args)
    meta = provenance(device) | {"matmul_peak_tflops": peak, "batch": args.batch}
    if args.longest:
        model_args = configs[args.configs[0]]
        rows = cost_grid(args.patterns, doubling(args.lengths[0], args.max_window), model_args, args.batch,
                         args.steps, args.warmup, device, peak, args.max_step_s)
        write(rows, args.out, meta | {"model": model_args, "longest": longest_windows(rows)})
        return rows
    modes = ["eager", *(["cuda_graphs"] if args.cuda_graphs else []), *(["compile"] if args.compile else [])]
    cells = grid(args.configs, args.patterns, args.lengths, modes)
    run = GridRun(args.batch, args.steps, args.warmup, args.max_step_s, args.cell_timeout, args.deadline,
                  args.dense_max_length, dense_backend=args.dense_backend, compile_backend=args.compile_backend)
    choice = DenseChoice(tuple(args.sdpa_backends))
    meta |= {"models": {name: configs[name] for name in args.configs}, "step_modes": modes}

    def save(rows: list[StepCost]) -> None:
        write(rows, args.out, meta | {"dense_kernels": {"/".join(k): v for k, v in choice.chosen.items()}})

    rows = run_grid(cells, configs, run, device, peak, choice=choice, on_row=save)
    save(rows)
    (args.out / "summary.md").write_text(summary_markdown(rows, json.loads((args.out / "model.json").read_text())
                                                          ["meta"]))
    return rows


if __name__ == "__main__":
    main()
