"""How the flex backend runs each pattern: a plan of FlexAttention calls merged by log-sum-exp.

One call with one BlockMask is right for local patterns, but some patterns waste compute or memory that way:

- rows or columns that see everything (Longformer and BigBird globals) make the BlockMask index tensors
  NB x NB wide and give single programs a whole row of work; they run as separate calls instead: the global
  keys gathered into a short dense call for every query (``GatherKeys``), and the global queries against all
  keys split into chunks so many programs share the row (``GatherQueries``), whose rows override the rest;
- dilated windows (DilatedSlidingWindow, Neighborhood with dilation > 1) run on the residue classes x[g::d]
  as extra batch entries, where they are plain windows with no empty blocks (``Residue``);
- Strided = a window plus full attention inside each residue class mod the stride; FixedFactorized = its
  blocks plus the summary columns gathered.

Parts of a sum are made disjoint (each visible pair counted once) and merged exactly with their
log-sum-exp: out = sum_p exp(lse_p - m) out_p / sum_p exp(lse_p - m). Every part returns (out [B, H, L, D],
lse [B, H, L] float32) over all L query rows; rows a part does not cover have lse = -inf.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.nn.attention.flex_attention import BlockMask

from genoattn.attention.backends.flex_mask import block_mask_from_layout, mask_mod_on
from genoattn.attention.merge import merge_lse, merge_lse_dim
from genoattn.attention.patterns import (
    BigBird,
    FixedFactorized,
    Full,
    Longformer,
    Neighborhood,
    Pattern,
    SlidingWindow,
    Strided,
)
from genoattn.attention.patterns.base import BlockLayout, MaskMod, from_residue_classes, to_residue_classes

# (q, k, v, block_mask, score_mod, need_lse) -> (out, lse or None): the FlexAttention call (flex.py supplies
# the compiled one; tests may pass a dense emulation).
FlexCall = Callable[..., tuple[Tensor, "Tensor | None"]]
# Builds an ALiBi score_mod from position maps: (q_pos, kv_pos, stride, chunk) -> score_mod
ScoreModFactory = Callable[..., "Callable | None"]
Out = tuple[Tensor, "Tensor | None"]


@dataclass
class Direct:
    """One FlexAttention call over all rows (``block_mask=None``: dense)."""

    block_mask: BlockMask | None

    def run(self, q: Tensor, k: Tensor, v: Tensor, call: FlexCall, alibi: ScoreModFactory, need_lse: bool) -> Out:
        return call(q, k, v, self.block_mask, alibi(None, None, 1, None), need_lse)


@dataclass
class GatherKeys:
    """Every query against the keys at ``positions`` only: the global columns.

    ``block_mask`` (over [L, G]) is None when every query sees every gathered key, else its mask_mod drops the
    pairs another part already counts (e.g. global keys inside a query's own window).
    """

    positions: Tensor  # int64 [G], on the device
    block_mask: BlockMask | None = None

    def run(self, q: Tensor, k: Tensor, v: Tensor, call: FlexCall, alibi: ScoreModFactory, need_lse: bool) -> Out:
        kg = k.index_select(2, self.positions)  # [B, H, G, D]
        vg = v.index_select(2, self.positions)
        return call(q, kg, vg, self.block_mask, alibi(None, self.positions, 1, None), need_lse)


@dataclass
class GatherQueries:
    """The queries at ``positions`` against every key, keys split into ``chunks`` batch entries.

    Returns (out [B, H, G, D], lse [B, H, G]) for those rows only; the plan writes them over the merged rows.
    The batch is arranged [B, S] (batch-major), so batch entry b holds key chunk b % S; ``block_mask`` covers
    one chunk (its mask_mod drops the zero padding past L in the last chunk).
    """

    positions: Tensor  # int64 [G], on the device
    chunks: int
    chunk_len: int
    length: int
    block_mask: BlockMask

    def run(self, q: Tensor, k: Tensor, v: Tensor, call: FlexCall, alibi: ScoreModFactory, need_lse: bool) -> Out:
        b, h, length, d = k.shape
        s, lc = self.chunks, self.chunk_len
        qg = q.index_select(2, self.positions)  # [B, H, G, D]
        g = qg.shape[2]
        qg = qg.unsqueeze(1).expand(b, s, h, g, d).reshape(b * s, h, g, d)  # [B * S, H, G, D]

        def split(x: Tensor) -> Tensor:
            x = torch.nn.functional.pad(x, (0, 0, 0, s * lc - length))  # [B, H, S * Lc, D]
            return x.view(b, h, s, lc, d).transpose(1, 2).reshape(b * s, h, lc, d)  # [B * S, H, Lc, D]

        out, lse = call(qg, split(k), split(v), self.block_mask, alibi(self.positions, None, 1, (s, lc)), True)
        assert lse is not None, "asked with lse"
        return merge_lse_dim(out.view(b, s, h, g, d), lse.view(b, s, h, g), dim=1)


@dataclass
class Residue:
    """Run sub-plans on the residue classes x[g::d] as extra batch entries (no compute on skipped keys).

    With L = d * m + r, classes g < r hold m + 1 positions (``long`` plan) and the others m (``short`` plan),
    so each group is an exact, unpadded batch.
    """

    dilation: int
    length: int
    long: Plan | None
    short: Plan | None

    def run(self, q: Tensor, k: Tensor, v: Tensor, call: FlexCall, alibi: ScoreModFactory, need_lse: bool) -> Out:
        d, length = self.dilation, self.length
        b = q.shape[0]
        m, r = divmod(length, d)
        lmax = m + (r > 0)
        (qc, _), (kc, _), (vc, _) = (to_residue_classes(x, d) for x in (q, k, v))  # [d * B, H, Lmax, D]
        n_long = r if r > 0 else d
        outs, lses = [], []
        for plan, lo, hi, lg in ((self.long, 0, n_long, lmax), (self.short, n_long, d, m)):
            if hi <= lo or plan is None:
                continue

            def group(x: Tensor, lo: int = lo, hi: int = hi, lg: int = lg) -> Tensor:
                return x[lo * b:hi * b, :, :lg].contiguous()  # [G * B, H, Lg, D]

            def class_alibi(q_pos, kv_pos, stride, chunk, _d=d):  # noqa: ANN001 - same signature as ``alibi``
                return alibi(q_pos, kv_pos, stride * _d, chunk)

            o, s = plan.run(group(qc), group(kc), group(vc), call, class_alibi, need_lse)
            outs.append(torch.nn.functional.pad(o, (0, 0, 0, lmax - lg)))  # the short classes miss the last position
            if need_lse:
                assert s is not None, "asked with lse"
                lses.append(torch.nn.functional.pad(s, (0, lmax - lg), value=float("-inf")))
        o = from_residue_classes(torch.cat(outs), d, length)  # [B, H, L, D]
        if not need_lse:
            return o, None
        return o, from_residue_classes(torch.cat(lses).unsqueeze(-1), d, length).squeeze(-1)  # [B, H, L]


@dataclass
class Plan:
    """Parts merged by log-sum-exp, then the ``override`` rows (global queries) written over them."""

    parts: list = field(default_factory=list)
    override: GatherQueries | None = None

    @property
    def needs_lse(self) -> bool:
        """Whether running the plan needs log-sum-exp from the kernel (CPU FlexAttention cannot give it)."""
        if len(self.parts) > 1 or self.override is not None:
            return True
        part = self.parts[0]
        if isinstance(part, Residue):
            return any(p is not None and p.needs_lse for p in (part.long, part.short))
        return False

    def run(
        self, q: Tensor, k: Tensor, v: Tensor, call: FlexCall, alibi: ScoreModFactory, need_lse: bool = False
    ) -> Out:
        """Attention over all rows: (out [B, H, L, D], lse float32 [B, H, L] or None unless ``need_lse``)."""
        inner = need_lse or len(self.parts) > 1
        out, lse = merge_lse([p.run(q, k, v, call, alibi, inner) for p in self.parts])
        if self.override is not None:
            o_rows, l_rows = self.override.run(q, k, v, call, alibi, need_lse)
            rows = self.override.positions
            out = out.index_copy(2, rows, o_rows.to(out.dtype))
            if need_lse:
                assert l_rows is not None, "asked with lse"
                lse = lse.index_copy(2, rows, l_rows)
        return out, lse

    def block_masks(self) -> list[BlockMask]:
        """Every BlockMask the plan holds (for memory accounting and tests)."""
        found = []
        for p in [*self.parts, self.override]:
            if isinstance(p, (Direct, GatherKeys, GatherQueries)) and p.block_mask is not None:
                found.append(p.block_mask)
            elif isinstance(p, Residue):
                for sub in (p.long, p.short):
                    if sub is not None:
                        found.extend(sub.block_masks())
        return found


# ----------------------------------------------------------------------------------------------------------
# Building plans
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanOptions:
    block_size: int = 128  # sparse block of the BlockMask (a multiple of the kernel's tile)
    narrow: bool | None = None  # narrow index tensors (default: flex_mask.default_narrow()), see flex_mask
    min_programs: int = 264  # GatherQueries splits keys until (chunks * B * H * query blocks) reaches this
    batch_heads: int = 8  # B * H assumed when sizing the chunks


def _drop_full_on_columns(layout: BlockLayout, columns: Tensor) -> BlockLayout:
    """Mark blocks in the key-block set ``columns`` (bool [NK]) partial, so the kernel evaluates the mask there."""
    hit = columns[layout.indices.long()]  # [H', NQ, K]
    return BlockLayout(layout.length, layout.block_size, layout.indices, layout.counts, layout.full & ~hit)


def _gather_queries(positions: Tensor, length: int, device: torch.device, opts: PlanOptions) -> GatherQueries:
    """Split-key plan for the global query rows ``positions`` (int64 [G], CPU)."""
    bs = opts.block_size
    nk = -(-length // bs)
    g = positions.numel()
    q_blocks = -(-g // bs)
    target = max(1, min(nk, -(-opts.min_programs // (opts.batch_heads * q_blocks))))
    # Prefer a chunk count that divides the key blocks (no padded tail to mask), up to twice the target.
    chunks = next((c for c in range(target, min(nk, 2 * target) + 1) if nk % c == 0), target)
    chunk_len = -(-nk // chunks) * bs  # a whole number of blocks
    chunks = -(-length // chunk_len)
    nkc = chunk_len // bs
    layout = BlockLayout.every_block(chunk_len, bs, q_blocks, full=True)
    pad = chunks * chunk_len - length
    mask = None
    if pad > 0:  # the last chunk ends in zero padding: its tail blocks are partial in every chunk's layout
        tail = torch.zeros(nkc, dtype=torch.bool)
        tail[(chunk_len - pad) // bs:] = True
        layout = _drop_full_on_columns(layout, tail)
        mask = _chunk_mask(length, chunks, chunk_len, device)
    bm = block_mask_from_layout(layout, mask, device, opts.narrow, q_length=g)
    return GatherQueries(positions.to(device), chunks, chunk_len, length, bm)


def _chunk_mask(length: int, chunks: int, chunk_len: int, device: torch.device) -> MaskMod:
    """mask_mod for batch entry b holding key chunk b % chunks: keys past ``length`` are padding.

    The sizes are captured as tensors, not ints, so one compiled kernel serves every length.
    """
    sizes = torch.tensor([length, chunks, chunk_len], device=device)

    def mask_mod(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        return kv_idx < sizes[0] - (b % sizes[1]) * sizes[2]

    return mask_mod


def build_plan(
    pattern: Pattern, length: int, num_heads: int, device: torch.device, opts: PlanOptions, allow_lse: bool = True
) -> Plan:
    """The cheapest exact plan for ``pattern`` at this length; ``allow_lse=False`` (CPU) avoids multi-part plans.

    A pattern with a fast path here (``_FAST_PATHS``) takes it; any other that splits into residue classes runs
    per class; the rest is one call with the pattern's own block layout and mask_mod.
    """
    builder = _FAST_PATHS.get(type(pattern), _residue_split)
    plan = builder(pattern, length, num_heads, device, opts)
    if plan is not None and (allow_lse or not plan.needs_lse):
        return plan
    return generic_plan(pattern, length, num_heads, device, opts)


def generic_plan(pattern: Pattern, length: int, num_heads: int, device: torch.device, opts: PlanOptions) -> Plan:
    """One call with the pattern's own block layout and mask_mod."""
    layout = pattern.block_layout(length, opts.block_size, num_heads)
    mask_mod = mask_mod_on(pattern.mask_mod_for(length, num_heads), device)
    return Plan([Direct(block_mask_from_layout(layout, mask_mod, device, opts.narrow))])


def _full(pattern: Full, length: int, num_heads: int, device: torch.device, opts: PlanOptions) -> Plan | None:
    return None if pattern.causal else Plan([Direct(None)])


def _residue_split(pattern: Pattern, length: int, num_heads: int, device: torch.device,
                   opts: PlanOptions) -> Plan | None:
    """The pattern's ``residue_split`` run per residue class (e.g. dilated windows), when it has one."""
    split = pattern.residue_split()
    return None if split is None else _residue(*split, length, num_heads, device, opts)


def _residue(d: int, base: Pattern, length: int, num_heads: int, device: torch.device, opts: PlanOptions) -> Plan:
    """Plan for ``base`` on the residue classes mod d (see Residue)."""
    m, r = divmod(length, d)
    lmax = m + (r > 0)
    long = build_plan(base, lmax, num_heads, device, opts)
    short = build_plan(base, m, num_heads, device, opts) if r > 0 and m > 0 else None
    return Plan([Residue(d, length, long, short)])


def _neighborhood(pattern: Neighborhood, length: int, num_heads: int, device: torch.device,
                  opts: PlanOptions) -> Plan | None:
    """Dilated neighborhoods: the dilation-1 neighborhood of each residue class (classes of two lengths), its window
    mask taking the class length as a tensor (one compiled kernel for every length)."""
    split = pattern.residue_split()
    if split is None:
        return None
    pattern.check_length(length)
    d, base = split
    k = pattern.kernel_size
    m, r = divmod(length, d)
    lmax = m + (r > 0)

    def class_plan(lg: int) -> Plan:
        return Plan([Direct(block_mask_from_layout(base.block_layout(lg, opts.block_size, 1),
                                                   _window_mask(k, lg, device), device, opts.narrow))])

    short = class_plan(m) if r > 0 else None
    return Plan([Residue(d, length, class_plan(lmax), short)])


def _window_mask(kernel_size: int, class_length: int, device: torch.device) -> MaskMod:
    """NATTEN 1D window (dilation 1) over a sequence of ``class_length`` (a captured tensor: no recompiles)."""
    lg = torch.tensor(class_length, device=device)
    half = kernel_size // 2

    def mask_mod(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        start = torch.minimum(torch.clamp(q_idx - half, min=0), lg - kernel_size)
        return (kv_idx >= start) & (kv_idx < start + kernel_size)

    return mask_mod


def _strided(pattern: Strided, length: int, num_heads: int, device: torch.device, opts: PlanOptions) -> Plan | None:
    """Window minus the multiples of the stride, plus full attention inside each residue class mod the stride."""
    s, causal = pattern.stride, pattern.causal
    window = SlidingWindow(s, causal).block_layout(length, opts.block_size, 1)
    window = BlockLayout(length, opts.block_size, window.indices, window.counts, torch.zeros_like(window.full))

    def near(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        diff = q_idx - kv_idx
        visible = (diff.abs() <= s) & (diff % s != 0)
        return visible & (diff >= 0) if causal else visible

    parts = [Direct(block_mask_from_layout(window, near, device, opts.narrow))]
    parts += _residue(s, Full(causal), length, num_heads, device, opts).parts
    return Plan(parts)


def _fixed_factorized(pattern: FixedFactorized, length: int, num_heads: int, device: torch.device,
                      opts: PlanOptions) -> Plan | None:
    """Own block minus its summary columns, plus every summary column gathered (non-causal only)."""
    l, c = pattern.block, pattern.summary
    if pattern.causal or c == 0:
        return None
    pos = torch.arange(length)
    summary = pos % l >= l - c  # [L]
    blocks = torch.arange(-(-length // l))
    local = coarsen_pairs(torch.zeros_like(blocks), blocks, blocks, 1, l, opts.block_size, length)  # diagonal
    cols = torch.zeros(local.num_blocks, dtype=torch.bool)
    cols[pos[summary] // opts.block_size] = True
    local = _drop_full_on_columns(local, cols)

    def own_block(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        return (q_idx // l == kv_idx // l) & (kv_idx % l < l - c)

    return Plan(
        [
            Direct(block_mask_from_layout(local, own_block, device, opts.narrow)),
            GatherKeys(pos[summary].to(device)),
        ]
    )


def _longformer(pattern: Longformer, length: int, num_heads: int, device: torch.device,
                opts: PlanOptions) -> Plan | None:
    """Local window (plain arithmetic mask); global keys outside each query's window gathered; global queries
    split over key chunks.

    The window part keeps the global keys that fall inside a window, and the gathered part drops exactly
    those pairs, so neither kernel reads a per-position table: masks that index an [L] tensor made the window
    call many times slower than SlidingWindow's (benchmarks/attention/README.md, the plan overheads).
    """
    if pattern.causal or not pattern.global_tokens:
        return None
    glob = pattern.global_positions(length)  # [G] sorted
    local_pattern = type(pattern)(window=pattern.window, global_tokens=(), dilation=pattern.dilation)
    local = local_pattern.block_layout(length, opts.block_size, num_heads)
    local_mod = _local_window_mask(pattern, num_heads, device)
    positions = glob.to(device)

    def outside_window(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        return ~local_mod(b, h, q_idx, positions[kv_idx])

    return Plan(
        [
            Direct(block_mask_from_layout(local, local_mod, device, opts.narrow)),
            GatherKeys(positions, _all_pairs_block_mask(length, glob.numel(), outside_window, device, opts)),
        ],
        override=_gather_queries(glob, length, device, opts),
    )


def _local_window_mask(pattern: Longformer, num_heads: int, device: torch.device) -> MaskMod:
    """Longformer's (dilated) window as arithmetic on indices; per-head dilations from a [H] tensor."""
    dilations = pattern.dilations(num_heads)
    w = pattern.window
    if len(set(dilations)) == 1:
        d = dilations[0]

        def window(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            diff = q_idx - kv_idx
            return (diff.abs() <= w * d) & (diff % d == 0) if d > 1 else diff.abs() <= w

        return window
    per_head = torch.tensor(dilations, device=device)

    def window_per_head(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        d = per_head[h]
        diff = q_idx - kv_idx
        return (diff.abs() <= w * d) & (diff % d == 0)

    return window_per_head


def _all_pairs_block_mask(length: int, keys: int, mask_mod: MaskMod, device: torch.device, opts: PlanOptions):
    """BlockMask over [length queries, ``keys`` keys] with every block partial (mask_mod decides)."""
    layout = BlockLayout.every_block(keys, opts.block_size, -(-length // opts.block_size), full=False)
    return block_mask_from_layout(layout, mask_mod, device, opts.narrow, q_length=length)


def _bigbird(pattern: BigBird, length: int, num_heads: int, device: torch.device, opts: PlanOptions) -> Plan | None:
    """Window + random blocks off the global rows/columns; global columns gathered; global rows split."""
    b = pattern.block_size
    nb = pattern.num_blocks(length)
    if nb <= 3:
        return None
    keys = pattern.row_key_blocks(length, num_heads)[:, 1:-1]  # [H, nb - 2, 5 + r] of the non-global rows
    if pattern.random_blocks == 0:
        keys = keys[:1]  # no random blocks: one layout for every head
    heads = keys.shape[0]
    keep = (keys > 0) & (keys < nb - 1)  # drop the global columns (and the padding, nb)
    hh, rr, cc = torch.nonzero(keep, as_tuple=True)
    local = coarsen_pairs(hh, rr + 1, keys[hh, rr, cc], heads, b, opts.block_size, length)
    mask_mod = None
    if not bool(local.full[torch.arange(local.full.shape[-1]) < local.counts.unsqueeze(-1)].all()):
        base = mask_mod_on(pattern.mask_mod_for(length, num_heads), device)

        def mask_mod(bi: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            qbb, kbb = q_idx // b, kv_idx // b
            inner = (qbb > 0) & (qbb < nb - 1) & (kbb > 0) & (kbb < nb - 1)
            return base(bi, h, q_idx, kv_idx) & inner

    glob = pattern.global_positions(length)
    return Plan(
        [Direct(block_mask_from_layout(local, mask_mod, device, opts.narrow)), GatherKeys(glob.to(device))],
        override=_gather_queries(glob, length, device, opts),
    )


def coarsen_pairs(
    h: Tensor, qb: Tensor, kb: Tensor, heads: int, block: int, kernel_block: int, length: int
) -> BlockLayout:
    """Kernel-block layout of the visible pattern-block pairs (h, qb, kb) (each pattern block ``block`` long).

    A kernel block pair is touched if it overlaps a visible pattern pair, and full if the visible pairs cover
    its whole area. O(pairs) memory; int64 inputs [P].
    """
    bs = kernel_block
    nk = -(-length // bs)
    span = (block - 1) // bs + 2  # most kernel blocks a pattern block overlaps
    steps = torch.arange(span)

    def overlaps(pb: Tensor) -> tuple[Tensor, Tensor]:
        """Kernel blocks [P, span] overlapping pattern block pb and the overlap length (0 = none)."""
        start, end = pb * block, torch.clamp(pb * block + block, max=length)  # [P]
        kblk = (start // bs).unsqueeze(-1) + steps  # [P, span]
        lo = torch.maximum(kblk * bs, start.unsqueeze(-1))
        hi = torch.minimum(torch.clamp(kblk * bs + bs, max=length), end.unsqueeze(-1))
        return kblk, torch.clamp(hi - lo, min=0)

    qk, qlen = overlaps(qb)
    kk, klen = overlaps(kb)
    area = qlen.unsqueeze(-1) * klen.unsqueeze(-2)  # [P, span, span]
    key = (h.view(-1, 1, 1) * nk + qk.unsqueeze(-1)) * nk + kk.unsqueeze(-2)  # [P, span, span]
    live = area > 0
    key, area = key[live], area[live]
    uniq, inv = torch.unique(key, return_inverse=True)
    covered = torch.zeros(uniq.numel(), dtype=torch.long).scatter_add_(0, inv, area)
    uh, rest = uniq // (nk * nk), uniq % (nk * nk)
    uq, uk = rest // nk, rest % nk
    size = lambda blk: torch.clamp(blk * bs + bs, max=length) - blk * bs  # noqa: E731
    full = covered == size(uq) * size(uk)
    # Rows: unique keys are sorted by (h, q, k), so each row's entries are contiguous and ascending.
    row = uh * nk + uq
    counts = torch.bincount(row, minlength=heads * nk)
    width = max(int(counts.max()) if counts.numel() else 0, 1)
    rank = torch.arange(row.numel()) - (torch.cumsum(counts, 0) - counts)[row]
    indices = torch.zeros(heads * nk, width, dtype=torch.int32)
    fulls = torch.zeros(heads * nk, width, dtype=torch.bool)
    indices[row, rank] = uk.to(torch.int32)
    fulls[row, rank] = full
    return BlockLayout(
        length=length,
        block_size=bs,
        indices=indices.view(heads, nk, width),
        counts=counts.view(heads, nk).to(torch.int32),
        full=fulls.view(heads, nk, width),
    )


# Patterns with a plan of their own here (optional: any other pattern runs by ``_residue_split`` or one call).
_FAST_PATHS: dict[type, Callable[..., Plan | None]] = {
    Full: _full,
    Neighborhood: _neighborhood,
    Strided: _strided,
    FixedFactorized: _fixed_factorized,
    Longformer: _longformer,
    BigBird: _bigbird,
}
