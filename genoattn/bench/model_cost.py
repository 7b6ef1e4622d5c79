"""Cost of training steps of one model at one window: useful FLOPs, the card's matmul peak, timed steps.

Useful FLOPs (:func:`train_flops`) are ``3 x forward``: 2 FLOPs per weight per token for every weight outside the
embedding, plus ``4 * head_dim`` per visible (query, key) pair of each head and layer (pairs counted from the
pattern's definition; Performer by its own arithmetic; Routing as its clusters' pairs). MFU is their rate over the
card's bf16 matmul peak measured in the same process (:func:`matmul_peak_tflops`). Steps run eagerly, compiled
or as a CUDA graph (``train_step``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from genoattn.attention import patterns as P
from genoattn.bench.attention_pairs import performer_flops, visible_pairs
from genoattn.bench.train_step import StepModeUnavailableError, make_step
from genoattn.models import GenomeTransformer
from genoattn.models.attention import SelfAttention
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
    specs = [m.spec for m in net.encoder.blocks.modules() if isinstance(m, SelfAttention)]  # one per block
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
    config: str = ""  # the model configuration's name (genoattn.bench.model_grid.CONFIGS), "" for ad hoc ones
    step_mode: str = "eager"  # eager | compile | cuda_graphs (genoattn.bench.train_step)
    sdpa_backend: str = ""  # the forced dense SDPA kernel of a dense model ("" : PyTorch's choice / not dense)


def _random_batch(batch: int, window: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    from genoattn.data import vocab

    ids = torch.randint(vocab.A, vocab.T + 1, (batch, window), device=device)  # [B, window] A/C/G/T ids
    labels = torch.randint(0, 2, (batch, window), device=device)  # [B, window]
    return ids, labels


def measure_steps(net: GenomeTransformer, name: str, window: int, batch: int, steps: int, warmup: int,
                  device: torch.device, peak_tflops: float | None, max_step_s: float = 30.0, step_mode: str = "eager",
                  sdpa_backend: str | None = None, compile_backend: str = "inductor") -> StepCost:
    """Time ``steps`` AdamW steps of ``net`` on random windows, run as ``step_mode`` (see ``train_step``), after
    ``warmup`` steps; OOM, slow steps and a mode that cannot run here become a status."""
    patch = net.config["patch_size"]
    cost = StepCost(name, window, window // patch, batch, params=sum(p.numel() for p in net.parameters()),
                    step_mode=step_mode, sdpa_backend=sdpa_backend or "")
    on_cuda = device.type == "cuda"
    ids, labels = _random_batch(batch, window, device)
    try:
        if on_cuda:
            torch.cuda.reset_peak_memory_stats(device)
        first = time.perf_counter()
        step = make_step(net, ids, labels, step_mode, sdpa_backend, compile_backend)  # graphs: warm-up + capture
        step()  # eager: the first step (kernels compile, BlockMasks build); compile: the compilation
        sync(device)
        if step_mode == "eager" and time.perf_counter() - first > max_step_s:
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
    except StepModeUnavailableError as exc:
        cost.status = f"refused: {exc}"
        return cost
    finally:
        for p in net.parameters():
            p.grad = None
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


def measure_cell(name: str, spec: AttentionSpec, window: int, model_args: dict, batch: int, steps: int, warmup: int,
                 device: torch.device, peak_tflops: float | None, max_step_s: float, backend: str = "auto",
                 step_mode: str = "eager", sdpa_backend: str | None = None,
                 compile_backend: str = "inductor") -> StepCost:
    """Build the model (seed 0), time its steps (``measure_steps``), name the backends an eager forward chose;
    any failure is the row's status. Frees the model and the GPU cache afterwards."""
    torch.manual_seed(0)
    try:
        net = build_model(spec, model_args, backend).to(device)
    except Exception as exc:  # noqa: BLE001  (a pattern refusing this length is a row)
        return StepCost(name, window, 0, batch, status=f"failed: {exc}"[:200], step_mode=step_mode)
    try:
        cost = measure_steps(net, name, window, batch, steps, warmup, device, peak_tflops, max_step_s, step_mode,
                             sdpa_backend, compile_backend)
        if cost.status == "ok" and step_mode == "eager":
            cost.backends = sorted(set(backends_used(net, _random_batch(1, window, device)[0])))
    except Exception as exc:  # noqa: BLE001
        cost = StepCost(name, window, 0, batch, status=f"failed: {type(exc).__name__}: {exc}"[:200],
                        step_mode=step_mode, sdpa_backend=sdpa_backend or "")
    del net
    free(device)
    return cost


def log_line(cost: StepCost) -> str:
    kernel = f" [{cost.sdpa_backend}]" if cost.sdpa_backend else ""
    return (f"[model] {cost.config} {cost.pattern}{kernel} {cost.window_nt:>8} nt {cost.step_mode}: {cost.status} "
            f"ms/step={_fmt(cost.ms_per_step)} peak={_fmt(cost.peak_gib)} GiB mfu={_fmt(cost.mfu)} "
            f"{','.join(cost.backends)}")


def cost_grid(names: list[str], lengths: list[int], model_args: dict, batch: int, steps: int, warmup: int,
              device: torch.device, peak_tflops: float | None, max_step_s: float,
              specs: dict[str, AttentionSpec] | None = None, log: Callable[[str], None] = print) -> list[StepCost]:
    """Every pattern at every length (ascending); a pattern stops at its first OOM / slow window."""
    rows: list[StepCost] = []
    for name in names:
        spec = specs[name] if specs else PATTERNS[name]()
        for window in sorted(lengths):
            cost = measure_cell(name, spec, window, model_args, batch, steps, warmup, device, peak_tflops,
                                max_step_s)
            rows.append(cost)
            log(log_line(cost))
            if cost.status != "ok":
                break
    return rows


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
