"""Triton band backend: SlidingWindow, DilatedSlidingWindow, Neighborhood, Longformer, Strided on hand-written kernels.

These patterns see one contiguous run of keys per query (within its residue class), or a few such runs over
disjoint keys, so a kernel can walk exactly that run, read dilated classes with strided loads (no permuted copies)
and mask only the tiles at the run's ends; see ``genoattn.attention.kernels.band_triton``. Forward and backward
(dQ, dK, dV) are kernels; tile sizes are autotuned per shape on first use. Longformer (one dilation for every
head) is its window's band plus its global tokens as extra rows and columns inside the same kernels; Strided is
two bands (``band_passes``: its window, then its residue class mod the stride), chained through the output and
log-sum-exp.

Runs on CUDA with triton installed (and on CPU under ``TRITON_INTERPRET=1``, Triton's interpreter, which the
tests use; too slow for real work, so ``auto`` never picks it there). float16 / bfloat16 / float32; head_dim
a power of two in 16..256; tensors below 2**31 elements (32-bit offsets).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

from genoattn.attention.kernels.band import Band, GlobalTokens, band_of, band_passes, longformer_band
from genoattn.attention.kernels.launch import (
    INTERPRET,
    TUNE,
    TritonBackend,
    launch,
    output_delta,
    patch_interpreter_index,
    precision,
    run_kernel,
    tensor_reason,
)
from genoattn.attention.patterns import Longformer
from genoattn.settings import current_settings

# dQ from a separate kernel (deterministic; default: measured faster on an H200, 15.1 vs 16.6 ms for the backward
# of SlidingWindow(256) at 1M tokens) or by float32 atomic adds from the dK/dV kernel (5 matmuls instead of 7,
# summation order not fixed). The setting triton_band_atomic_dq 0/1 fixes it; auto times both on the first backward
# of each shape and keeps the faster, except under torch.use_deterministic_algorithms(True).
ATOMIC_DQ = current_settings().triton_band_atomic_dq
LOG2E = 1.4426950408889634


_kernels: dict = {}


def _autotuned():
    """The three kernels, wrapped in triton.autotune (one fixed config under the interpreter)."""
    if _kernels:
        return _kernels
    import triton

    from genoattn.attention.kernels import band_triton as kt

    patch_interpreter_index()

    key = ["L", "DIL", "LEFT", "RIGHT", "KS", "HOLE", "HEAD_DIM", "HAS_GLOBAL"]

    def configs(options):
        """triton.Config per option (BLOCK_M, BLOCK_N, warps, stages, ONE_LOOP[, register cap]): without tuning
        the first, under the interpreter a small one-loop option (the fixed-tile tests cover the three-loop walk)."""
        options = [(32, 32, 4, 2, True)] if INTERPRET else options if TUNE else options[:1]
        return [triton.Config({"BLOCK_M": m, "BLOCK_N": n, "ONE_LOOP": one}, num_warps=w, num_stages=s,
                              maxnreg=cap[0] if cap else None) for m, n, w, s, one, *cap in options]

    # (BLOCK_M, BLOCK_N, warps, stages, ONE_LOOP[, register cap]); the first is the default without tuning. From
    # the H200 profiles (benchmarks/attention/h200-band, h200-session5): three-loop shapes that won some shape, one-loop
    # shapes (masks only its end tiles; won every short band's forward and dQ), and shapes that fit more warps per
    # multiprocessor (register-bound at 4 warps: 3 programs of 144-166 registers): a 128-register cap (4 programs,
    # no spills; with 2 stages the shared memory fits four) or 8 warps (two warpgroups share each tile).
    forward = [(64, 64, 4, 3, False), (64, 64, 4, 4, False), (64, 32, 4, 3, False), (32, 64, 4, 3, False),
               (128, 64, 8, 3, False), (64, 64, 4, 3, True), (64, 64, 4, 4, True), (64, 32, 4, 3, True),
               (64, 64, 4, 2, True, 128), (64, 64, 4, 3, True, 128), (64, 64, 8, 3, True), (64, 64, 8, 2, True)]
    dkdv = [(32, 64, 4, 3, False), (32, 64, 4, 4, False), (16, 64, 4, 3, False), (32, 64, 2, 3, False),
            (64, 128, 8, 3, False), (32, 128, 8, 3, False), (64, 64, 4, 3, False), (16, 64, 4, 4, False),
            (32, 64, 4, 3, True), (16, 64, 4, 3, True), (16, 64, 4, 3, False, 128), (16, 64, 8, 3, False),
            (16, 64, 8, 4, False)]
    dq = [(64, 64, 4, 3, False), (64, 32, 4, 2, False), (64, 64, 4, 4, False), (32, 64, 4, 3, False),
          (128, 64, 8, 3, False), (64, 64, 4, 3, True), (64, 32, 4, 2, True), (64, 64, 4, 2, True, 128),
          (64, 64, 4, 3, True, 128), (64, 64, 8, 3, True), (64, 64, 8, 2, True)]
    _kernels["fwd"] = triton.autotune(configs(forward), key=[*key, "INIT"])(kt.band_fwd_kernel)
    _kernels["dkdv"] = triton.autotune(configs(dkdv), key=[*key, "ATOMIC_DQ", "ACCUMULATE"])(kt.band_bwd_dkdv_kernel)
    _kernels["dq"] = triton.autotune(configs(dq), key=[*key, "ACCUMULATE"])(kt.band_bwd_dq_kernel)
    return _kernels


def _common(band: Band, q: Tensor, alibi_slopes: Tensor | None) -> dict:
    head_dim = q.shape[-1]
    return {
        "H": q.shape[1], "L": q.shape[2], "DIL": band.dilation, "LEFT": band.left, "RIGHT": band.right,
        "KS": band.kernel_size, "HOLE": band.hole, "HAS_HOLE": band.hole >= 0, "HEAD_DIM": head_dim,
        "NEIGHBORHOOD": band.neighborhood, "HAS_ALIBI": alibi_slopes is not None, "PRECISION": precision(q),
    }


def _token_kwargs(tokens: GlobalTokens | None) -> dict:
    """The global-token arguments of the kernels (none: HAS_GLOBAL off)."""
    count = 0 if tokens is None else tokens.positions.numel()
    return {"NG": count, "HAS_GLOBAL": count > 0, "CAUSAL": tokens is not None and tokens.causal,
            "GLOBAL_BLOCK": 16}


def _launch_passes(name: str, tile: str, q: Tensor, bands: tuple[Band, ...], blocks: tuple[int, int] | None,
                   chain: str, alibi_slopes: Tensor | None, *args, **kwargs) -> bool:
    """``_launch`` once per band, in order, the later passes with the compile-time flag ``chain`` set (INIT: continue
    from the earlier passes' output; ACCUMULATE: add to their gradients). True when any launch autotuned."""
    tuned = False
    for i, band in enumerate(bands):
        tuned |= _launch(name, tile, q, band, blocks, *args, **{chain: i > 0}, **_common(band, q, alibi_slopes),
                         **kwargs)
    return tuned


def _launch(name: str, tile: str, q: Tensor, band: Band, blocks: tuple | None, *args, **kwargs) -> bool:
    """Run kernel ``name`` over (tiles of the longest residue class, B * H * DIL) programs; ``tile`` names
    the block that tiles the grid. ``blocks`` = (BLOCK_M, BLOCK_N[, ONE_LOOP]) fixes the tiles (tests; default:
    the three-loop walk), else autotuned.
    True when this call autotuned (the kernel then ran several times: accumulated outputs need a rerun)."""
    batch, heads, length = q.shape[:3]
    longest = -(-length // band.dilation)

    def grid(meta: dict) -> tuple[int, int]:
        return (-(-longest // meta[tile]), batch * heads * band.dilation)

    key = (name, tuple(q.shape), q.dtype, band,
           *(kwargs.get(flag, False) for flag in ("HAS_ALIBI", "ATOMIC_DQ", "HAS_GLOBAL", "INIT", "ACCUMULATE")))
    tiles = None if blocks is None else {"ONE_LOOP": False, **dict(zip(("BLOCK_M", "BLOCK_N", "ONE_LOOP"), blocks))}
    return launch(_autotuned()[name], key, grid, args, kwargs, tiles)


MERGE_SLOTS = 128  # partial results of the global rows one merge program combines (more programs: faster)
ATOMIC_SLOTS = 8  # copies the global tokens' gradients are spread over (fewer programs adding into one address)


def band_forward(q: Tensor, k: Tensor, v: Tensor, bands: Band | tuple[Band, ...], alibi_slopes: Tensor | None = None,
                 blocks: tuple[int, int] | None = None,
                 tokens: GlobalTokens | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
    """(out [B, H, L, D], lse [B, H, L] float32 in base 2, row_lse) of attention over ``bands`` (one, or several
    over disjoint keys, run one after another); ``blocks`` fixes (BLOCK_M, BLOCK_N).
    ``tokens`` (one band only): global tokens (Longformer), rows that see every key and keys every row sees; their
    rows' log-sum-exp is ``row_lse`` [B * H, G] (else None), and ``lse`` is +inf there (what ``band_backward``
    expects)."""
    bands = (bands,) if isinstance(bands, Band) else tuple(bands)
    if tokens is not None and len(bands) > 1:
        raise ValueError("global tokens go with a single band")
    batch, heads, length, head_dim = q.shape
    out = torch.empty_like(q)
    lse = torch.empty(batch, heads, length, device=q.device, dtype=torch.float32)
    slopes = alibi_slopes.float().contiguous() if alibi_slopes is not None else lse  # unused without ALiBi
    token_kwargs = _token_kwargs(tokens)
    count, global_block = token_kwargs["NG"], token_kwargs["GLOBAL_BLOCK"]
    longest = -(-length // bands[0].dilation)  # the longest residue class
    slots = bands[0].dilation * -(-longest // global_block) if count else 0  # one per 16 rows: any BLOCK_M fits
    if count:  # the global rows' partial softmax per forward program: max (-inf: empty slot), sum, output
        part_max = torch.full((batch * heads, count, slots), float("-inf"), device=q.device)
        part_sum = torch.empty(batch * heads, count, slots, device=q.device)
        part_out = torch.empty(batch * heads, count, slots, head_dim, device=q.device)
    else:  # never read without global tokens: lse stands in (fewer allocations on the host's path)
        part_max = part_sum = part_out = lse
    positions = lse if tokens is None else tokens.positions
    args = (q, k, v, out, lse, slopes, positions, part_max, part_sum, part_out,
            *q.stride()[:3], *k.stride()[:3], *v.stride()[:3], *out.stride()[:3])
    kwargs = dict(SLOTS=slots, scale_log2=LOG2E / math.sqrt(head_dim), **token_kwargs)
    if _launch_passes("fwd", "BLOCK_M", q, bands, blocks, "INIT", alibi_slopes, *args, **kwargs) and (
            count or len(bands) > 1):
        part_max.fill_(float("-inf"))  # autotuning ran kernels several times, in place: run them once more
        _launch_passes("fwd", "BLOCK_M", q, bands, blocks, "INIT", alibi_slopes, *args, **kwargs)
    if not count:
        return out, lse, None
    from genoattn.attention.kernels.band_triton import band_global_rows_merge_kernel as merge

    # two levels: MERGE_SLOTS slots per program into `parts` slots per row, then those into the row
    rows, parts = batch * heads * count, -(-slots // MERGE_SLOTS)
    second = [torch.empty(rows * parts * n, device=q.device) for n in (1, 1, head_dim)]  # max, sum, output
    row_lse = torch.empty(batch * heads, count, device=q.device)
    tail = (out, lse, row_lse, positions, *out.stride()[:3], heads, length, count)
    run_kernel(merge, (rows, parts), (part_max, part_sum, part_out, *second, *tail, slots, MERGE_SLOTS),
               {"HEAD_DIM": head_dim, "BLOCK": 64, "FINAL": False})
    run_kernel(merge, (rows, 1), (*second, *second, *tail, parts, parts), {"HEAD_DIM": head_dim, "BLOCK": 64,
                                                                         "FINAL": True})
    return out, lse, row_lse


def band_backward(grad_out: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                  bands: Band | tuple[Band, ...], alibi_slopes: Tensor | None = None,
                  blocks: tuple[tuple[int, int], tuple[int, int]] | None = None, atomic_dq: bool | None = None,
                  tokens: GlobalTokens | None = None, row_lse: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """(dq, dk, dv) of ``band_forward``; ``blocks`` fixes (BLOCK_M, BLOCK_N) of the dK/dV and the dQ kernel;
    ``atomic_dq`` adds dQ from the dK/dV kernel instead of running the dQ kernel (None: ``_atomic_dq_choice``;
    one band only, and never with global ``tokens``, whose gradients need the dQ kernel); ``row_lse``: from
    ``band_forward``."""
    bands = (bands,) if isinstance(bands, Band) else tuple(bands)
    token_kwargs = _token_kwargs(tokens)
    count = token_kwargs["NG"]
    if count or len(bands) > 1:
        atomic_dq = False
    if atomic_dq is None:
        atomic_dq = _atomic_dq_choice(grad_out, q, k, v, out, lse, bands[0], alibi_slopes)
    head_dim = q.shape[-1]
    grad_out = grad_out.contiguous()
    batch, heads, length = q.shape[:3]
    _autotuned()
    # rowsum(dO * O); without atomic dQ the dQ kernel, which runs first, computes it
    delta = (output_delta(out, grad_out) if atomic_dq
             else torch.empty(batch, heads, length, device=q.device, dtype=torch.float32))
    dk, dv = torch.empty_like(k), torch.empty_like(v)
    dq = torch.zeros(q.shape, device=q.device, dtype=torch.float32) if atomic_dq else torch.empty_like(q)
    slopes = alibi_slopes.float().contiguous() if alibi_slopes is not None else lse
    scale = 1.0 / math.sqrt(head_dim)
    strides = (*q.stride()[:3], *k.stride()[:3], *v.stride()[:3], *grad_out.stride()[:3])
    dkdv_blocks, dq_blocks = blocks if blocks is not None else (None, None)
    positions = lse if tokens is None else tokens.positions
    # the global tokens' gradients, ATOMIC_SLOTS partial sums each: dK, dV (as columns), dQ (as rows); without
    # global tokens the kernels never touch them
    token_grads = (torch.zeros(3, batch * heads, ATOMIC_SLOTS, count, head_dim, device=q.device) if count
                   else (lse, lse, lse))
    dkdv_args = (q, k, v, grad_out, lse, delta, dk, dv, dq, slopes, positions,
                 lse if row_lse is None else row_lse, token_grads[2], *strides, *dk.stride()[:3],
                 *dv.stride()[:3], *dq.stride()[:3])
    dq_args = (q, k, v, out, grad_out, lse, delta, dq, slopes, positions, token_grads[0], token_grads[1],
               *strides[:9], *out.stride()[:3], *strides[9:], *dq.stride()[:3])
    kwargs = dict(scale_log2=scale * LOG2E, sm_scale=scale, ATOMIC_SLOTS=ATOMIC_SLOTS, **token_kwargs)

    def dkdv() -> bool:
        return _launch_passes("dkdv", "BLOCK_N", q, bands, dkdv_blocks, "ACCUMULATE", alibi_slopes, *dkdv_args,
                              ATOMIC_DQ=atomic_dq, **kwargs)

    def dq_pass() -> bool:
        return _launch_passes("dq", "BLOCK_M", q, bands, dq_blocks, "ACCUMULATE", alibi_slopes, *dq_args, **kwargs)

    # autotuning runs a kernel several times; where that adds into outputs, zero them and run once more
    if not atomic_dq and dq_pass() and (count or len(bands) > 1):
        if count:
            token_grads[:2].zero_()
        dq_pass()
    if dkdv() and (atomic_dq or count or len(bands) > 1):
        if atomic_dq:
            dq.zero_()
        if count:
            token_grads[2].zero_()
        dkdv()
    if atomic_dq:
        return dq.to(q.dtype), dk, dv
    return _token_gradients(dq, dk, dv, token_grads, tokens)


def _token_gradients(dq: Tensor, dk: Tensor, dv: Tensor, token_grads: Tensor | tuple, tokens: GlobalTokens | None
                     ) -> tuple[Tensor, Tensor, Tensor]:
    """(dq, dk, dv) with the global tokens' gradients added (their columns' dK, dV) and set (their rows' dQ, which
    the dQ kernel left out: lse = +inf there), in place by one small kernel; ``token_grads``
    [3, B * H, ATOMIC_SLOTS, G, D] partial sums."""
    count = 0 if tokens is None else tokens.positions.numel()
    if count:
        from genoattn.attention.kernels.band_triton import band_token_grads_kernel

        run_kernel(band_token_grads_kernel, (dq.shape[0] * dq.shape[1] * count,),
                   (token_grads, tokens.positions, dq, dk, dv, *dq.stride()[:3], *dk.stride()[:3], *dv.stride()[:3],
                    dq.shape[1], count, token_grads[0].numel()), {"SLOTS": ATOMIC_SLOTS, "HEAD_DIM": dq.shape[-1]})
    return dq, dk, dv


atomic_dq_choices: dict = {}  # (shape, dtype, band, alibi) -> measured choice


def _atomic_dq_choice(grad_out: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, band: Band,
                      alibi_slopes: Tensor | None) -> bool:
    """Whether dQ comes from atomic adds: ``ATOMIC_DQ``, or for auto the faster of the two, timed once."""
    if ATOMIC_DQ in ("0", "1"):
        return ATOMIC_DQ == "1"
    if torch.are_deterministic_algorithms_enabled() or q.device.type != "cuda":
        return False
    key = (tuple(q.shape), q.dtype, band, alibi_slopes is not None)
    if key not in atomic_dq_choices:
        times = {}
        for atomic in (False, True):
            band_backward(grad_out, q, k, v, out, lse, band, alibi_slopes, atomic_dq=atomic)  # tunes its tiles
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(3):
                band_backward(grad_out, q, k, v, out, lse, band, alibi_slopes, atomic_dq=atomic)
            end.record()
            end.synchronize()
            times[atomic] = start.elapsed_time(end)
        atomic_dq_choices[key] = times[True] < times[False]
    return atomic_dq_choices[key]


class BandAttention(torch.autograd.Function):
    """Attention over one band or several (disjoint), with optional global tokens;
    forward(q, k, v, bands, alibi_slopes, tokens)."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, bands: Band | tuple[Band, ...], alibi_slopes: Tensor | None,
                tokens: GlobalTokens | None = None) -> Tensor:
        out, lse, row_lse = band_forward(q, k, v, bands, alibi_slopes, tokens=tokens)
        ctx.save_for_backward(q, k, v, out, lse, row_lse)
        ctx.bands, ctx.alibi_slopes, ctx.tokens = bands, alibi_slopes, tokens
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        q, k, v, out, lse, row_lse = ctx.saved_tensors
        dq, dk, dv = band_backward(grad_out, q, k, v, out, lse, ctx.bands, ctx.alibi_slopes, tokens=ctx.tokens,
                                   row_lse=row_lse)
        return dq, dk, dv, None, None, None


@lru_cache(maxsize=64)
def _global_tokens(pattern: Longformer, length: int, device: torch.device) -> GlobalTokens:
    """The pattern's global tokens on ``device``, made once per (pattern, length, device): no host-to-device
    copy on every call."""
    return GlobalTokens(pattern.global_positions(length).to(device=device, dtype=torch.int32), pattern.causal)


class TritonBandBackend(TritonBackend):
    name = "triton_band"

    def can_run(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: object, alibi_slopes: Tensor | None = None
    ) -> str | None:
        band = band_of(pattern)
        if band is None and type(pattern) is Longformer:
            if longformer_band(pattern) is None:
                return "Longformer with a different dilation per head (the band kernels take one per call)"
            if pattern.global_tokens and torch.are_deterministic_algorithms_enabled():
                return ("torch.use_deterministic_algorithms(True): the global tokens' gradients are summed by "
                        "atomic adds")
            parts = q.shape[0] * q.shape[1] * len(pattern.global_tokens) * (q.shape[2] // 16 + 2) * (q.shape[3] + 2)
            if parts * 4 > 2**32:
                return (f"{len(pattern.global_tokens)} global tokens: their rows' partial results would take "
                        f"{parts * 4 / 2**30:.1f} GiB")
        elif band_passes(pattern, q.shape[2]) is None:
            return (f"{type(pattern).__name__} is not a band pattern (SlidingWindow, DilatedSlidingWindow, "
                    "Neighborhood, Longformer, Strided)")
        reason = tensor_reason(q, k, v)
        if reason:
            return reason
        if band is not None and band.neighborhood:
            pattern.check_length(q.shape[2])
        if type(pattern) is Longformer:
            pattern.global_positions(q.shape[2])  # raises InputError for a global token outside the sequence
        return None

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: object, alibi_slopes: Tensor | None = None
    ) -> Tensor:
        bands = band_passes(pattern, q.shape[2])
        tokens = _global_tokens(pattern, q.shape[2], q.device) if type(pattern) is Longformer else None
        if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
            return BandAttention.apply(q, k, v, bands, alibi_slopes, tokens)
        return band_forward(q, k, v, bands, alibi_slopes, tokens=tokens)[0]  # no autograd bookkeeping


backend = TritonBandBackend()
