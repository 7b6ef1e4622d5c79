"""One training step of a token-classification model, run three ways for the model benchmark.

- ``eager``: forward (bf16 autocast on CUDA), cross-entropy, backward, AdamW step, gradients set to None;
- ``compile``: the same with the network compiled in place (``nn.Module.compile``: the state dict keeps its
  names). The Triton backends enter the graph as the custom ops of ``genoattn.attention.kernels.ops``, flex as
  its own higher-order op; ``backend`` is torch.compile's (``inductor`` on the GPU, ``aot_eager`` in CPU tests);
- ``cuda_graphs``: the whole step (forward, backward, optimizer) captured once in a CUDA graph after warm-up
  steps on a side stream, then replayed, so the host launches one graph instead of every kernel. Inputs are
  static tensors; the optimizer is built with ``capturable=True``; autocast's weight cache is off (the
  documented conditions of whole-network capture). A step that synchronises with the host cannot be captured:
  the capture error is the result. Needs CUDA: elsewhere :class:`StepModeUnavailableError` says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import Tensor, nn

from genoattn.bench.dense_sdpa import forced
from genoattn.errors import GenoattnError

STEP_MODES = ("eager", "compile", "cuda_graphs")


class StepModeUnavailableError(GenoattnError, RuntimeError):
    """This way of running the step cannot run here (e.g. CUDA graphs on the CPU)."""


def graph_refusal(device: torch.device) -> str | None:
    """Why the step cannot be captured in a CUDA graph on ``device`` (None: it can be tried)."""
    if device.type != "cuda":
        return f"CUDA graphs need a CUDA device, got {device.type}"
    return None


@contextmanager
def _dense_kernel(sdpa_backend: str | None) -> Iterator[None]:
    with forced(sdpa_backend) if sdpa_backend else nullcontext():
        yield


def make_step(net: nn.Module, ids: Tensor, labels: Tensor, mode: str = "eager", sdpa_backend: str | None = None,
              compile_backend: str = "inductor", warmup: int = 3) -> Callable[[], Any]:
    """A zero-argument training step of ``net`` on the fixed batch ``ids``/``labels`` [B, L], run as ``mode``.

    ``sdpa_backend`` (a key of ``dense_sdpa.SDPA_BACKENDS``) forces the dense SDPA kernel of the forward.
    For ``cuda_graphs`` this runs ``warmup`` steps and the capture before returning the replay."""
    if mode not in STEP_MODES:
        raise ValueError(f"step mode {mode!r}: expected one of {STEP_MODES}")
    device = ids.device
    if mode == "cuda_graphs" and (reason := graph_refusal(device)) is not None:
        raise StepModeUnavailableError(reason)
    if mode == "compile":
        net.compile(backend=compile_backend)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4, capturable=mode == "cuda_graphs")
    on_cuda = device.type == "cuda"

    def body() -> None:  # forward, backward, update; gradients left in place
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_cuda, cache_enabled=mode != "cuda_graphs"):
            with _dense_kernel(sdpa_backend):
                logits = net(ids)  # [B, L, 2]
        loss = nn.functional.cross_entropy(logits.float().flatten(0, 1), labels.flatten())
        loss.backward()
        optimizer.step()

    def step() -> None:
        body()
        optimizer.zero_grad(set_to_none=True)

    if mode != "cuda_graphs":
        return step
    return capture(body, step, device, warmup, before=lambda: optimizer.zero_grad(set_to_none=True))


def capture(body: Callable[[], None], step: Callable[[], None], device: torch.device, warmup: int,
            before: Callable[[], None]) -> Callable[[], Any]:
    """Warm up with ``step`` on a side stream, call ``before`` (gradients to None, so that the captured backward
    writes them afresh), capture ``body`` in a CUDA graph; return its replay."""
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            step()
    torch.cuda.current_stream(device).wait_stream(stream)
    before()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        body()
    return graph.replay
