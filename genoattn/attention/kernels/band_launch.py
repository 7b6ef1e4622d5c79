"""Launching the band kernels (``band_triton``): forward and backward of attention over one band or several disjoint
bands, with optional global tokens (Longformer).

Each kernel runs over (tiles of the longest residue class, B * H * DIL) programs. Tile sizes are autotuned per shape
on first use (tables in ``tiles``); the autotuner's hooks (``launch.TuningHooks``) restore what a kernel reads and
rewrites and zero what it adds into before each timed run, so a tuning call's outputs are right as they are. Several
bands chain: later passes continue the forward from the earlier passes' output and log-sum-exp (INIT) and add to their
gradients (ACCUMULATE). Global tokens: their rows' partial softmaxes are merged by ``band_global_rows_merge_kernel``
(two levels), their gradients summed over ATOMIC_SLOTS copies by ``band_token_grads_kernel``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genoattn.attention.kernels import tiles
from genoattn.attention.kernels.band import GlobalTokens
from genoattn.attention.kernels.interpreter import patch_interpreter_index
from genoattn.attention.kernels.launch import INTERPRET, TUNE, TuningHooks, launch, run_kernel, tile_configs
from genoattn.attention.patterns.band import Band
from genoattn.settings import current_settings

LOG2E = 1.4426950408889634
MERGE_SLOTS = 128  # partial results of the global rows one merge program combines (more programs: faster)
ATOMIC_SLOTS = 8  # copies the global tokens' gradients are spread over (fewer programs adding into one address)
GLOBAL_BLOCK = 16  # global tokens per tile of the kernels' global-column loops

# dQ from its own kernel (deterministic; default: measured faster on an H200, see tiles' doc) or by float32 atomic
# adds from the dK/dV kernel (5 matmuls instead of 7, summation order not fixed): the setting
# ``triton_band_atomic_dq`` "0" / "1"; "auto" takes the choice ``genoattn.bench.band_dq`` measured for the shape
# (recorded here), else "0".
ATOMIC_DQ = current_settings().triton_band_atomic_dq
atomic_dq_choices: dict = {}  # (shape, dtype, band, alibi) -> True where atomic dQ was measured faster

_kernels: dict = {}


def _forward_hooks(args: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(zeroed, restored) per timed run of the forward: a chained pass reads and rewrites O, LSE; the global rows'
    partial-result slots PM must start empty (-inf) for every tile size."""
    return (), ("PM", *(("O", "LSE") if args["INIT"] else ()))


def _dq_hooks(args: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The dQ kernel adds the global columns' dK, dV into DKG, DVG and, chained, adds to DQ."""
    return ("DKG", "DVG") if args["NG"] else (), ("DQ",) if args["ACCUMULATE"] else ()


def _dkdv_hooks(args: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The dK/dV kernel adds dQ into DQ (ATOMIC_DQ), the global rows' dQ into DQG and, chained, adds to DK, DV."""
    zeroed = (*(("DQ",) if args["ATOMIC_DQ"] else ()), *(("DQG",) if args["NG"] else ()))
    return zeroed, ("DK", "DV") if args["ACCUMULATE"] else ()


def autotuned() -> dict:
    """The three kernels wrapped in ``triton.autotune`` (made once): "fwd", "dkdv", "dq"."""
    if _kernels:
        return _kernels
    import triton

    from genoattn.attention.kernels import band_triton as kt

    patch_interpreter_index()
    key = ["L", "DIL", "LEFT", "RIGHT", "KS", "HOLE", "HEAD_DIM", "NG"]

    def tuned(table, kernel, extra_key, hooks):
        rows = tiles.band_rows(table, INTERPRET, TUNE)
        tuning = TuningHooks(hooks)
        return triton.autotune(tile_configs(rows), key=[*key, *extra_key], pre_hook=tuning.pre_hook,
                               post_hook=tuning.post_hook)(kernel)

    _kernels["fwd"] = tuned(tiles.BAND_FORWARD, kt.band_fwd_kernel, ["INIT"], _forward_hooks)
    _kernels["dkdv"] = tuned(tiles.BAND_DKDV, kt.band_bwd_dkdv_kernel, ["ATOMIC_DQ", "ACCUMULATE"], _dkdv_hooks)
    _kernels["dq"] = tuned(tiles.BAND_DQ, kt.band_bwd_dq_kernel, ["ACCUMULATE"], _dq_hooks)
    return _kernels


def _band_kwargs(band: Band, q: Tensor, alibi_slopes: Tensor | None) -> dict:
    """The band's arguments of the kernels (their compile-time switches follow from them: ``band_triton``)."""
    return {"H": q.shape[1], "L": q.shape[2], "DIL": band.dilation, "LEFT": band.left, "RIGHT": band.right,
            "KS": band.kernel_size, "HOLE": band.hole, "HEAD_DIM": q.shape[-1], "HAS_ALIBI": alibi_slopes is not None}


def _token_kwargs(tokens: GlobalTokens | None) -> dict:
    """The global-token arguments of the kernels (none: NG = 0)."""
    count = 0 if tokens is None else tokens.positions.numel()
    return {"NG": count, "CAUSAL": tokens is not None and tokens.causal, "GLOBAL_BLOCK": GLOBAL_BLOCK}


def _launch_passes(name: str, tile: str, q: Tensor, bands: tuple[Band, ...], blocks: tuple | None, chain: str,
                   alibi_slopes: Tensor | None, *args, **kwargs) -> None:
    """``_launch`` once per band, in order, the later passes with the compile-time flag ``chain`` set (INIT: continue
    from the earlier passes' output; ACCUMULATE: add to their gradients)."""
    for i, band in enumerate(bands):
        _launch(name, tile, q, band, blocks, *args, **{chain: i > 0}, **_band_kwargs(band, q, alibi_slopes), **kwargs)


def _launch(name: str, tile: str, q: Tensor, band: Band, blocks: tuple | None, *args, **kwargs) -> None:
    """Run kernel ``name`` over (tiles of the longest residue class, B * H * DIL) programs; ``tile`` names the block
    that tiles the grid. ``blocks`` = (BLOCK_M, BLOCK_N[, ONE_LOOP]) fixes the tiles (tests; default: the three-loop
    walk), else autotuned."""
    batch, heads, length = q.shape[:3]
    longest = -(-length // band.dilation)

    def grid(meta: dict) -> tuple[int, int]:
        return (-(-longest // meta[tile]), batch * heads * band.dilation)

    key = (name, tuple(q.shape), q.dtype, band, kwargs["HAS_ALIBI"], kwargs.get("ATOMIC_DQ", False), kwargs["NG"] > 0,
           kwargs.get("INIT", False), kwargs.get("ACCUMULATE", False))
    fixed = None if blocks is None else {"ONE_LOOP": False, **dict(zip(("BLOCK_M", "BLOCK_N", "ONE_LOOP"), blocks))}
    launch(autotuned()[name], key, grid, args, kwargs, fixed)


def as_bands(bands: Band | tuple[Band, ...]) -> tuple[Band, ...]:
    return (bands,) if isinstance(bands, Band) else tuple(bands)


def band_forward(q: Tensor, k: Tensor, v: Tensor, bands: Band | tuple[Band, ...], alibi_slopes: Tensor | None = None,
                 blocks: tuple[int, int] | None = None,
                 tokens: GlobalTokens | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
    """(out [B, H, L, D], lse [B, H, L] float32 in base 2, row_lse) of attention over ``bands`` (one, or several
    over disjoint keys, run one after another); ``blocks`` fixes (BLOCK_M, BLOCK_N).
    ``tokens`` (one band only): global tokens (Longformer), rows that see every key and keys every row sees; their
    rows' log-sum-exp is ``row_lse`` [B * H, G] (else None), and ``lse`` is +inf there (what ``band_backward``
    expects)."""
    bands = as_bands(bands)
    if tokens is not None and len(bands) > 1:
        raise ValueError("global tokens go with a single band")
    batch, heads, length, head_dim = q.shape
    out = torch.empty_like(q)
    lse = torch.empty(batch, heads, length, device=q.device, dtype=torch.float32)
    slopes = alibi_slopes.float().contiguous() if alibi_slopes is not None else lse  # unused without ALiBi
    token_kwargs = _token_kwargs(tokens)
    count = token_kwargs["NG"]
    longest = -(-length // bands[0].dilation)  # the longest residue class
    slots = bands[0].dilation * -(-longest // GLOBAL_BLOCK) if count else 0  # one per 16 rows: any BLOCK_M fits
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


def output_delta(out: Tensor, grad_out: Tensor) -> Tensor:
    """delta = rowsum(dO * O), float32 [B, H, L], the attention backward's per-row term (one small kernel)."""
    from genoattn.attention.kernels.band_triton import band_bwd_delta_kernel

    batch, heads, length, head_dim = out.shape
    delta = torch.empty(batch, heads, length, device=out.device, dtype=torch.float32)
    run_kernel(band_bwd_delta_kernel, (-(-length // 64), batch * heads),
               (out, grad_out, delta, *out.stride()[:3], *grad_out.stride()[:3], heads, length),
               {"HEAD_DIM": head_dim, "BLOCK": 64})
    return delta


def atomic_dq_choice(q: Tensor, band: Band, alibi_slopes: Tensor | None) -> bool:
    """Whether dQ comes from atomic adds: the setting "0" / "1", or for "auto" the choice measured for this shape
    (``genoattn.bench.band_dq`` records it in ``atomic_dq_choices``), never under deterministic algorithms."""
    if ATOMIC_DQ in ("0", "1"):
        return ATOMIC_DQ == "1"
    if torch.are_deterministic_algorithms_enabled():
        return False
    return atomic_dq_choices.get(atomic_dq_key(q, band, alibi_slopes), False)


def atomic_dq_key(q: Tensor, band: Band, alibi_slopes: Tensor | None) -> tuple:
    """The key of ``atomic_dq_choices``: what the measured choice depends on."""
    return tuple(q.shape), q.dtype, band, alibi_slopes is not None


def band_backward(grad_out: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                  bands: Band | tuple[Band, ...], alibi_slopes: Tensor | None = None,
                  blocks: tuple[tuple[int, int], tuple[int, int]] | None = None, atomic_dq: bool | None = None,
                  tokens: GlobalTokens | None = None, row_lse: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """(dq, dk, dv) of ``band_forward``; ``blocks`` fixes (BLOCK_M, BLOCK_N) of the dK/dV and the dQ kernel;
    ``atomic_dq`` adds dQ from the dK/dV kernel instead of running the dQ kernel (None: ``atomic_dq_choice``;
    one band only, and never with global ``tokens``, whose gradients need the dQ kernel); ``row_lse``: from
    ``band_forward``."""
    bands = as_bands(bands)
    token_kwargs = _token_kwargs(tokens)
    count = token_kwargs["NG"]
    if count or len(bands) > 1:
        atomic_dq = False
    if atomic_dq is None:
        atomic_dq = atomic_dq_choice(q, bands[0], alibi_slopes)
    head_dim = q.shape[-1]
    grad_out = grad_out.contiguous()
    batch, heads, length = q.shape[:3]
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
    kwargs = dict(scale_log2=scale * LOG2E, sm_scale=scale, ATOMIC_SLOTS=ATOMIC_SLOTS, **token_kwargs)
    if not atomic_dq:
        _launch_passes("dq", "BLOCK_M", q, bands, dq_blocks, "ACCUMULATE", alibi_slopes,
                       q, k, v, out, grad_out, lse, delta, dq, slopes, positions, token_grads[0], token_grads[1],
                       *strides[:9], *out.stride()[:3], *strides[9:], *dq.stride()[:3], **kwargs)
    _launch_passes("dkdv", "BLOCK_N", q, bands, dkdv_blocks, "ACCUMULATE", alibi_slopes,
                   q, k, v, grad_out, lse, delta, dk, dv, dq, slopes, positions,
                   lse if row_lse is None else row_lse, token_grads[2], *strides, *dk.stride()[:3],
                   *dv.stride()[:3], *dq.stride()[:3], ATOMIC_DQ=atomic_dq, **kwargs)
    if atomic_dq:  # into a tensor laid out as q, as the dQ kernel's (what the op's fake implementation says)
        return torch.empty_like(q).copy_(dq), dk, dv
    return _token_gradients(dq, dk, dv, token_grads, tokens)


def _token_gradients(dq: Tensor, dk: Tensor, dv: Tensor, token_grads: Tensor | tuple, tokens: GlobalTokens | None
                     ) -> tuple[Tensor, Tensor, Tensor]:
    """(dq, dk, dv) with the global tokens' gradients added (their columns' dK, dV) and set (their rows' dQ, which
    the dQ kernel left out: lse = +inf there), in place by one small kernel; ``token_grads``
    [3, B * H, ATOMIC_SLOTS, G, D] partial sums."""
    count = 0 if tokens is None else tokens.positions.numel()
    if tokens is not None and count:
        from genoattn.attention.kernels.band_triton import band_token_grads_kernel

        run_kernel(band_token_grads_kernel, (dq.shape[0] * dq.shape[1] * count,),
                   (token_grads, tokens.positions, dq, dk, dv, *dq.stride()[:3], *dk.stride()[:3], *dv.stride()[:3],
                    dq.shape[1], count, token_grads[0].numel()), {"SLOTS": ATOMIC_SLOTS, "HEAD_DIM": dq.shape[-1]})
    return dq, dk, dv
