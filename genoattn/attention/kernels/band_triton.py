# ruff: noqa: N803, N806 - Triton convention: upper-case pointer and compile-time constant names
"""Triton kernels for *band* attention: each query sees one contiguous run of keys of its residue class.

The patterns covered (those with ``Pattern.local_bands``) all have this shape. Position i belongs to
residue class g = i % DIL with class index c = i // DIL; query c sees the keys of the same class with class
indices ``lo(c) .. hi(c)`` (inclusive):

- window (SlidingWindow, DilatedSlidingWindow): lo = max(c - LEFT, 0), hi = min(c + RIGHT, Lg - 1);
- neighborhood (NATTEN): lo = clamp(c - KS // 2, 0, Lg - KS), hi = lo + KS - 1.

Rows and keys of a class are read with stride DIL straight from [B, H, L, D] tensors (each row is D
contiguous values), so dilated patterns need no permuted copies and no compute is spent on other classes.
Each program walks exactly the key range its query tile needs; only the tiles at either end of the range
evaluate the band mask (the middle ones are visible to every row of the tile).

Forward: FlashAttention-2 style online softmax in float32 (base 2), storing O and the row log-sum-exp.
Backward: one kernel for dQ (which also stores delta = rowsum(dO * O)), then one for dK, dV (a program per key
tile walks the queries that see it).
Optional ALiBi: scores get ``- slope[h] * |i - j|`` with |i - j| = DIL * |c - c'|.

A band may have a hole (HAS_HOLE, HOLE >= 0): keys with |c - c'| <= HOLE are left out (Strided's residue classes, whose
nearest keys its window holds). Several bands over disjoint keys chain: with INIT the forward starts from the
output and log-sum-exp an earlier pass stored, and with ACCUMULATE the backward kernels add to its gradients.

Optional global tokens (HAS_GLOBAL, Longformer): NG positions GPOS. As columns, every query also sees them where
the pair is not already in its band (and j <= i when CAUSAL): extra key tiles of GLOBAL_BLOCK positions in the
forward and dQ kernels. As rows, they see every key (j <= i when CAUSAL): each forward program also folds its own
query rows, taken as keys, into the global rows' softmax and stores that partial result (flash-decoding style)
in slots of PM, PL [B*H, NG, SLOTS], PACC [B*H, NG, SLOTS, D] that ``band_global_rows_merge_kernel`` combines;
the dK/dV kernel adds the global rows as an extra query tile. Gradients of the few global tokens that many
programs share (the columns' dK, dV, the rows' dQ) are float32 atomic adds spread over ATOMIC_SLOTS copies.
"""

from __future__ import annotations

import triton
import triton.language as tl

from genoattn.attention.kernels.launch import dot_precision

LOG2E = 1.4426950408889634
# Compile-time switches that follow from other arguments (triton.heuristics): the launcher passes the band (KS, HOLE),
# the global-token count NG and the tensors; the switches select the code paths.
BAND_SWITCHES = {
    "NEIGHBORHOOD": lambda args: args["KS"] > 0,
    "HAS_HOLE": lambda args: args["HOLE"] >= 0,
    "HAS_GLOBAL": lambda args: args["NG"] > 0,
    "PRECISION": dot_precision,
}
# Integer arguments Triton would otherwise specialise on (== 1, divisible by 16): one compiled kernel per tile
# configuration then serves every length and band (strides stay specialised: they keep loads vectorised).
NO_SPECIALIZE = ["H", "L", "DIL", "LEFT", "RIGHT", "KS", "HOLE", "NG", "SLOTS"]


@triton.jit
def _key_bounds(c, Lg, LEFT, RIGHT, KS, NEIGHBORHOOD: tl.constexpr):
    """First and last visible key (class index) of query c."""
    if NEIGHBORHOOD:
        lo = tl.minimum(tl.maximum(c - KS // 2, 0), Lg - KS)
        hi = lo + KS - 1
    else:
        lo = tl.maximum(c - LEFT, 0)
        hi = tl.minimum(c + RIGHT, Lg - 1)
    return lo, hi


@triton.jit
def _query_bounds(n, Lg, LEFT, RIGHT, KS, NEIGHBORHOOD: tl.constexpr):
    """First and last query (class index) that sees key n (the inverse of ``_key_bounds``)."""
    if NEIGHBORHOOD:
        qlo = tl.where(n <= KS - 1, 0, n - KS // 2)
        qhi = tl.where(n >= Lg - KS, Lg - 1, n + KS // 2)
    else:
        qlo = tl.maximum(n - RIGHT, 0)
        qhi = tl.minimum(n + LEFT, Lg - 1)
    return qlo, qhi


@triton.jit
def _tile_split(first, last, full_first, full_last, BLOCK: tl.constexpr):
    """Split first..last (inclusive) into tiles of BLOCK from ``first``: the tile numbers where the tiles
    visible to every row begin and end (those inside full_first..full_last), and the number of tiles."""
    num_tiles = (last - first + BLOCK) // BLOCK
    begin = tl.minimum(tl.maximum((full_first - first + BLOCK - 1) // BLOCK, 0), num_tiles)
    end = tl.maximum(tl.minimum((full_last - first + 1) // BLOCK, num_tiles), begin)
    return begin, end, num_tiles


@triton.jit
def _hole_masks_all(t_begin, t_end, num_tiles, HAS_HOLE: tl.constexpr):
    """With a hole in the band (any tile may cut it) no tile is visible to every row: an empty full range."""
    if HAS_HOLE:
        t_begin = num_tiles
        t_end = num_tiles
    return t_begin, t_end


@triton.jit
def _phase_tiles(PHASE: tl.constexpr, t_begin, t_end, num_tiles):
    """Tile range of a walk's phase: 0 the masked tiles before t_begin, 1 the tiles every row sees, 2 the masked
    tiles from t_end (each kernel unrolls the three with ``tl.static_range``)."""
    start = t_end
    stop = num_tiles
    if PHASE == 0:
        start = 0 * t_begin
        stop = t_begin
    if PHASE == 1:
        start = t_begin
        stop = t_end
    return start, stop


@triton.jit
def _program_class(H, L, DIL):
    """(g, b * H + h, b, h, Lg) of this program: residue class, batch-head row, batch, head, class length."""
    pid = tl.program_id(1)
    g = pid % DIL
    bh = pid // DIL
    return g, bh, bh // H, bh % H, (L - g + DIL - 1) // DIL


@triton.jit
def _alibi_log2(SLOPES, h, HAS_ALIBI: tl.constexpr):
    """Head h's ALiBi slope in base-2 score units (0 without ALiBi)."""
    slope = 0.0
    if HAS_ALIBI:
        slope = tl.load(SLOPES + h).to(tl.float32) * 1.4426950408889634
    return slope


@triton.jit
def _key_run(m0, Lg, LEFT, RIGHT, KS, NEIGHBORHOOD: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """Keys seen by the query tile starting at m0: first..last, and its split into BLOCK_N tiles (masked tiles
    before t_begin and from t_end, tiles every row sees in between)."""
    m_last = tl.minimum(m0 + BLOCK_M, Lg) - 1
    first, full_last = _key_bounds(m0, Lg, LEFT, RIGHT, KS, NEIGHBORHOOD)
    full_first, last = _key_bounds(m_last, Lg, LEFT, RIGHT, KS, NEIGHBORHOOD)
    t_begin, t_end, num_tiles = _tile_split(first, last, full_first, full_last, BLOCK_N)
    return first, last, t_begin, t_end, num_tiles


@triton.jit
def _query_tile(q_bh, stride_ql, m0, g, Lg, DIL, LEFT, RIGHT, KS, HEAD_DIM: tl.constexpr,
                BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, NEIGHBORHOOD: tl.constexpr, HAS_HOLE: tl.constexpr):
    """A query-tile program's prologue (forward, dQ): class indices, valid rows, sequence positions, the queries
    [BM, D] from this batch-head's q_bh, each row's key run, and the tile's key walk (``_key_run``,
    ``_hole_masks_all``)."""
    offs_m = m0 + tl.arange(0, BLOCK_M)
    row_ok = offs_m < Lg
    rows = g + offs_m * DIL  # positions in the sequence
    q = tl.load(q_bh + rows[:, None] * stride_ql + tl.arange(0, HEAD_DIM)[None, :], mask=row_ok[:, None], other=0.0)
    row_lo, row_hi = _key_bounds(offs_m, Lg, LEFT, RIGHT, KS, NEIGHBORHOOD)
    first, last, t_begin, t_end, num_tiles = _key_run(m0, Lg, LEFT, RIGHT, KS, NEIGHBORHOOD, BLOCK_M, BLOCK_N)
    t_begin, t_end = _hole_masks_all(t_begin, t_end, num_tiles, HAS_HOLE)
    return offs_m, row_ok, rows, q, row_lo, row_hi, first, last, t_begin, t_end, num_tiles


@triton.jit
def _key_tile(q, k_base, v_base, stride_kl, stride_vl, offs_m, row_lo, row_hi, first, t, t_begin, t_end, last,
              scale_log2, alibi_log2, DIL, HOLE, HEAD_DIM: tl.constexpr, BLOCK_N: tl.constexpr,
              MASKED: tl.constexpr, ENDS: tl.constexpr, HAS_ALIBI: tl.constexpr, PRECISION: tl.constexpr,
              HAS_HOLE: tl.constexpr, V_TRANSPOSED: tl.constexpr):
    """Key tile t of a query tile's walk (forward, dQ): (scores [BM, BN] in ``_score_unit`` units, keys [D, BN],
    values [BN, D] or with V_TRANSPOSED [D, BN]). Raw q.k without ALiBi (the scale goes into one fused multiply-add
    with the softmax's subtraction); masked (-inf outside each row's run lo..hi and, with HAS_HOLE, inside its
    hole) for every tile (MASKED), none, or with ENDS (one loop over the whole run) outside t_begin..t_end - 1."""
    offs_d = tl.arange(0, HEAD_DIM)
    offs_n = first + t * BLOCK_N + tl.arange(0, BLOCK_N)
    k_at = k_base + (offs_n * DIL)[None, :] * stride_kl + offs_d[:, None]  # [D, BN]
    if V_TRANSPOSED:
        v_at = v_base + (offs_n * DIL)[None, :] * stride_vl + offs_d[:, None]  # [D, BN]
    else:
        v_at = v_base + (offs_n * DIL)[:, None] * stride_vl + offs_d[None, :]  # [BN, D]
    if MASKED or ENDS:  # an end tile may run past the last key; the tiles between hold none
        in_range = offs_n <= last
        k = tl.load(k_at, mask=in_range[None, :], other=0.0)
        if V_TRANSPOSED:
            v = tl.load(v_at, mask=in_range[None, :], other=0.0)
        else:
            v = tl.load(v_at, mask=in_range[:, None], other=0.0)
    else:
        k = tl.load(k_at)
        v = tl.load(v_at)
    s = tl.dot(q, k, input_precision=PRECISION)
    if HAS_ALIBI:
        s = s * scale_log2 - alibi_log2 * (DIL * tl.abs(offs_m[:, None] - offs_n[None, :])).to(tl.float32)
    if ENDS:
        if (t < t_begin) | (t >= t_end):
            s = _mask_scores(s, offs_m, offs_n, row_lo, row_hi, HOLE, HAS_HOLE)
    elif MASKED:
        s = _mask_scores(s, offs_m, offs_n, row_lo, row_hi, HOLE, HAS_HOLE)
    return s, k, v


@triton.jit
def _mask_scores(s, offs_m, offs_n, row_lo, row_hi, HOLE, HAS_HOLE: tl.constexpr):
    """s [BM, BN] with -inf outside each row's run lo..hi and, with HAS_HOLE, inside its hole."""
    visible = (offs_n[None, :] >= row_lo[:, None]) & (offs_n[None, :] <= row_hi[:, None])
    if HAS_HOLE:
        visible = visible & (tl.abs(offs_n[None, :] - offs_m[:, None]) > HOLE)
    return tl.where(visible, s, float("-inf"))


@triton.jit
def _score_unit(scale_log2, HAS_ALIBI: tl.constexpr):
    """What ``_key_tile``'s and ``_global_scores``' scores are multiplied by to give base-2 scores."""
    unit = scale_log2
    if HAS_ALIBI:
        unit = 1.0
    return unit


@triton.jit
def _online_softmax(acc, m_i, l_i, s, v, unit, PRECISION: tl.constexpr):
    """Fold one tile of scores s [BM, BN] (base-2 scores: s * unit, unit > 0) and values v [BN, D] into the
    running (acc, max, sum), max and sum in base-2 units."""
    m_new = tl.maximum(m_i, tl.max(s, 1) * unit)
    alpha = tl.exp2(m_i - m_new)
    p = tl.exp2(s * unit - m_new[:, None])  # one fused multiply-add per score
    l_i = l_i * alpha + tl.sum(p, 1)
    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
    return acc, m_new, l_i


@triton.jit
def _global_keys(GPOS, t, NG, GLOBAL_BLOCK: tl.constexpr):
    """Global tile t: (indices into the NG global keys, valid, their sequence positions)."""
    idx = t * GLOBAL_BLOCK + tl.arange(0, GLOBAL_BLOCK)
    ok = idx < NG
    return idx, ok, tl.load(GPOS + idx, mask=ok, other=0)


@triton.jit
def _global_scores(q, k_g, rows, pos, ok, LEFT, RIGHT, DIL, scale_log2, alibi_log2,
                   CAUSAL: tl.constexpr, HAS_ALIBI: tl.constexpr, PRECISION: tl.constexpr):
    """Scores [BM, GB] (``_score_unit`` units) of query rows (positions) against global keys k_g [D, GB] at
    positions pos; -inf where the pair is in the band (the band tiles hold it), padding, or after the query when
    CAUSAL."""
    s = tl.dot(q, k_g, input_precision=PRECISION)
    diff = rows[:, None] - pos[None, :]
    if HAS_ALIBI:
        s = s * scale_log2 - alibi_log2 * tl.abs(diff).to(tl.float32)
    in_band = (diff % DIL == 0) & (diff <= LEFT * DIL) & (-diff <= RIGHT * DIL)
    visible = ok[None, :] & ~in_band
    if CAUSAL:
        visible = visible & (diff >= 0)
    return tl.where(visible, s, float("-inf"))


@triton.jit
def _fwd_globals(acc, m_i, l_i, q, k_base, v_base, stride_kl, stride_vl, rows, GPOS, NG, LEFT, RIGHT, DIL,
                 scale_log2, alibi_log2, HEAD_DIM: tl.constexpr, GLOBAL_BLOCK: tl.constexpr, CAUSAL: tl.constexpr,
                 HAS_ALIBI: tl.constexpr, PRECISION: tl.constexpr):
    """Fold the global columns into the running softmax; k_base, v_base: this batch-head's rows."""
    offs_d = tl.arange(0, HEAD_DIM)
    for t in range(0, tl.cdiv(NG, GLOBAL_BLOCK)):
        idx, ok, pos = _global_keys(GPOS, t, NG, GLOBAL_BLOCK)
        k = tl.load(k_base + pos[None, :] * stride_kl + offs_d[:, None], mask=ok[None, :], other=0.0)  # [D, GB]
        v = tl.load(v_base + pos[:, None] * stride_vl + offs_d[None, :], mask=ok[:, None], other=0.0)  # [GB, D]
        s = _global_scores(q, k, rows, pos, ok, LEFT, RIGHT, DIL, scale_log2, alibi_log2, CAUSAL, HAS_ALIBI,
                           PRECISION)
        acc, m_i, l_i = _online_softmax(acc, m_i, l_i, s, v, _score_unit(scale_log2, HAS_ALIBI), PRECISION)
    return acc, m_i, l_i


@triton.jit
def _dq_globals(dq, q, do, lse, delta, k_base, v_base, stride_kl, stride_vl, rows, GPOS, NG, DKG, DVG, bh, slot,
                LEFT, RIGHT, DIL, scale_log2, alibi_log2, sm_scale, HEAD_DIM: tl.constexpr,
                GLOBAL_BLOCK: tl.constexpr, ATOMIC_SLOTS: tl.constexpr, CAUSAL: tl.constexpr,
                HAS_ALIBI: tl.constexpr, PRECISION: tl.constexpr):
    """dQ of the global columns, and this query tile's share of their dK, dV (float32 atomic adds into DKG, DVG
    [B*H, ATOMIC_SLOTS, NG, D])."""
    offs_d = tl.arange(0, HEAD_DIM)
    for t in range(0, tl.cdiv(NG, GLOBAL_BLOCK)):
        idx, ok, pos = _global_keys(GPOS, t, NG, GLOBAL_BLOCK)
        k_t = tl.load(k_base + pos[None, :] * stride_kl + offs_d[:, None], mask=ok[None, :], other=0.0)  # [D, GB]
        v_t = tl.load(v_base + pos[None, :] * stride_vl + offs_d[:, None], mask=ok[None, :], other=0.0)  # [D, GB]
        s = _global_scores(q, k_t, rows, pos, ok, LEFT, RIGHT, DIL, scale_log2, alibi_log2, CAUSAL, HAS_ALIBI,
                           PRECISION)
        p = tl.exp2(s * _score_unit(scale_log2, HAS_ALIBI) - lse[:, None])
        ds = p * (tl.dot(do, v_t, input_precision=PRECISION) - delta[:, None])  # [BM, GB]
        dq += tl.dot(ds.to(k_t.dtype), tl.trans(k_t), input_precision=PRECISION)
        dkg = tl.dot(tl.trans(ds.to(q.dtype)), q, input_precision=PRECISION) * sm_scale  # [GB, D]
        dvg = tl.dot(tl.trans(p.to(do.dtype)), do, input_precision=PRECISION)  # [GB, D]
        at = ((bh * ATOMIC_SLOTS + slot) * NG + idx)[:, None] * HEAD_DIM + offs_d[None, :]
        tl.atomic_add(DKG + at, dkg, mask=ok[:, None], sem="relaxed")
        tl.atomic_add(DVG + at, dvg, mask=ok[:, None], sem="relaxed")
    return dq


@triton.jit
def _fwd_global_rows(q_bh, k_bh, v_bh, stride_ql, stride_kl, stride_vl, rows, row_ok, GPOS, NG, PM, PL, PACC, bh,
                     slot, SLOTS, scale_log2, alibi_log2, HEAD_DIM: tl.constexpr, GLOBAL_BLOCK: tl.constexpr,
                     CAUSAL: tl.constexpr, HAS_ALIBI: tl.constexpr, PRECISION: tl.constexpr):
    """The global rows' softmax over this program's keys (its query rows, taken as keys): max, sum and
    unnormalised output into slot ``slot`` of PM, PL [B*H, NG, SLOTS] and PACC [B*H, NG, SLOTS, D]."""
    offs_d = tl.arange(0, HEAD_DIM)
    k_t = tl.load(k_bh + rows[None, :] * stride_kl + offs_d[:, None], mask=row_ok[None, :], other=0.0)  # [D, BM]
    v = tl.load(v_bh + rows[:, None] * stride_vl + offs_d[None, :], mask=row_ok[:, None], other=0.0)  # [BM, D]
    for t in range(0, tl.cdiv(NG, GLOBAL_BLOCK)):
        idx, ok, pos = _global_keys(GPOS, t, NG, GLOBAL_BLOCK)
        q_g = tl.load(q_bh + pos[:, None] * stride_ql + offs_d[None, :], mask=ok[:, None], other=0.0)  # [GB, D]
        s = tl.dot(q_g, k_t, input_precision=PRECISION) * scale_log2  # [GB, BM]
        diff = pos[:, None] - rows[None, :]
        if HAS_ALIBI:
            s -= alibi_log2 * tl.abs(diff).to(tl.float32)
        visible = ok[:, None] & row_ok[None, :]
        if CAUSAL:
            visible = visible & (diff >= 0)
        s = tl.where(visible, s, float("-inf"))
        m = tl.max(s, 1)
        p = tl.exp2(s - tl.where(m == float("-inf"), 0.0, m)[:, None])
        at = (bh * NG + idx) * SLOTS + slot
        tl.store(PM + at, m, mask=ok)
        tl.store(PL + at, tl.sum(p, 1), mask=ok)
        tl.store(PACC + at[:, None] * HEAD_DIM + offs_d[None, :],
                 tl.dot(p.to(v.dtype), v, input_precision=PRECISION), mask=ok[:, None])


@triton.jit(do_not_specialize=["H", "L", "NG", "SLOTS", "PER_PROGRAM"])
def band_global_rows_merge_kernel(PM, PL, PACC, QM, QL, QACC, O, LSE, GLSE, GPOS, stride_ob, stride_oh, stride_ol,
                                  H, L, NG, SLOTS, PER_PROGRAM, HEAD_DIM: tl.constexpr, BLOCK: tl.constexpr,
                                  FINAL: tl.constexpr):
    """Grid (B * H * NG, cdiv(SLOTS, PER_PROGRAM)): program (row, part) merges global row ``row``'s partial softmaxes
    in slots part * PER_PROGRAM .. of PM, PL [rows, SLOTS], PACC [rows, SLOTS, D] (PM = -inf: an empty slot).
    Not FINAL: into slot ``part`` of QM, QL, QACC (the next level's inputs). FINAL (one part): into the row's output,
    its log-sum-exp (base 2) GLSE [rows], and LSE = +inf at the row, so that the band kernels' backward gives it no
    gradient (the dK/dV kernel's global-row tile does)."""
    row = tl.program_id(0)  # bh * NG + gi
    part = tl.program_id(1)
    offs_d = tl.arange(0, HEAD_DIM)
    m_run = tl.sum(tl.zeros([1], dtype=tl.float32), 0) - 1.0e30
    l_run = tl.sum(tl.zeros([1], dtype=tl.float32), 0)
    acc = tl.zeros([HEAD_DIM], dtype=tl.float32)
    end = tl.minimum(part * PER_PROGRAM + PER_PROGRAM, SLOTS)
    for s0 in range(part * PER_PROGRAM, end, BLOCK):
        offs = s0 + tl.arange(0, BLOCK)
        m = tl.load(PM + row * SLOTS + offs, mask=offs < end, other=float("-inf"))
        used = m > float("-inf")
        m_new = tl.maximum(m_run, tl.max(m, 0))
        alpha = tl.exp2(m_run - m_new)
        w = tl.where(used, tl.exp2(m - m_new), 0.0)
        part_l = tl.load(PL + row * SLOTS + offs, mask=used, other=0.0)
        part_acc = tl.load(PACC + (row * SLOTS + offs)[:, None] * HEAD_DIM + offs_d[None, :], mask=used[:, None],
                           other=0.0)  # [BLOCK, D]
        l_run = l_run * alpha + tl.sum(w * part_l, 0)
        acc = acc * alpha + tl.sum(w[:, None] * part_acc, 0)
        m_run = m_new
    if FINAL:
        l_safe = tl.where(l_run > 0, l_run, 1.0)
        bh = row // NG
        pos = tl.load(GPOS + row % NG)
        tl.store(O + (bh // H) * stride_ob + (bh % H) * stride_oh + pos * stride_ol + offs_d,
                 (acc / l_safe).to(O.dtype.element_ty))
        tl.store(GLSE + row, m_run + tl.log2(l_safe))
        tl.store(LSE + bh * L + pos, float("inf"))
    else:
        parts = tl.num_programs(1)
        tl.store(QM + row * parts + part, m_run)
        tl.store(QL + row * parts + part, l_run)
        tl.store(QACC + (row * parts + part) * HEAD_DIM + offs_d, acc)


@triton.jit
def _dkdv_global_rows(dk, dv, k, v, q_bh, do_bh, stride_ql, stride_dol, cols, col_ok, GPOS, NG, GLSE, DELTA, DQG,
                      bh, L, slot, scale_log2, alibi_log2, sm_scale, HEAD_DIM: tl.constexpr,
                      GLOBAL_BLOCK: tl.constexpr, ATOMIC_SLOTS: tl.constexpr, CAUSAL: tl.constexpr,
                      HAS_ALIBI: tl.constexpr, PRECISION: tl.constexpr):
    """dK, dV of this key tile from the global rows (which see every key), and the tile's share of their dQ
    (float32 atomic adds into DQG [B*H, ATOMIC_SLOTS, NG, D])."""
    offs_d = tl.arange(0, HEAD_DIM)
    for t in range(0, tl.cdiv(NG, GLOBAL_BLOCK)):
        idx, ok, pos = _global_keys(GPOS, t, NG, GLOBAL_BLOCK)
        q_g = tl.load(q_bh + pos[:, None] * stride_ql + offs_d[None, :], mask=ok[:, None], other=0.0)  # [GB, D]
        do_g = tl.load(do_bh + pos[:, None] * stride_dol + offs_d[None, :], mask=ok[:, None], other=0.0)
        lse = tl.load(GLSE + bh * NG + idx, mask=ok, other=float("inf"))
        delta = tl.load(DELTA + bh * L + pos, mask=ok, other=0.0)
        s_t = tl.dot(k, tl.trans(q_g), input_precision=PRECISION)  # [BN, GB]
        diff = pos[None, :] - cols[:, None]
        if HAS_ALIBI:
            s_t = s_t * scale_log2 - alibi_log2 * tl.abs(diff).to(tl.float32)
        visible = col_ok[:, None] & ok[None, :]
        if CAUSAL:
            visible = visible & (diff >= 0)
        p_t = tl.where(visible, tl.exp2(s_t * _score_unit(scale_log2, HAS_ALIBI) - lse[None, :]), 0.0)
        dv += tl.dot(p_t.to(do_g.dtype), do_g, input_precision=PRECISION)
        ds_t = p_t * (tl.dot(v, tl.trans(do_g), input_precision=PRECISION) - delta[None, :])  # [BN, GB]
        dk += tl.dot(ds_t.to(q_g.dtype), q_g, input_precision=PRECISION)
        dq_g = tl.dot(tl.trans(ds_t.to(k.dtype)), k, input_precision=PRECISION) * sm_scale  # [GB, D]
        at = ((bh * ATOMIC_SLOTS + slot) * NG + idx)[:, None] * HEAD_DIM + offs_d[None, :]
        tl.atomic_add(DQG + at, dq_g, mask=ok[:, None], sem="relaxed")
    return dk, dv


@triton.jit
def _fwd_tiles(acc, m_i, l_i, q, k_base, v_base, stride_kl, stride_vl, offs_m, row_lo, row_hi,
               first, start, stop, t_begin, t_end, last, scale_log2, alibi_log2, DIL, HOLE,
               HEAD_DIM: tl.constexpr, BLOCK_N: tl.constexpr, MASKED: tl.constexpr, ENDS: tl.constexpr,
               HAS_ALIBI: tl.constexpr, PRECISION: tl.constexpr, HAS_HOLE: tl.constexpr):
    """Fold key tiles start..stop - 1 into the running softmax: every tile masked (MASKED), none, or with ENDS
    (one loop over the whole run) those outside t_begin..t_end - 1."""
    unit = _score_unit(scale_log2, HAS_ALIBI)
    for t in range(start, stop):
        s, k, v = _key_tile(q, k_base, v_base, stride_kl, stride_vl, offs_m, row_lo, row_hi, first, t, t_begin,
                            t_end, last, scale_log2, alibi_log2, DIL, HOLE, HEAD_DIM, BLOCK_N, MASKED, ENDS,
                            HAS_ALIBI, PRECISION, HAS_HOLE, False)
        acc, m_i, l_i = _online_softmax(acc, m_i, l_i, s, v, unit, PRECISION)
    return acc, m_i, l_i


@triton.heuristics(BAND_SWITCHES)
@triton.jit(do_not_specialize=NO_SPECIALIZE)
def band_fwd_kernel(Q, K, V, O, LSE, SLOPES, GPOS, PM, PL, PACC,
                    stride_qb, stride_qh, stride_ql, stride_kb, stride_kh, stride_kl,
                    stride_vb, stride_vh, stride_vl, stride_ob, stride_oh, stride_ol,
                    H, L, DIL, LEFT, RIGHT, KS, HOLE, NG, SLOTS, scale_log2,
                    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                    NEIGHBORHOOD: tl.constexpr, HAS_ALIBI: tl.constexpr, PRECISION: tl.constexpr,
                    ONE_LOOP: tl.constexpr, HAS_HOLE: tl.constexpr, INIT: tl.constexpr,
                    HAS_GLOBAL: tl.constexpr, CAUSAL: tl.constexpr, GLOBAL_BLOCK: tl.constexpr):
    """Grid (query tiles of the longest class, B * H * DIL). LSE: [B, H, L] float32, base 2. HAS_GLOBAL: the
    program's partial for the global rows goes to slot g * SLOTS // DIL + m0 // GLOBAL_BLOCK."""
    pid_m = tl.program_id(0)
    g, bh, b, h, Lg = _program_class(H, L, DIL)
    m0 = pid_m * BLOCK_M
    if m0 < Lg:
        offs_d = tl.arange(0, HEAD_DIM)
        offs_m, row_ok, rows, q, row_lo, row_hi, first, last, t_begin, t_end, num_tiles = _query_tile(
            Q + b * stride_qb + h * stride_qh, stride_ql, m0, g, Lg, DIL, LEFT, RIGHT, KS, HEAD_DIM, BLOCK_M,
            BLOCK_N, NEIGHBORHOOD, HAS_HOLE)
        alibi_log2 = _alibi_log2(SLOPES, h, HAS_ALIBI)
        k_base = K + b * stride_kb + h * stride_kh + g * stride_kl
        v_base = V + b * stride_vb + h * stride_vh + g * stride_vl
        acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
        m_i = tl.full([BLOCK_M], -1.0e30, dtype=tl.float32)
        l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
        if INIT:  # continue from an earlier pass over other keys: its normalised output and log-sum-exp
            prev = tl.load(LSE + bh * L + rows, mask=row_ok, other=float("-inf"))
            seen = prev > float("-inf")
            m_i = tl.where(seen, prev, m_i)
            l_i = tl.where(seen, 1.0, 0.0)
            acc = tl.load(O + b * stride_ob + h * stride_oh + rows[:, None] * stride_ol + offs_d[None, :],
                          mask=row_ok[:, None] & seen[:, None], other=0.0).to(tl.float32)
        if HAS_GLOBAL:
            _fwd_global_rows(Q + b * stride_qb + h * stride_qh, K + b * stride_kb + h * stride_kh,
                             V + b * stride_vb + h * stride_vh, stride_ql, stride_kl, stride_vl, rows, row_ok, GPOS,
                             NG, PM, PL, PACC, bh, g * (SLOTS // DIL) + m0 // GLOBAL_BLOCK, SLOTS, scale_log2,
                             alibi_log2, HEAD_DIM, GLOBAL_BLOCK, CAUSAL, HAS_ALIBI, PRECISION)
            acc, m_i, l_i = _fwd_globals(acc, m_i, l_i, q, K + b * stride_kb + h * stride_kh,
                                         V + b * stride_vb + h * stride_vh, stride_kl, stride_vl, rows, GPOS, NG,
                                         LEFT, RIGHT, DIL, scale_log2, alibi_log2, HEAD_DIM, GLOBAL_BLOCK, CAUSAL,
                                         HAS_ALIBI, PRECISION)
        if ONE_LOOP:
            acc, m_i, l_i = _fwd_tiles(acc, m_i, l_i, q, k_base, v_base, stride_kl, stride_vl, offs_m, row_lo,
                                       row_hi, first, 0, num_tiles, t_begin, t_end, last, scale_log2, alibi_log2,
                                       DIL, HOLE, HEAD_DIM, BLOCK_N, False, True, HAS_ALIBI, PRECISION, HAS_HOLE)
        else:
            for phase in tl.static_range(3):
                start, stop = _phase_tiles(phase, t_begin, t_end, num_tiles)
                acc, m_i, l_i = _fwd_tiles(acc, m_i, l_i, q, k_base, v_base, stride_kl, stride_vl, offs_m, row_lo,
                                           row_hi, first, start, stop, t_begin, t_end, last, scale_log2, alibi_log2,
                                           DIL, HOLE, HEAD_DIM, BLOCK_N, phase != 1, False, HAS_ALIBI, PRECISION,
                                           HAS_HOLE)
        l_safe = tl.where(row_ok, l_i, 1.0)
        out = acc / l_safe[:, None]
        tl.store(O + b * stride_ob + h * stride_oh + rows[:, None] * stride_ol + offs_d[None, :],
                 out.to(O.dtype.element_ty), mask=row_ok[:, None])
        tl.store(LSE + bh * L + rows, m_i + tl.log2(l_safe), mask=row_ok)


@triton.jit
def _dkdv_tiles(dk, dv, k, v, q_base, do_base, lse_base, delta_base, dq_base, stride_ql, stride_dol, stride_dql,
                offs_n, col_lo, col_hi, first, start, stop, t_begin, t_end, last, scale_log2, alibi_log2, sm_scale,
                DIL, HOLE, HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, MASKED: tl.constexpr, ENDS: tl.constexpr,
                HAS_ALIBI: tl.constexpr, PRECISION: tl.constexpr, ATOMIC_DQ: tl.constexpr, HAS_HOLE: tl.constexpr):
    """Accumulate dK, dV [BN, D] of one key tile over query tiles start..stop - 1, masked as in ``_fwd_tiles``;
    col_lo/hi: the first/last query that sees each key. ATOMIC_DQ: also add this tile's share of dQ into a float32
    buffer."""
    offs_d = tl.arange(0, HEAD_DIM)
    unit = _score_unit(scale_log2, HAS_ALIBI)
    for t in range(start, stop):
        offs_m = first + t * BLOCK_M + tl.arange(0, BLOCK_M)
        in_range = offs_m <= last
        q_at = q_base + (offs_m * DIL)[:, None] * stride_ql + offs_d[None, :]  # [BM, D]
        do_at = do_base + (offs_m * DIL)[:, None] * stride_dol + offs_d[None, :]
        if MASKED or ENDS:  # an end tile may run past the last query; the tiles between hold none
            q = tl.load(q_at, mask=in_range[:, None], other=0.0)
            do = tl.load(do_at, mask=in_range[:, None], other=0.0)
            lse = tl.load(lse_base + offs_m * DIL, mask=in_range, other=float("inf"))
            delta = tl.load(delta_base + offs_m * DIL, mask=in_range, other=0.0)
        else:
            q = tl.load(q_at)
            do = tl.load(do_at)
            lse = tl.load(lse_base + offs_m * DIL)
            delta = tl.load(delta_base + offs_m * DIL)
        # transposed scores [BN, BM]: key rows, query columns
        s_t = tl.dot(k, tl.trans(q), input_precision=PRECISION)
        if HAS_ALIBI:
            s_t = s_t * scale_log2 - alibi_log2 * (DIL * tl.abs(offs_n[:, None] - offs_m[None, :])).to(tl.float32)
        p_t = tl.exp2(s_t * unit - lse[None, :])
        if ENDS:
            if (t < t_begin) | (t >= t_end):
                p_t = _mask_probs_t(p_t, offs_m, offs_n, col_lo, col_hi, HOLE, HAS_HOLE)
        elif MASKED:
            p_t = _mask_probs_t(p_t, offs_m, offs_n, col_lo, col_hi, HOLE, HAS_HOLE)
        dv += tl.dot(p_t.to(do.dtype), do, input_precision=PRECISION)
        dp_t = tl.dot(v, tl.trans(do), input_precision=PRECISION)  # [BN, BM]
        ds_t = p_t * (dp_t - delta[None, :])
        dk += tl.dot(ds_t.to(q.dtype), q, input_precision=PRECISION)
        if ATOMIC_DQ:
            dq = tl.dot(tl.trans(ds_t.to(k.dtype)), k, input_precision=PRECISION) * sm_scale  # [BM, D]
            tl.atomic_add(dq_base + (offs_m * DIL)[:, None] * stride_dql + offs_d[None, :], dq,
                          mask=in_range[:, None], sem="relaxed")
    return dk, dv


@triton.jit
def _mask_probs_t(p_t, offs_m, offs_n, col_lo, col_hi, HOLE, HAS_HOLE: tl.constexpr):
    """Transposed probabilities [BN, BM] with 0 where query m does not see key n (outside col_lo..col_hi, or in
    the hole)."""
    visible = (offs_m[None, :] >= col_lo[:, None]) & (offs_m[None, :] <= col_hi[:, None])
    if HAS_HOLE:
        visible = visible & (tl.abs(offs_m[None, :] - offs_n[:, None]) > HOLE)
    return tl.where(visible, p_t, 0.0)


@triton.heuristics(BAND_SWITCHES)
@triton.jit(do_not_specialize=NO_SPECIALIZE)
def band_bwd_dkdv_kernel(Q, K, V, DO, LSE, DELTA, DK, DV, DQ, SLOPES, GPOS, GLSE, DQG,
                         stride_qb, stride_qh, stride_ql, stride_kb, stride_kh, stride_kl,
                         stride_vb, stride_vh, stride_vl, stride_dob, stride_doh, stride_dol,
                         stride_dkb, stride_dkh, stride_dkl, stride_dvb, stride_dvh, stride_dvl,
                         stride_dqb, stride_dqh, stride_dql,
                         H, L, DIL, LEFT, RIGHT, KS, HOLE, NG, scale_log2, sm_scale,
                         HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                         NEIGHBORHOOD: tl.constexpr, HAS_ALIBI: tl.constexpr, PRECISION: tl.constexpr,
                         ONE_LOOP: tl.constexpr, HAS_HOLE: tl.constexpr, ACCUMULATE: tl.constexpr,
                         ATOMIC_DQ: tl.constexpr, HAS_GLOBAL: tl.constexpr, CAUSAL: tl.constexpr,
                         GLOBAL_BLOCK: tl.constexpr, ATOMIC_SLOTS: tl.constexpr):
    """Grid (key tiles of the longest class, B * H * DIL). DELTA = rowsum(dO * O), float32 [B, H, L].
    ATOMIC_DQ: also accumulate dQ into DQ (float32, zeroed by the caller); otherwise DQ is unused.
    HAS_GLOBAL: the global rows (log-sum-exp GLSE [B*H, NG]) as an extra query tile; their dQ into DQG."""
    pid_n = tl.program_id(0)
    g, bh, b, h, Lg = _program_class(H, L, DIL)
    n0 = pid_n * BLOCK_N
    if n0 < Lg:
        offs_n = n0 + tl.arange(0, BLOCK_N)
        offs_d = tl.arange(0, HEAD_DIM)
        col_ok = offs_n < Lg
        cols = g + offs_n * DIL
        k = tl.load(K + b * stride_kb + h * stride_kh + cols[:, None] * stride_kl + offs_d[None, :],
                    mask=col_ok[:, None], other=0.0)
        v = tl.load(V + b * stride_vb + h * stride_vh + cols[:, None] * stride_vl + offs_d[None, :],
                    mask=col_ok[:, None], other=0.0)
        alibi_log2 = _alibi_log2(SLOPES, h, HAS_ALIBI)
        col_lo, col_hi = _query_bounds(offs_n, Lg, LEFT, RIGHT, KS, NEIGHBORHOOD)
        n_last = tl.minimum(n0 + BLOCK_N, Lg) - 1
        first, full_last = _query_bounds(n0, Lg, LEFT, RIGHT, KS, NEIGHBORHOOD)
        full_first, last = _query_bounds(n_last, Lg, LEFT, RIGHT, KS, NEIGHBORHOOD)
        t_begin, t_end, num_tiles = _tile_split(first, last, full_first, full_last, BLOCK_M)
        t_begin, t_end = _hole_masks_all(t_begin, t_end, num_tiles, HAS_HOLE)
        q_base = Q + b * stride_qb + h * stride_qh + g * stride_ql
        do_base = DO + b * stride_dob + h * stride_doh + g * stride_dol
        lse_base = LSE + bh * L + g
        delta_base = DELTA + bh * L + g
        dq_base = DQ + b * stride_dqb + h * stride_dqh + g * stride_dql
        dk = tl.zeros([BLOCK_N, HEAD_DIM], dtype=tl.float32)
        dv = tl.zeros([BLOCK_N, HEAD_DIM], dtype=tl.float32)
        if ONE_LOOP:
            dk, dv = _dkdv_tiles(dk, dv, k, v, q_base, do_base, lse_base, delta_base, dq_base, stride_ql, stride_dol,
                                 stride_dql, offs_n, col_lo, col_hi, first, 0, num_tiles, t_begin, t_end, last,
                                 scale_log2, alibi_log2, sm_scale, DIL, HOLE, HEAD_DIM, BLOCK_M, False, True,
                                 HAS_ALIBI, PRECISION, ATOMIC_DQ, HAS_HOLE)
        else:
            for phase in tl.static_range(3):
                start, stop = _phase_tiles(phase, t_begin, t_end, num_tiles)
                dk, dv = _dkdv_tiles(dk, dv, k, v, q_base, do_base, lse_base, delta_base, dq_base, stride_ql,
                                     stride_dol, stride_dql, offs_n, col_lo, col_hi, first, start, stop, t_begin,
                                     t_end, last, scale_log2, alibi_log2, sm_scale, DIL, HOLE, HEAD_DIM, BLOCK_M,
                                     phase != 1, False, HAS_ALIBI, PRECISION, ATOMIC_DQ, HAS_HOLE)
        if HAS_GLOBAL:
            dk, dv = _dkdv_global_rows(dk, dv, k, v, Q + b * stride_qb + h * stride_qh,
                                       DO + b * stride_dob + h * stride_doh, stride_ql, stride_dol, cols, col_ok,
                                       GPOS, NG, GLSE, DELTA, DQG, bh, L,
                                       pid_n % ATOMIC_SLOTS, scale_log2, alibi_log2, sm_scale, HEAD_DIM, GLOBAL_BLOCK,
                                       ATOMIC_SLOTS, CAUSAL, HAS_ALIBI, PRECISION)
        dk_at = DK + b * stride_dkb + h * stride_dkh + cols[:, None] * stride_dkl + offs_d[None, :]
        dv_at = DV + b * stride_dvb + h * stride_dvh + cols[:, None] * stride_dvl + offs_d[None, :]
        dk *= sm_scale
        if ACCUMULATE:  # add to an earlier pass's gradients
            dk += tl.load(dk_at, mask=col_ok[:, None], other=0.0).to(tl.float32)
            dv += tl.load(dv_at, mask=col_ok[:, None], other=0.0).to(tl.float32)
        tl.store(dk_at, dk.to(DK.dtype.element_ty), mask=col_ok[:, None])
        tl.store(dv_at, dv.to(DV.dtype.element_ty), mask=col_ok[:, None])


@triton.jit
def _dq_tiles(dq, q, do, lse, delta, k_base, v_base, stride_kl, stride_vl, offs_m, row_lo, row_hi,
              first, start, stop, t_begin, t_end, last, scale_log2, alibi_log2, DIL, HOLE,
              HEAD_DIM: tl.constexpr, BLOCK_N: tl.constexpr, MASKED: tl.constexpr, ENDS: tl.constexpr,
              HAS_ALIBI: tl.constexpr, PRECISION: tl.constexpr, HAS_HOLE: tl.constexpr):
    """Accumulate dQ [BM, D] of one query tile over key tiles start..stop - 1, masked as in ``_fwd_tiles``."""
    unit = _score_unit(scale_log2, HAS_ALIBI)
    for t in range(start, stop):
        s, k_t, v_t = _key_tile(q, k_base, v_base, stride_kl, stride_vl, offs_m, row_lo, row_hi, first, t, t_begin,
                                t_end, last, scale_log2, alibi_log2, DIL, HOLE, HEAD_DIM, BLOCK_N, MASKED, ENDS,
                                HAS_ALIBI, PRECISION, HAS_HOLE, True)
        p = tl.exp2(s * unit - lse[:, None])
        dp = tl.dot(do, v_t, input_precision=PRECISION)  # [BM, BN]
        ds = p * (dp - delta[:, None])
        dq += tl.dot(ds.to(k_t.dtype), tl.trans(k_t), input_precision=PRECISION)
    return dq


@triton.heuristics(BAND_SWITCHES)
@triton.jit(do_not_specialize=NO_SPECIALIZE)
def band_bwd_dq_kernel(Q, K, V, O, DO, LSE, DELTA, DQ, SLOPES, GPOS, DKG, DVG,
                       stride_qb, stride_qh, stride_ql, stride_kb, stride_kh, stride_kl,
                       stride_vb, stride_vh, stride_vl, stride_ob, stride_oh, stride_ol, stride_dob, stride_doh,
                       stride_dol, stride_dqb, stride_dqh, stride_dql,
                       H, L, DIL, LEFT, RIGHT, KS, HOLE, NG, scale_log2, sm_scale,
                       HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                       NEIGHBORHOOD: tl.constexpr, HAS_ALIBI: tl.constexpr, PRECISION: tl.constexpr,
                       ONE_LOOP: tl.constexpr, HAS_HOLE: tl.constexpr, ACCUMULATE: tl.constexpr,
                       HAS_GLOBAL: tl.constexpr, CAUSAL: tl.constexpr, GLOBAL_BLOCK: tl.constexpr,
                       ATOMIC_SLOTS: tl.constexpr):
    """Grid (query tiles of the longest class, B * H * DIL). Computes DELTA = rowsum(dO * O) (float32 [B, H, L])
    of its rows, and stores it for the dK/dV kernel (the first pass; ACCUMULATE passes reuse it). HAS_GLOBAL: DKG,
    DVG float32 [B * H, ATOMIC_SLOTS, NG, D], zeroed by the caller, receive the global columns' dK, dV."""
    pid_m = tl.program_id(0)
    g, bh, b, h, Lg = _program_class(H, L, DIL)
    m0 = pid_m * BLOCK_M
    if m0 < Lg:
        offs_d = tl.arange(0, HEAD_DIM)
        offs_m, row_ok, rows, q, row_lo, row_hi, first, last, t_begin, t_end, num_tiles = _query_tile(
            Q + b * stride_qb + h * stride_qh, stride_ql, m0, g, Lg, DIL, LEFT, RIGHT, KS, HEAD_DIM, BLOCK_M,
            BLOCK_N, NEIGHBORHOOD, HAS_HOLE)
        do = tl.load(DO + b * stride_dob + h * stride_doh + rows[:, None] * stride_dol + offs_d[None, :],
                     mask=row_ok[:, None], other=0.0)
        lse = tl.load(LSE + bh * L + rows, mask=row_ok, other=float("inf"))
        o = tl.load(O + b * stride_ob + h * stride_oh + rows[:, None] * stride_ol + offs_d[None, :],
                    mask=row_ok[:, None], other=0.0)
        delta = tl.sum(o.to(tl.float32) * do.to(tl.float32), 1)
        if not ACCUMULATE:
            tl.store(DELTA + bh * L + rows, delta, mask=row_ok)
        alibi_log2 = _alibi_log2(SLOPES, h, HAS_ALIBI)
        k_base = K + b * stride_kb + h * stride_kh + g * stride_kl
        v_base = V + b * stride_vb + h * stride_vh + g * stride_vl
        dq = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
        if HAS_GLOBAL:
            dq = _dq_globals(dq, q, do, lse, delta, K + b * stride_kb + h * stride_kh,
                             V + b * stride_vb + h * stride_vh, stride_kl, stride_vl, rows, GPOS, NG, DKG, DVG, bh,
                             pid_m % ATOMIC_SLOTS, LEFT, RIGHT, DIL, scale_log2, alibi_log2, sm_scale, HEAD_DIM,
                             GLOBAL_BLOCK, ATOMIC_SLOTS, CAUSAL, HAS_ALIBI, PRECISION)
        if ONE_LOOP:
            dq = _dq_tiles(dq, q, do, lse, delta, k_base, v_base, stride_kl, stride_vl, offs_m, row_lo, row_hi,
                           first, 0, num_tiles, t_begin, t_end, last, scale_log2, alibi_log2, DIL, HOLE, HEAD_DIM,
                           BLOCK_N, False, True, HAS_ALIBI, PRECISION, HAS_HOLE)
        else:
            for phase in tl.static_range(3):
                start, stop = _phase_tiles(phase, t_begin, t_end, num_tiles)
                dq = _dq_tiles(dq, q, do, lse, delta, k_base, v_base, stride_kl, stride_vl, offs_m, row_lo, row_hi,
                               first, start, stop, t_begin, t_end, last, scale_log2, alibi_log2, DIL, HOLE, HEAD_DIM,
                               BLOCK_N, phase != 1, False, HAS_ALIBI, PRECISION, HAS_HOLE)
        dq_at = DQ + b * stride_dqb + h * stride_dqh + rows[:, None] * stride_dql + offs_d[None, :]
        dq *= sm_scale
        if ACCUMULATE:  # add to an earlier pass's gradient
            dq += tl.load(dq_at, mask=row_ok[:, None], other=0.0).to(tl.float32)
        tl.store(dq_at, dq.to(DQ.dtype.element_ty), mask=row_ok[:, None])


@triton.jit
def band_bwd_delta_kernel(O, DO, DELTA, stride_ob, stride_oh, stride_ol, stride_dob, stride_doh, stride_dol,
                          H, L, HEAD_DIM: tl.constexpr, BLOCK: tl.constexpr):
    """DELTA[b, h, i] = sum_d O[b, h, i, d] * dO[b, h, i, d] in float32. Grid (cdiv(L, BLOCK), B * H)."""
    bh = tl.program_id(1)
    b = bh // H
    h = bh % H
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    offs_d = tl.arange(0, HEAD_DIM)
    ok = rows < L
    o = tl.load(O + b * stride_ob + h * stride_oh + rows[:, None] * stride_ol + offs_d[None, :],
                mask=ok[:, None], other=0.0)
    do = tl.load(DO + b * stride_dob + h * stride_doh + rows[:, None] * stride_dol + offs_d[None, :],
                 mask=ok[:, None], other=0.0)
    tl.store(DELTA + bh * L + rows, tl.sum(o.to(tl.float32) * do.to(tl.float32), 1), mask=ok)


@triton.jit(do_not_specialize=["H", "NG", "PLANE"])
def band_token_grads_kernel(TG, GPOS, DQ, DK, DV, stride_qb, stride_qh, stride_ql, stride_kb, stride_kh, stride_kl,
                            stride_vb, stride_vh, stride_vl, H, NG, PLANE, SLOTS: tl.constexpr,
                            HEAD_DIM: tl.constexpr):
    """Grid (B * H * NG): the global tokens' gradients from their ATOMIC_SLOTS partial sums TG [3, B*H, SLOTS, NG, D]
    (float32; planes PLANE elements apart: dK, dV of the token's column, dQ of its row): dK, dV added into DK, DV
    (the band kernels' part) and dQ written into DQ (the dQ kernel left the row out) at the token's position GPOS
    (distinct positions: one program per token and batch-head)."""
    row = tl.program_id(0)  # bh * NG + token
    bh = row // NG
    token = row % NG
    b = bh // H
    h = bh % H
    pos = tl.load(GPOS + token)
    offs_d = tl.arange(0, HEAD_DIM)
    parts = ((bh * SLOTS + tl.arange(0, SLOTS))[:, None] * NG + token) * HEAD_DIM + offs_d[None, :]  # [SLOTS, D]
    dk_at = DK + b * stride_kb + h * stride_kh + pos * stride_kl + offs_d
    dv_at = DV + b * stride_vb + h * stride_vh + pos * stride_vl + offs_d
    dq_at = DQ + b * stride_qb + h * stride_qh + pos * stride_ql + offs_d
    tl.store(dk_at, (tl.load(dk_at).to(tl.float32) + tl.sum(tl.load(TG + parts), 0)).to(DK.dtype.element_ty))
    tl.store(dv_at, (tl.load(dv_at).to(tl.float32) + tl.sum(tl.load(TG + PLANE + parts), 0)).to(DV.dtype.element_ty))
    tl.store(dq_at, tl.sum(tl.load(TG + 2 * PLANE + parts), 0).to(DQ.dtype.element_ty))
