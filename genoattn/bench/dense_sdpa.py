"""Dense SDPA kernels as the benchmarks' yardstick: each ``torch.nn.attention.SDPBackend`` that may run dense
attention, forced one at a time, and the best of them per shape.

The benchmark rows name them ``sdpa`` (the flash backend: the name earlier runs gave the yardstick, kept so that
their rows stay comparable), ``sdpa_cudnn`` and ``sdpa_efficient``. A backend that cannot take a shape (head
dimension, dtype, device) makes ``scaled_dot_product_attention`` raise "No available kernel" after warning why;
:func:`call_or_refusal` turns that into a refusal reason.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import Tensor

# Row name -> SDPBackend member name. The first is the historical ``sdpa`` (flash) row.
SDPA_BACKENDS: dict[str, str] = {
    "sdpa": "FLASH_ATTENTION",
    "sdpa_cudnn": "CUDNN_ATTENTION",
    "sdpa_efficient": "EFFICIENT_ATTENTION",
}
FLASH = "sdpa"
NO_KERNEL = ("No available kernel", "No viable backend")  # CUDA's message; the CPU dispatcher's

T = TypeVar("T")


def is_dense_sdpa(backend: str) -> bool:
    """Whether a benchmark backend name is one of the forced dense SDPA kernels."""
    return backend in SDPA_BACKENDS


@contextmanager
def forced(backend: str) -> Iterator[None]:
    """Run ``scaled_dot_product_attention`` on this one kernel (``backend`` a key of ``SDPA_BACKENDS``)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(getattr(SDPBackend, SDPA_BACKENDS[backend])):
        yield


def dense_attention(backend: str, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Dense (non-causal) attention of q, k, v [B, H, L, D] on the forced kernel ``backend``."""
    with forced(backend):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v)


def refusal_reason(exc: BaseException, caught: list[warnings.WarningMessage]) -> str | None:
    """Why SDPA had no kernel (from the warnings it gave before raising), or None for any other failure."""
    if not isinstance(exc, RuntimeError) or not any(text in str(exc) for text in NO_KERNEL):
        return None
    said = [str(w.message).strip() for w in caught if str(w.message).strip()]
    reason = "; ".join(dict.fromkeys(said)) or str(exc).strip().splitlines()[0]
    return f"no kernel for this shape: {reason}"[:300]


def call_or_refusal(fn: Callable[[], T]) -> tuple[T | None, str | None]:
    """(fn(), None), or (None, reason) when a forced SDPA kernel refused the shape; other errors propagate."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return fn(), None
        except RuntimeError as exc:
            reason = refusal_reason(exc, caught)
            if reason is None:
                raise
            return None, reason


def fastest(times: dict[str, float]) -> str | None:
    """The backend with the smallest finite time (None when none ran)."""
    finite = {name: t for name, t in times.items() if t == t and t != float("inf")}
    return min(finite, key=finite.__getitem__) if finite else None
