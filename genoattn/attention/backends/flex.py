"""FlexAttention backend: BlockMasks from analytic block layouts, one torch.compile'd kernel call per plan part.

The GPU path. ``flex_plan`` decides how each pattern runs (one masked call, residue classes, globals split off);
``flex_mask`` turns block layouts into BlockMasks without ever making an L x L (or NB x NB) tensor.
Plans (with their BlockMasks) are cached per (pattern, L, heads, device, options) in a small LRU.
``torch.compile(flex_attention)`` is made once; Dynamo caches one graph per mask/score function and shape
(the recompile limit is raised so that many patterns and lengths do not fall back to eager, which would
materialise L x L scores).

Limits (``can_run`` says which applies): FlexAttention has no backward on CPU (docs/design.md, 7) and cannot
return log-sum-exp there, so on CPU it runs forward only and every pattern as a single call; head_dim >= 16;
float16/bfloat16/float32.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from genoattn.attention.backends.flex_plan import Plan, PlanOptions, build_plan
from genoattn.attention.patterns import Pattern
from genoattn.settings import current_settings

log = logging.getLogger(__name__)

SUPPORTED_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def _default_dynamic() -> bool | None:
    """The setting ``flex_dynamic`` (GENOATTN_FLEX_DYNAMIC=true/false/auto; default auto = None)."""
    return current_settings().flex_dynamic


@dataclass
class FlexConfig:
    """Tunable settings (the benchmark sweeps them; defaults measured on an H100, see benchmarks/attention)."""

    block_size: int = 128  # BlockMask block (sparse tile), a multiple of the kernel tile
    kernel_options: dict = field(default_factory=dict)  # passed to flex_attention (BLOCK_M, num_warps, ...)
    narrow: bool | None = None  # narrow BlockMask indices (None: GENOATTN_FLEX_NARROW, default off; flex_mask)
    dynamic: bool | None = field(default_factory=_default_dynamic)  # torch.compile's ``dynamic`` (None: automatic)
    cache_size: int = 8  # plans kept in the LRU (at 1M tokens a padded plan holds ~1 GiB per head layout)


config = FlexConfig()

_compiled: dict = {}  # device type -> compiled flex_attention
_plans: OrderedDict = OrderedDict()


def compiled_flex(device_type: str = "cuda"):
    """``torch.compile(flex_attention)``, made once per device type (with Dynamo's recompile limit raised).

    ``config.dynamic`` applies on CUDA; CPU always compiles static shapes (its C++ FlexAttention kernel failed
    to compile with dynamic shapes, torch 2.13).
    """
    if device_type not in _compiled:
        from torch.nn.attention.flex_attention import flex_attention

        dynamo_config = torch._dynamo.config
        for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit",
                     "accumulated_cache_size_limit"):
            if hasattr(dynamo_config, name):
                try:
                    setattr(dynamo_config, name, max(int(getattr(dynamo_config, name)), 1024))
                except (AttributeError, TypeError, ValueError):  # renamed or read-only alias
                    pass
        dynamic = config.dynamic if device_type == "cuda" else False
        _compiled[device_type] = torch.compile(flex_attention, dynamic=dynamic)
    return _compiled[device_type]


def _flex_call(q: Tensor, k: Tensor, v: Tensor, block_mask, score_mod, need_lse: bool):
    """One compiled FlexAttention call -> (out, lse or None); lse in natural log, float32."""
    flex = compiled_flex(q.device.type)
    options = dict(config.kernel_options) or None
    if not need_lse:
        return flex(q, k, v, score_mod=score_mod, block_mask=block_mask, kernel_options=options), None
    try:
        from torch.nn.attention.flex_attention import AuxRequest
    except ImportError:  # older torch: the return_lse flag
        out, lse = flex(q, k, v, score_mod=score_mod, block_mask=block_mask, return_lse=True,
                        kernel_options=options)
        return out, lse
    out, aux = flex(q, k, v, score_mod=score_mod, block_mask=block_mask, return_aux=AuxRequest(lse=True),
                    kernel_options=options)
    return out, aux.lse


def alibi_factory(slopes: Tensor | None):
    """Builds ALiBi score_mods (-slope[h] * |i - j| on original positions) for each plan part.

    factory(q_pos, kv_pos, stride, chunk): q_pos / kv_pos map kernel indices to positions (gathered rows or
    columns), ``stride`` scales index distances (d on residue classes), ``chunk = (S, Lc)`` says key index
    kv_idx of batch entry b is position (b % S) * Lc + kv_idx.
    """
    if slopes is None:
        return lambda *args: None

    def factory(q_pos, kv_pos, stride, chunk):
        def score_mod(score, b, h, q_idx, kv_idx):
            qi = q_pos[q_idx] if q_pos is not None else q_idx
            kj = kv_pos[kv_idx] if kv_pos is not None else kv_idx
            if chunk is not None:
                kj = (b % chunk[0]) * chunk[1] + kv_idx
            return score - slopes[h] * ((qi - kj).abs() * stride).to(score.dtype)

        return score_mod

    return factory


def _pattern_key(pattern: Pattern):
    try:
        hash(pattern)
        return pattern
    except TypeError:
        return ("id", id(pattern))


def plan_for(pattern: Pattern, length: int, num_heads: int, device: torch.device | str) -> Plan:
    """The cached plan (BlockMasks included) for ``pattern`` at this length, head count and device."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    opts = PlanOptions(block_size=config.block_size, narrow=config.narrow)
    allow_lse = device.type != "cpu"
    key = (_pattern_key(pattern), length, num_heads, device, opts, allow_lse)
    plan = _plans.get(key)
    if plan is not None:
        _plans.move_to_end(key)
        return plan
    plan = build_plan(pattern, length, num_heads, device, opts, allow_lse=allow_lse)
    _plans[key] = plan
    while len(_plans) > config.cache_size:
        _plans.popitem(last=False)
    return plan


def clear_cache() -> None:
    """Forget cached plans (BlockMasks)."""
    _plans.clear()


class FlexBackend:
    name = "flex"

    def can_run(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None
    ) -> str | None:
        try:
            import torch.nn.attention.flex_attention  # noqa: F401
        except ImportError as exc:  # pragma: no cover - torch < 2.5
            return f"FlexAttention is not in this torch ({torch.__version__}): {exc}"
        if not (hasattr(pattern, "block_layout") and hasattr(pattern, "mask_mod_for")):
            return f"{type(pattern).__name__} has no block_layout/mask_mod_for (not a mask pattern)"
        if q.device.type not in ("cuda", "cpu"):
            return f"FlexAttention runs on CUDA or CPU, got device {q.device}"
        if q.dtype not in SUPPORTED_DTYPES or k.dtype != q.dtype or v.dtype != q.dtype:
            return f"FlexAttention takes float16/bfloat16/float32 q, k, v of one dtype, got {q.dtype}"
        if q.shape[-1] < 16:
            return f"FlexAttention needs head_dim >= 16, got {q.shape[-1]}"
        if q.device.type == "cpu":
            if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
                return "FlexAttention has no backward on CPU (inputs require grad)"
            if alibi_slopes is not None and alibi_slopes.requires_grad and torch.is_grad_enabled():
                return "FlexAttention has no backward on CPU (alibi_slopes require grad)"
        if alibi_slopes is not None and alibi_slopes.shape != (q.shape[1],):
            return f"alibi_slopes must be [heads={q.shape[1]}], got {tuple(alibi_slopes.shape)}"
        return None

    def auto_skip_reason(self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern) -> str | None:
        """Why ``auto`` should not pick flex although it can run (CPU: a ~25 s compile per shape)."""
        if q.device.type != "cuda":
            return "auto uses FlexAttention only on CUDA (on CPU each new shape compiles for ~25 s)"
        return None

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None
    ) -> Tensor:
        plan = plan_for(pattern, q.shape[2], q.shape[1], q.device)
        slopes = None if alibi_slopes is None else alibi_slopes.to(device=q.device, dtype=torch.float32)
        out, _ = plan.run(q, k, v, _flex_call, alibi_factory(slopes))
        return out


def configure(**changes) -> FlexConfig:
    """Change ``config`` (block_size, kernel_options, narrow, dynamic); clears cached plans; returns the old one."""
    global config
    old = config
    config = replace(config, **changes)
    if "dynamic" in changes and changes["dynamic"] != old.dynamic:
        _compiled.pop("cuda", None)
    clear_cache()
    return old


backend = FlexBackend()
