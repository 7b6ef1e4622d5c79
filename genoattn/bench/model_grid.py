"""The whole-model grid of issue 16: configurations, cells in priority order, the dense model's SDPA kernel.

Configurations (``CONFIGS``): ``gpu`` is the network of ``configs/gpu_sliding_window.yaml`` (6 layers, d_model 256,
8 heads, rotary positions, one token per nucleotide; read from that file, the one home of it) with each pattern
in place of its attention; ``d512`` the same at d_model 512 (head dim 64), the size of the MFU target.

Cells run in priority order, so that a run cut by its deadline still holds the target cells:
1. the MFU target: ``d512`` at the MFU window (64k), band patterns and the dense model;
2. the 1M-nt target: ``gpu``, SlidingWindow at the long window (1M);
3. ``gpu`` eagerly at windows up to the MFU window (that window first), every pattern;
4. the host-bound cells captured in CUDA graphs: ``gpu``, band patterns and the dense model, windows up to the
   MFU window;
5. ``gpu`` at the longer windows; 6. the host-bound cells under torch.compile (each compiles for a minute or so);
7. ``d512`` at the other cells; 8. other step modes elsewhere.
The dense model is pattern ``full`` on the sdpa_parts backend (one SDPA call per layer) with one SDPA kernel
forced: each kernel of ``dense_sdpa.SDPA_BACKENDS`` is run at the first dense cell of a configuration, the
fastest is kept for its other cells (``DenseChoice``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from genoattn.bench.attention import CellTimeoutError, time_limit
from genoattn.bench.dense_sdpa import SDPA_BACKENDS, fastest
from genoattn.bench.model_cost import PATTERNS, StepCost, free, log_line, measure_cell
from genoattn.models.specs import AttentionSpec

REPO = Path(__file__).resolve().parents[2]
GPU_CONFIG_FILE = REPO / "configs" / "gpu_sliding_window.yaml"
BAND_PATTERNS = ("sliding_window", "dilated_sliding_window", "neighborhood", "longformer")
DENSE = "full"
MFU_WINDOW = 65536
LONG_WINDOW = 1 << 20
DENSE_BACKEND = "sdpa_parts"  # the backend whose Full is one scaled_dot_product_attention call


def gpu_config(path: Path = GPU_CONFIG_FILE) -> dict:
    """GenomeTransformer arguments of the GPU config, without its attention pattern and backend."""
    args = yaml.safe_load(Path(path).read_text())["model"]["net"]["init_args"]
    return {key: value for key, value in args.items() if key not in ("attention", "backend")}


def default_configs() -> dict[str, dict]:
    gpu = gpu_config()
    return {"gpu": gpu, "d512": {**gpu, "d_model": 512}}


@dataclass(frozen=True)
class Cell:
    """One model x window x step mode of the grid (the dense model's SDPA kernel is chosen when it runs)."""

    config: str
    pattern: str
    window: int
    step_mode: str = "eager"


def priority(cell: Cell, mfu_window: int = MFU_WINDOW, long_window: int = LONG_WINDOW) -> tuple:
    """Sort key of a cell: the group of the module docstring, then window (the MFU window first), pattern."""
    eager = cell.step_mode == "eager"
    short = cell.window <= mfu_window
    host_bound = cell.pattern in (*BAND_PATTERNS, DENSE) and short
    if eager and cell.config == "d512" and cell.window == mfu_window and cell.pattern in (*BAND_PATTERNS, DENSE):
        group = 1
    elif eager and cell.config == "gpu" and cell.window == long_window and cell.pattern == "sliding_window":
        group = 2
    elif eager and cell.config == "gpu":
        group = 3 if short else 5
    elif cell.config == "gpu" and host_bound:
        group = 4 if cell.step_mode == "cuda_graphs" else 6
    else:
        group = 7 if eager else 8
    return (group, cell.window != mfu_window, cell.window, cell.pattern, cell.step_mode)


def grid(configs: list[str], patterns: list[str], windows: list[int], step_modes: list[str],
         mfu_window: int = MFU_WINDOW, long_window: int = LONG_WINDOW) -> list[Cell]:
    """Every configuration x pattern x window x step mode, in priority order."""
    cells = [Cell(c, p, w, m) for c in configs for p in patterns for w in windows for m in step_modes]
    return sorted(cells, key=lambda cell: priority(cell, mfu_window, long_window))


@dataclass
class DenseChoice:
    """The dense model's SDPA kernel per (configuration, step mode): every candidate until one cell has measured
    them all, then the fastest there."""

    candidates: tuple[str, ...] = tuple(SDPA_BACKENDS)
    chosen: dict[tuple[str, str], str] = field(default_factory=dict)

    def kernels(self, cell: Cell) -> tuple[str, ...]:
        key = (cell.config, cell.step_mode)
        return (self.chosen[key],) if key in self.chosen else self.candidates

    def record(self, cell: Cell, ms_per_step: dict[str, float]) -> None:
        """Keep the fastest of a cell's measured kernels (NaN: did not run) for this configuration and mode."""
        best = fastest(ms_per_step)
        if best is not None and (cell.config, cell.step_mode) not in self.chosen:
            self.chosen[(cell.config, cell.step_mode)] = best


@dataclass
class GridRun:
    """How the grid's cells run: step counts, limits, the backends (``dense_backend`` for the dense model)."""

    batch: int = 1
    steps: int = 5
    warmup: int = 2
    max_step_s: float = 20.0
    cell_timeout: float = 120.0
    deadline: float = 0.0  # seconds from the start after which no cell starts (0: none)
    dense_max_length: int = 262144
    backend: str = "auto"
    dense_backend: str = DENSE_BACKEND
    compile_backend: str = "inductor"


def run_grid(cells: list[Cell], configs: dict[str, dict], run: GridRun, device: torch.device,
             peak_tflops: float | None, specs: dict[str, AttentionSpec] | None = None,
             choice: DenseChoice | None = None, log: Callable[[str], None] = print,
             on_row: Callable[[list[StepCost]], None] | None = None) -> list[StepCost]:
    """Measure ``cells`` in order: one row per cell (the dense model: one per SDPA kernel tried). Cells after the
    deadline, dense cells above ``dense_max_length`` and windows longer than one at which the same model failed
    (OOM, slow, timeout, error) are ``skipped`` rows. ``on_row`` sees the rows after each one (to save them)."""
    choice = choice or DenseChoice()
    rows: list[StepCost] = []
    failed: dict[tuple, int] = {}
    start = time.perf_counter()
    for cell in cells:
        spec = specs[cell.pattern] if specs else PATTERNS[cell.pattern]()
        kernels: tuple[str | None, ...] = choice.kernels(cell) if cell.pattern == DENSE else (None,)
        measured: dict[str, float] = {}
        for kernel in kernels:
            key = (cell.config, cell.pattern, cell.step_mode, kernel)
            reason = _skip_reason(cell, run, failed.get(key), time.perf_counter() - start)
            if reason is not None:
                cost = StepCost(cell.pattern, cell.window, 0, run.batch, status=f"skipped: {reason}",
                                step_mode=cell.step_mode, sdpa_backend=kernel or "")
            else:
                cost = _measure(cell, spec, configs[cell.config], run, device, peak_tflops, kernel)
            cost.config = cell.config
            if not (cost.status == "ok" or cost.status.startswith(("skipped", "refused"))):
                failed[key] = min(cell.window, failed.get(key, cell.window))
            if kernel is not None:
                measured[kernel] = cost.ms_per_step if cost.ms_per_step is not None else float("nan")
            rows.append(cost)
            log(f"[{time.perf_counter() - start:5.0f}s] {log_line(cost)}")
            if on_row is not None:
                on_row(rows)
        if cell.pattern == DENSE:
            choice.record(cell, measured)
    return rows


def _skip_reason(cell: Cell, run: GridRun, failed_at: int | None, elapsed: float) -> str | None:
    if run.deadline and elapsed > run.deadline:
        return f"deadline ({run.deadline:.0f} s)"
    if cell.pattern == DENSE and cell.window > run.dense_max_length:
        return f"dense model capped at {run.dense_max_length} nt (cost grows as L^2)"
    if failed_at is not None and cell.window > failed_at:
        return f"failed at {failed_at} nt"
    return None


def _measure(cell: Cell, spec: AttentionSpec, model_args: dict, run: GridRun, device: torch.device,
             peak_tflops: float | None, kernel: str | None) -> StepCost:
    backend = run.dense_backend if cell.pattern == DENSE else run.backend
    try:
        with time_limit(run.cell_timeout):
            return measure_cell(cell.pattern, spec, cell.window, model_args, run.batch, run.steps, run.warmup,
                                device, peak_tflops, run.max_step_s, backend, cell.step_mode, kernel,
                                run.compile_backend)
    except CellTimeoutError as exc:
        free(device)
        return StepCost(cell.pattern, cell.window, 0, run.batch, status=f"timeout: {exc}", step_mode=cell.step_mode,
                        sdpa_backend=kernel or "")
