"""``attend(q, k, v, pattern, backend="auto")``: one entry point over every backend.

``auto`` tries the backends in ``BACKEND_ORDER`` (the Triton kernels triton_band and triton_blocks on CUDA,
sdpa_parts, flex on CUDA, xformers, blocked, reference) and takes the first whose ``can_run`` answers None; a
backend may also decline auto use with ``auto_skip_reason`` (flex on CPU, where every new shape compiles for ~25 s;
the Triton backends under the interpreter).
Why each faster backend was skipped is logged at DEBUG, and
the first choice for each (pattern, device, dtype) at INFO. A backend named explicitly that cannot run raises
BackendUnavailableError with its reason.
"""

from __future__ import annotations

import importlib
import logging

from torch import Tensor

from genoattn.attention.patterns import Pattern
from genoattn.errors import BackendUnavailableError, InputError

log = logging.getLogger(__name__)
_announced: set = set()  # (pattern, device type, dtype, backend) already logged at INFO

# Fastest first (measured on an H200, benchmarks/attention/README.md): ``auto`` takes the first that can run.
# Modules are imported lazily.
BACKEND_ORDER: tuple[str, ...] = (
    "triton_band", "triton_blocks", "sdpa_parts", "flex", "xformers", "blocked", "reference")


def get_backend(name: str):
    """Import and return the backend object named ``name``."""
    if name not in BACKEND_ORDER:
        raise InputError(f"unknown attention backend {name!r}; expected 'auto' or one of {BACKEND_ORDER}")
    try:
        module = importlib.import_module(f"genoattn.attention.backends.{name}")
    except ModuleNotFoundError as exc:  # a backend module not written yet, or its optional dependency
        raise BackendUnavailableError(f"attention backend {name!r} is not available: {exc}") from exc
    return module.backend


def _check_qkv(q: Tensor, k: Tensor, v: Tensor) -> None:
    if q.dim() != 4 or k.shape != q.shape or v.shape[:-1] != q.shape[:-1]:
        raise InputError(
            "attend expects q, k, v shaped [batch, heads, length, head_dim] with equal shapes, got "
            f"q={tuple(q.shape)}, k={tuple(k.shape)}, v={tuple(v.shape)}"
        )


def choose_backend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    pattern: Pattern,
    backend: str = "auto",
    alibi_slopes: Tensor | None = None,
):
    """Return the backend object that will run; explain refusals (log for auto, raise when named)."""
    if backend != "auto":
        chosen = get_backend(backend)
        reason = chosen.can_run(q, k, v, pattern, alibi_slopes)
        if reason is not None:
            raise BackendUnavailableError(f"backend {backend!r} cannot run {pattern}: {reason}")
        return chosen
    refusals = []
    for name in BACKEND_ORDER:
        try:
            candidate = get_backend(name)
        except BackendUnavailableError as exc:
            refusals.append(f"{name}: {exc}")
            continue
        reason = candidate.can_run(q, k, v, pattern, alibi_slopes)
        if reason is None and hasattr(candidate, "auto_skip_reason"):
            reason = candidate.auto_skip_reason(q, k, v, pattern)
        if reason is None:
            if refusals:
                log.debug("attend(%s) chose %s; skipped %s", pattern, name, "; ".join(refusals))
            _announce(pattern, q, name, refusals)
            return candidate
        refusals.append(f"{name}: {reason}")
    raise BackendUnavailableError(f"no attention backend can run {pattern}: " + "; ".join(refusals))


def _announce(pattern: Pattern, q: Tensor, name: str, refusals: list[str]) -> None:
    """Log the automatic choice once per (pattern, device type, dtype) at INFO."""
    try:
        key: tuple[object, ...] = (pattern, q.device.type, q.dtype, name)
        hash(key)
    except TypeError:
        key = (id(pattern), q.device.type, q.dtype, name)
    if key in _announced:
        return
    _announced.add(key)
    skipped = [r.split(":", 1)[0] for r in refusals]
    log.info("attention backend for %s on %s/%s: %s%s", pattern, q.device.type, str(q.dtype).replace("torch.", ""),
             name, f" (skipped {', '.join(skipped)}; DEBUG logs say why)" if skipped else "")


def attend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    pattern: Pattern,
    backend: str = "auto",
    alibi_slopes: Tensor | None = None,
) -> Tensor:
    """Attention of q over k, v restricted to ``pattern``; q, k, v and the result are [B, H, L, D].

    Scale is 1/sqrt(head_dim). ``backend`` is 'auto' (fastest that can run) or a name in BACKEND_ORDER.
    ``alibi_slopes`` (float [H]) adds the bidirectional ALiBi bias -slope[h] * |i - j| to the scores.
    """
    _check_qkv(q, k, v)
    chosen = choose_backend(q, k, v, pattern, backend, alibi_slopes)
    return chosen.attend(q, k, v, pattern, alibi_slopes)
