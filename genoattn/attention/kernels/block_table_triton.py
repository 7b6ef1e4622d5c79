# ruff: noqa: N803, N806 - Triton convention: upper-case pointer and compile-time constant names
"""Triton kernels for attention over a *table of whole key blocks*: every position of query block ROW0 + r
sees every position of key blocks COLS[h, r, :COUNTS[h, r]], all blocks BS positions long (L a multiple of BS),
so no tile needs a mask. BigBird's rows off the global ones have this shape (window, global and random blocks).

Forward: FlashAttention-2 style online softmax (float32, base 2) per query tile over its key blocks; stores O
and the natural-log row log-sum-exp.

Backward, from the final O and lse and delta = rowsum(dO * O) (which may include other parts of the pattern:
these kernels add only their own blocks' share):

- dQ: the forward's walk;
- dK, dV: per *item*: item t of head h is key block ITEM_KB[h, t] against the query blocks
  ITEM_ROWS[h, t, :ITEM_COUNT[h, t]]. An item with ITEM_SLOT[h, t] < 0 adds its sums to DK, DV in place (they
  hold the other parts' gradients; each such key block has one item); an item with slot s >= 0 stores float32
  sums in PARTIAL_K, PARTIAL_V [S, B, H, BS, D] (a key block that many query blocks see, split over several
  items so that no program walks them all; the caller sums the slots: deterministic, no atomics).

Table head strides may be 0 (one table for every head).
"""

from __future__ import annotations

import triton
import triton.language as tl

from genoattn.attention.kernels.launch import dot_precision

LOG2E = 1.4426950408889634
# Integer arguments not to specialise on (== 1, divisible by 16): one compiled kernel per tile configuration serves
# every length and table.
QUERY_SIDE = ["H", "L", "ROW0", "NCOLS", "stride_th"]
KEY_SIDE = ["B", "H", "L", "NITEMS", "MAXR", "stride_ih"]


@triton.jit
def _query_tile(Q, K, V, COLS, COUNTS, stride_qb, stride_qh, stride_ql, stride_kb, stride_kh, stride_kl, stride_vb,
                stride_vh, stride_vl, stride_th, H, ROW0, NCOLS, HEAD_DIM: tl.constexpr, BS: tl.constexpr,
                BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """A query-tile program's prologue (forward, dQ; BS // BLOCK_M programs per query block): batch-head, batch,
    head, query positions, head offsets, the queries [BM, D], key and value tile pointers [BN, D] at key 0, its
    row of the table and the row's block count."""
    bh = tl.program_id(1)
    b = bh // H
    h = bh % H
    pid = tl.program_id(0)
    r = pid // (BS // BLOCK_M)
    offs_m = (ROW0 + r) * BS + (pid % (BS // BLOCK_M)) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    q = tl.load(Q + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_ql + offs_d[None, :])
    k_base = K + b * stride_kb + h * stride_kh + offs_n[:, None] * stride_kl + offs_d[None, :]
    v_base = V + b * stride_vb + h * stride_vh + offs_n[:, None] * stride_vl + offs_d[None, :]
    table = COLS + h * stride_th + r * NCOLS
    count = tl.load(COUNTS + h * (stride_th // NCOLS) + r)
    return bh, b, h, offs_m, offs_d, q, k_base, v_base, table, count


@triton.jit
def _key_tile(t, table, BS: tl.constexpr, BLOCK_N: tl.constexpr):
    """First key position of tile t of a walk over the key blocks ``table`` (BS // BLOCK_N tiles per block)."""
    kb = tl.load(table + t // (BS // BLOCK_N))
    return kb * BS + (t % (BS // BLOCK_N)) * BLOCK_N


@triton.heuristics({"PRECISION": dot_precision})
@triton.jit(do_not_specialize=QUERY_SIDE)
def block_table_fwd_kernel(
    Q, K, V, O, LSE, COLS, COUNTS,
    stride_qb, stride_qh, stride_ql, stride_kb, stride_kh, stride_kl, stride_vb, stride_vh, stride_vl,
    stride_ob, stride_oh, stride_ol, stride_th,
    H, L, ROW0, NCOLS, sm_scale,
    HEAD_DIM: tl.constexpr, BS: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):
    """Grid (rows * BS // BLOCK_M, B * H); COLS [H or 1, rows, NCOLS], COUNTS [H or 1, rows] (head stride
    stride_th and stride_th // NCOLS); O like q; LSE [B, H, L] float32."""
    bh, b, h, offs_m, offs_d, q, k_base, v_base, table, count = _query_tile(
        Q, K, V, COLS, COUNTS, stride_qb, stride_qh, stride_ql, stride_kb, stride_kh, stride_kl, stride_vb, stride_vh,
        stride_vl, stride_th, H, ROW0, NCOLS, HEAD_DIM, BS, BLOCK_M, BLOCK_N)
    qk_scale = sm_scale * 1.4426950408889634
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], tl.float32)
    for t in range(0, count * (BS // BLOCK_N)):
        n0 = _key_tile(t, table, BS, BLOCK_N)
        k = tl.load(k_base + n0 * stride_kl)
        s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale  # [BM, BN], base-2 units
        m_new = tl.maximum(m_i, tl.max(s, 1))
        p = tl.math.exp2(s - m_new[:, None])
        alpha = tl.math.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_base + n0 * stride_vl)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m_i = m_new
    acc = acc / l_i[:, None]
    tl.store(O + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_ol + offs_d[None, :],
             acc.to(O.dtype.element_ty))
    tl.store(LSE + bh * L + offs_m, (m_i + tl.math.log2(l_i)) / 1.4426950408889634)


@triton.heuristics({"PRECISION": dot_precision})
@triton.jit(do_not_specialize=QUERY_SIDE)
def block_table_dq_kernel(
    Q, K, V, DO, DQ, LSE, DELTA, COLS, COUNTS,
    stride_qb, stride_qh, stride_ql, stride_kb, stride_kh, stride_kl, stride_vb, stride_vh, stride_vl,
    stride_dob, stride_doh, stride_dol, stride_dqb, stride_dqh, stride_dql, stride_th,
    H, L, ROW0, NCOLS, sm_scale,
    HEAD_DIM: tl.constexpr, BS: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):
    """dQ of the table's query rows (written, not added). Grid and tables as the forward; LSE, DELTA [B, H, L]."""
    bh, b, h, offs_m, offs_d, q, k_base, v_base, table, count = _query_tile(
        Q, K, V, COLS, COUNTS, stride_qb, stride_qh, stride_ql, stride_kb, stride_kh, stride_kl, stride_vb, stride_vh,
        stride_vl, stride_th, H, ROW0, NCOLS, HEAD_DIM, BS, BLOCK_M, BLOCK_N)
    do = tl.load(DO + b * stride_dob + h * stride_doh + offs_m[:, None] * stride_dol + offs_d[None, :])
    lse = tl.load(LSE + bh * L + offs_m) * 1.4426950408889634
    delta = tl.load(DELTA + bh * L + offs_m)
    qk_scale = sm_scale * 1.4426950408889634
    dq = tl.zeros([BLOCK_M, HEAD_DIM], tl.float32)
    for t in range(0, count * (BS // BLOCK_N)):
        n0 = _key_tile(t, table, BS, BLOCK_N)
        k = tl.load(k_base + n0 * stride_kl)
        v = tl.load(v_base + n0 * stride_vl)
        p = tl.math.exp2(tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale - lse[:, None])  # [BM, BN]
        dp = tl.dot(do, tl.trans(v), input_precision=PRECISION)
        ds = p * (dp - delta[:, None])
        dq += tl.dot(ds.to(k.dtype), k, input_precision=PRECISION)
    tl.store(DQ + b * stride_dqb + h * stride_dqh + offs_m[:, None] * stride_dql + offs_d[None, :],
             (dq * sm_scale).to(DQ.dtype.element_ty))


@triton.heuristics({"PRECISION": dot_precision})
@triton.jit(do_not_specialize=KEY_SIDE)
def block_table_dkdv_kernel(
    Q, K, V, DO, DK, DV, PARTIAL_K, PARTIAL_V, LSE, DELTA, ITEM_KB, ITEM_SLOT, ITEM_COUNT, ITEM_ROWS,
    stride_qb, stride_qh, stride_ql, stride_kb, stride_kh, stride_kl, stride_vb, stride_vh, stride_vl,
    stride_dob, stride_doh, stride_dol, stride_ih,
    B, H, L, NITEMS, MAXR, sm_scale,
    HEAD_DIM: tl.constexpr, BS: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):
    """Grid (NITEMS * BS // BLOCK_N, B * H). ITEM_KB, ITEM_SLOT, ITEM_COUNT [H or 1, NITEMS] (head stride
    stride_ih), ITEM_ROWS [H or 1, NITEMS, MAXR]; DK, DV contiguous [B, H, L, D], added to in place."""
    bh = tl.program_id(1)
    b = bh // H
    h = bh % H
    pid = tl.program_id(0)
    item = h * stride_ih + pid // (BS // BLOCK_N)
    kb = tl.load(ITEM_KB + item)
    sub = (pid % (BS // BLOCK_N)) * BLOCK_N
    offs_n = kb * BS + sub + tl.arange(0, BLOCK_N)
    offs_m = tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    k = tl.load(K + b * stride_kb + h * stride_kh + offs_n[:, None] * stride_kl + offs_d[None, :])  # [BN, D]
    v = tl.load(V + b * stride_vb + h * stride_vh + offs_n[:, None] * stride_vl + offs_d[None, :])
    q_base = Q + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_ql + offs_d[None, :]  # [BM, D]
    do_base = DO + b * stride_dob + h * stride_doh + offs_m[:, None] * stride_dol + offs_d[None, :]
    rows = ITEM_ROWS + item * MAXR
    count = tl.load(ITEM_COUNT + item)
    qk_scale = sm_scale * 1.4426950408889634
    dk = tl.zeros([BLOCK_N, HEAD_DIM], tl.float32)
    dv = tl.zeros([BLOCK_N, HEAD_DIM], tl.float32)
    for t in range(0, count * (BS // BLOCK_M)):
        m0 = _key_tile(t, rows, BS, BLOCK_M)  # the same walk over query blocks
        q = tl.load(q_base + m0 * stride_ql)
        do = tl.load(do_base + m0 * stride_dol)
        lse = tl.load(LSE + bh * L + m0 + offs_m) * 1.4426950408889634
        delta = tl.load(DELTA + bh * L + m0 + offs_m)
        p = tl.math.exp2(tl.dot(k, tl.trans(q), input_precision=PRECISION) * qk_scale - lse[None, :])  # [BN, BM]
        dv += tl.dot(p.to(do.dtype), do, input_precision=PRECISION)
        dp = tl.dot(v, tl.trans(do), input_precision=PRECISION)
        ds = p * (dp - delta[None, :])
        dk += tl.dot(ds.to(q.dtype), q, input_precision=PRECISION)
    dk = dk * sm_scale
    slot = tl.load(ITEM_SLOT + item)
    if slot < 0:
        out = bh * L * HEAD_DIM + offs_n[:, None] * HEAD_DIM + offs_d[None, :]
        tl.store(DK + out, (tl.load(DK + out).to(tl.float32) + dk).to(DK.dtype.element_ty))
        tl.store(DV + out, (tl.load(DV + out).to(tl.float32) + dv).to(DV.dtype.element_ty))
    else:
        out = ((slot * B * H + bh) * BS + sub + tl.arange(0, BLOCK_N))[:, None] * HEAD_DIM + offs_d[None, :]
        tl.store(PARTIAL_K + out, dk)
        tl.store(PARTIAL_V + out, dv)


@triton.jit(do_not_specialize=["H", "L", "CHUNKS", "ROWS"])
def edge_rows_merge_kernel(OC, LSEC, O, LSE, stride_ob, stride_oh, stride_ol, H, L, CHUNKS, ROWS,
                           HEAD_DIM: tl.constexpr, BLOCK: tl.constexpr):
    """Merge the edge rows' per-key-chunk results into O, LSE. OC [B, H * CHUNKS, 2 * ROWS, D] (normalised
    outputs, contiguous), LSEC [B, H * CHUNKS, 2 * ROWS] (natural-log log-sum-exp, float32): row r of the 2 * ROWS
    is sequence position r (first ROWS) or L - 2 * ROWS + r (last ROWS). Grid (cdiv(2 * ROWS, BLOCK), B * H)."""
    bh = tl.program_id(1)
    r = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = r < 2 * ROWS
    offs_d = tl.arange(0, HEAD_DIM)
    m = tl.full([BLOCK], float("-inf"), tl.float32)
    total = tl.zeros([BLOCK], tl.float32)
    acc = tl.zeros([BLOCK, HEAD_DIM], tl.float32)
    for c in range(0, CHUNKS):
        part = bh * CHUNKS + c  # [B, H * CHUNKS] flattened: (b * H + h) * CHUNKS + c
        lse = tl.load(LSEC + part * 2 * ROWS + r, mask=ok, other=float("-inf"))
        out = tl.load(OC + (part * 2 * ROWS + r)[:, None] * HEAD_DIM + offs_d[None, :], mask=ok[:, None], other=0.0)
        m_new = tl.maximum(m, lse)
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp(m - m_safe)
        w = tl.exp(lse - m_safe)
        total = total * alpha + w
        acc = acc * alpha[:, None] + w[:, None] * out.to(tl.float32)
        m = m_new
    safe = tl.where(total > 0, total, 1.0)
    pos = tl.where(r < ROWS, r, L - 2 * ROWS + r)
    b = bh // H
    h = bh % H
    tl.store(O + b * stride_ob + h * stride_oh + pos[:, None] * stride_ol + offs_d[None, :],
             (acc / safe[:, None]).to(O.dtype.element_ty), mask=ok[:, None])
    tl.store(LSE + bh * L + pos, m + tl.log(safe), mask=ok)
