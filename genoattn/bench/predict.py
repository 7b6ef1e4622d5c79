"""Prediction throughput (bases/s) of ``genoattn.predict``'s single-process path, written to JSON.

CPU (the quickstart model shape, random weights unless --checkpoint; the embedded E. coli genome)::

    python -m genoattn.bench.predict --model quickstart --device cpu \\
        --fasta data/ecoli_prokka/genome.fa.gz --out benchmarks/predict/cpu.json

GPU (6 layers, d=256, SlidingWindow, 16 kb windows, bf16, random weights; a synthetic FASTA made here)::

    python -m genoattn.bench.predict --model gpu --device cuda --synthetic-mbp 400 --contigs 8 \\
        --batch-size 64 --out benchmarks/predict/gpu.json

Host side only (``--model null``: per-base logits from an embedding of each token, no context: the model costs
next to nothing, so bases/s measure reading, tiling, stitching and writing)::

    python -m genoattn.bench.predict --model null --device cpu --synthetic-mbp 4 --modes pipeline,bed,all,bedgraph \
        --out benchmarks/predict/cpu-host.json

Modes (``--modes``), each over the whole FASTA after a warm-up run (compilation, caches):
- ``forward``: the model alone on one device-resident batch, repeated (no host work); bases/s counts the
  kept (stitched) bases of each window, ``window_bases_per_s`` every base run.
- ``pipeline``: the full pipeline (read, tokenise, tile, model, stitch) with no output files.
- ``bed``: end-to-end with the BED of calls only.
- ``all``: end-to-end with the default outputs, the BED and the per-nucleotide bigWig (its assembly included;
  random weights make values change at almost every base; bytes written are reported).
- ``bedgraph``: end-to-end with the BED and the per-nucleotide track as bedGraph text (``--bedgraph``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from genoattn.attention.patterns import SlidingWindow
from genoattn.data.vocab import VOCAB_SIZE
from genoattn.inference.files import predict_files
from genoattn.inference.geometry import resolve_geometry
from genoattn.inference.model import ModelInfo, load_model, patch_size, receptive_field
from genoattn.inference.options import PredictOptions
from genoattn.inference.runner import ModelRunner, resolve_device
from genoattn.models import GenomeTransformer

TARGET_GPU_BP_PER_S = 10e6
MODE_OUTPUTS = {"pipeline": ("none", False), "bed": ("none", True), "all": ("bigwig", True),
                "bedgraph": ("bedgraph", True)}  # mode -> (track format, BED) of the end-to-end modes
PRESETS = {  # random-weight model shapes ("null": the host side only, see PerBaseEmbedding)
    "quickstart": {"d_model": 64, "num_layers": 4, "num_heads": 4, "patch_size": 4, "stem_kernel_size": 9,
                   "attention_window": 64, "window": 4096},
    "gpu": {"d_model": 256, "num_layers": 6, "num_heads": 4, "patch_size": 4, "stem_kernel_size": 9,
            "attention_window": 64, "window": 16384},
    "null": {"window": 4096},
}


class PerBaseEmbedding(torch.nn.Module):
    """Logits [B, L, 2] from an embedding of each token id [B, L]: no context, next to no compute."""

    task = "token_classification"

    def __init__(self) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(VOCAB_SIZE, 2)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(input_ids)


def build_model(args: argparse.Namespace) -> tuple[torch.nn.Module, ModelInfo, dict]:
    """The network to measure: a checkpoint, or a preset shape with random weights (flags override it)."""
    if args.checkpoint:
        net, info = load_model(args.checkpoint)
        return net, info, {"source": str(args.checkpoint), "weights": "checkpoint"}
    shape = dict(PRESETS[args.model])
    for key in shape:
        value = getattr(args, key, None)
        if value is not None:
            shape[key] = value
    torch.manual_seed(0)
    if args.model == "null":
        info = ModelInfo("token_classification", 2, shape["window"], patch_size=1, receptive_field=0,
                         feature_types=("CDS",))
        return PerBaseEmbedding().eval(), info, {"source": "preset null (host side only)", "weights": "random (seed 0)",
                                                 **shape}
    net = GenomeTransformer(num_classes=2, task="token_classification", d_model=shape["d_model"],
                            num_layers=shape["num_layers"], num_heads=shape["num_heads"], dropout=0.0,
                            patch_size=shape["patch_size"], stem_kernel_size=shape["stem_kernel_size"],
                            attention=SlidingWindow(shape["attention_window"]), positions="rotary",
                            backend=args.backend).eval()
    info = ModelInfo("token_classification", 2, shape["window"], patch_size=patch_size(net),
                     receptive_field=receptive_field(net), feature_types=("CDS",))
    return net, info, {"source": f"preset {args.model}", "weights": "random (seed 0)", **shape,
                       "parameters": sum(p.numel() for p in net.parameters())}


def write_synthetic_fasta(path: Path, total_bp: int, contigs: int, seed: int = 0, line: int = 80,
                          n_fraction: float = 0.0) -> dict:
    """Random ACGT contigs (optionally one N run each) written with numpy, plus their .fai (no scan needed)."""
    rng = np.random.default_rng(seed)
    size = total_bp // contigs
    fai = []
    offset = 0
    t0 = time.perf_counter()
    with open(path, "wb") as fh:
        for c in range(contigs):
            name = f"synthetic{c + 1}"
            header = f">{name} random ACGT\n".encode()
            fh.write(header)
            offset += len(header)
            seq = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, size, dtype=np.uint8)]
            if n_fraction > 0:
                gap = int(size * n_fraction)
                seq[size // 3: size // 3 + gap] = ord("N")
            full, rest = divmod(size, line)
            body = np.full((full, line + 1), ord("\n"), dtype=np.uint8)
            body[:, :line] = seq[: full * line].reshape(full, line)
            fh.write(body.tobytes())
            if rest:
                fh.write(seq[full * line:].tobytes() + b"\n")
            fai.append(f"{name}\t{size}\t{offset}\t{line}\t{line + 1}\n")
            offset += body.size + (rest + 1 if rest else 0)
    Path(f"{path}.fai").write_text("".join(fai))
    return {"path": str(path), "bases": size * contigs, "contigs": contigs, "n_fraction": n_fraction,
            "write_s": time.perf_counter() - t0}


def forward_only(net, info, options: PredictOptions, repeats: int) -> dict:
    """bases/s of the model alone on one device-resident batch (kept bases of each window counted)."""
    device = resolve_device(options.device)
    geometry = resolve_geometry(info, options)
    runner = ModelRunner(net, info, device, options.precision, options.rc, options.compile)
    tokens = torch.randint(4, 8, (options.batch_size, geometry.window // info.k), device=device)
    runner.scores(tokens)  # warm-up (compilation)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        runner.scores(tokens)
    _sync(device)
    seconds = time.perf_counter() - t0
    windows = repeats * options.batch_size
    return {"seconds": seconds, "windows": windows,
            "bases_per_s": windows * geometry.stride / seconds,
            "window_bases_per_s": windows * geometry.window / seconds}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def end_to_end(net, info, fasta: Path, out: Path, options: PredictOptions) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    device = resolve_device(options.device)
    _sync(device)
    t0 = time.perf_counter()
    report = predict_files(net, info, [fasta], out, options)
    _sync(device)
    seconds = time.perf_counter() - t0
    written = {p.name: p.stat().st_size for p in out.iterdir() if not p.name.endswith(".json")}
    shutil.rmtree(out, ignore_errors=True)  # multi-GB at genome scale; only the sizes are kept
    return {"seconds": seconds, "bases": report.bases, "bases_per_s": report.bases / seconds,
            "stages_s": report.stages, "output_bytes": written}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=sorted(PRESETS), default="quickstart", help="random-weight preset shape")
    p.add_argument("--checkpoint", help="measure this checkpoint instead of a preset")
    for key in ("d_model", "num_layers", "num_heads", "patch_size", "stem_kernel_size", "attention_window",
                "window"):
        p.add_argument(f"--{key.replace('_', '-')}", dest=key, type=int, help=f"override the preset's {key}")
    p.add_argument("--backend", default="auto", help="attention backend (auto: flex on CUDA, blocked on CPU)")
    p.add_argument("--fasta", help="FASTA to predict (default: a synthetic one, --synthetic-mbp)")
    p.add_argument("--synthetic-mbp", type=float, default=2.0, help="size of the synthetic FASTA in Mbp")
    p.add_argument("--contigs", type=int, default=4, help="contigs of the synthetic FASTA")
    p.add_argument("--n-fraction", type=float, default=0.0, help="fraction of each synthetic contig in one N run")
    p.add_argument("--workdir", default=os.environ.get("TMPDIR", "/tmp") + "/genoattn-bench-predict")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--context", type=int, help="override the automatic context")
    p.add_argument("--compile", action="store_true", help="torch.compile the blocks")
    p.add_argument("--modes", default="forward,pipeline,bed,all")
    p.add_argument("--forward-repeats", type=int, default=20)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--out", required=True, help="JSON file to write")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("genoattn.attention").setLevel(logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)

    net, info, model_desc = build_model(args)
    device = resolve_device(args.device)
    batch = args.batch_size or (64 if device.type == "cuda" else 8)
    options = PredictOptions(batch_size=batch, device=str(device), precision=args.precision, context=args.context,
                             progress=False, compile=args.compile)
    geometry = resolve_geometry(info, options)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.fasta:
        fasta = Path(args.fasta)
        fasta_desc = {"path": str(fasta)}
    else:
        fasta = workdir / f"synthetic-{args.synthetic_mbp:g}Mbp.fa"
        fasta_desc = write_synthetic_fasta(fasta, int(args.synthetic_mbp * 1e6), args.contigs,
                                           n_fraction=args.n_fraction)
        logging.info("synthetic FASTA: %s (%.1f s)", fasta, fasta_desc["write_s"])
    warm = workdir / "warmup.fa"
    write_synthetic_fasta(warm, 2 * batch * geometry.window, 1, seed=1)

    result = {
        "benchmark": "genoattn.predict bases/s",
        "command": "python -m genoattn.bench.predict " + " ".join(argv if argv is not None else sys.argv[1:]),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "device_type": device.type, "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
        "host_cpus": os.cpu_count(),
        "model": model_desc, "geometry": asdict(geometry),
        "receptive_field": info.receptive_field, "batch_size": batch, "precision": args.precision,
        "compile": args.compile, "fasta": fasta_desc, "modes": {},
    }
    t0 = time.perf_counter()
    end_to_end(net, info, warm, workdir / "warmup-out", options)
    result["warmup_s"] = time.perf_counter() - t0
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in modes:
        logging.info("mode %s ...", mode)
        if mode == "forward":
            out = forward_only(net, info, options, args.forward_repeats)
        else:
            track, bed = MODE_OUTPUTS[mode]
            mode_options = PredictOptions(**{**options.__dict__, "track": track, "bed": bed})
            out = end_to_end(net, info, fasta, workdir / f"out-{mode}", mode_options)
        if device.type == "cuda":
            out["meets_target"] = out["bases_per_s"] >= TARGET_GPU_BP_PER_S
        result["modes"][mode] = out
        logging.info("mode %s: %.3g bp/s", mode, out["bases_per_s"])
    if device.type == "cuda":
        result["peak_gpu_memory_bytes"] = torch.cuda.max_memory_allocated(device)
        result["target_bases_per_s"] = TARGET_GPU_BP_PER_S
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({m: round(v["bases_per_s"]) for m, v in result["modes"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
