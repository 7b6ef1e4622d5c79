"""GPU cost of every attention pattern x backend: time, peak memory, useful FLOPs, ratio to the best dense SDPA.

    python -m genoattn.bench.attention --out benchmarks/attention/run
        [--lengths 16384 65536 262144] [--head-dims 64 128] [--modes fwd fwdbwd] [--cell-timeout 90]
        [--deadline 540]

For each pattern (``PATTERNS``) x backend (every backend of ``BACKEND_ORDER`` that can run it, reference and
blocked at small L only; Performer as its own module; the dense SDPA kernels ``sdpa`` (flash), ``sdpa_cudnn`` and
``sdpa_efficient``, each forced alone, on Full only) x head dim x length x mode (forward; forward + backward),
B=1, H=8, bf16:
- ``ms``: median of timed repeats (CUDA events around each call, calls queued back to back as in training and
  in ``triton.testing.do_bench``; a warm-up call first, so compilation and BlockMask construction stay out;
  BlockMasks are cached per pattern and length as in training); ``ms_sync``: the same with the host waiting
  after every call, so a short call also pays its launch latency (the figure earlier runs reported as ``ms``);
- ``peak_gib``: torch.cuda.max_memory_allocated during one call, q/k/v (and their gradients) included;
- ``pairs``: visible (query, key) pairs summed over heads (``attention_pairs``);
  useful FLOPs = 4 * D * pairs forward; forward + backward counted as 2.5 x forward (the issue's convention;
  FlashAttention counts the backward alone as 2.5 x, so its fwd+bwd figures would be 3.5/2.5 of ours);
  Performer's are its own arithmetic, 8 * L * M * D per head (not comparable to the mask patterns);
- ``ratio_best_sdpa``: useful TFLOP/s over the **fastest** dense SDPA kernel's (``best_sdpa`` names it) at the
  same head dim, length and mode, measured in the same run; ``ratio_sdpa``: the same over the flash kernel's
  (the yardstick of earlier runs, kept for comparison). Dense SDPA above ``--sdpa-max-length`` (default 262,144:
  at 1M tokens one fwd+bwd takes ~10 s) is not run; ratios there use the figure at the largest length run
  (``sdpa_length``, ``best_sdpa_length``).
OOM, timeouts and refusals are recorded as rows (``status``), never crashes; a dense SDPA kernel that has no
kernel for a shape (head dim, dtype, device) is a ``refused`` row with PyTorch's reason. Results go to OUT/results.csv,
OUT/results.json, OUT/summary.md and the plots OUT/attention.png (see plot_attention).
Cells run in priority order (64k first, then the 1M fwd+bwd targets, then the rest), so a ``--deadline``
that cuts the run short still leaves the figures the targets need.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import signal
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch

from genoattn.attention import patterns as P
from genoattn.attention.dispatch import BACKEND_ORDER
from genoattn.bench.attention_pairs import performer_flops, visible_pairs
from genoattn.bench.dense_sdpa import FLASH, SDPA_BACKENDS, call_or_refusal, dense_attention, is_dense_sdpa
from genoattn.bench.provenance import provenance

AttentionKind = P.Pattern | Literal["performer"]  # a mask pattern, or the Performer (no mask)

PATTERNS: dict[str, Callable[[], AttentionKind]] = {
    "full": lambda: P.Full(),
    "sliding_window": lambda: P.SlidingWindow(256),
    "dilated": lambda: P.DilatedSlidingWindow(128, dilation=2),
    "strided": lambda: P.Strided(256),
    "fixed": lambda: P.FixedFactorized(128, summary=8),
    "longformer": lambda: P.Longformer(256, global_tokens=(0,)),
    "bigbird": lambda: P.BigBird(block_size=128, random_blocks=3, seed=0),
    "neighborhood": lambda: P.Neighborhood(kernel_size=255, dilation=2),
    "performer": lambda: "performer",
}
SMALL_PATTERNS: dict[str, Callable[[], AttentionKind]] = {  # --small: parameters that fit tiny lengths (dry runs)
    "full": lambda: P.Full(),
    "sliding_window": lambda: P.SlidingWindow(8),
    "dilated": lambda: P.DilatedSlidingWindow(4, dilation=2),
    "strided": lambda: P.Strided(8),
    "fixed": lambda: P.FixedFactorized(16, summary=2),
    "longformer": lambda: P.Longformer(8, global_tokens=(0,)),
    "bigbird": lambda: P.BigBird(block_size=8, random_blocks=1, seed=0),
    "neighborhood": lambda: P.Neighborhood(kernel_size=9, dilation=2),
    "performer": lambda: "performer",
}
TARGETS_1M = ("sliding_window", "longformer", "bigbird", "neighborhood", "performer")
BACKENDS = (*BACKEND_ORDER, *SDPA_BACKENDS)  # the dense SDPA kernels: the yardsticks (Full only)
KERNELS = ("triton_band", "triton_blocks", "flex", "sdpa_parts", "module", *SDPA_BACKENDS)  # run first


def mask_pattern(name: str) -> P.Pattern:
    """``PATTERNS[name]()`` where it is a mask pattern (every name but performer)."""
    pattern = PATTERNS[name]()
    if pattern == "performer":
        raise ValueError(f"{name}: the Performer has no mask pattern")
    return pattern


@dataclass
class Row:
    pattern: str
    key: str
    backend: str
    length: int
    mode: str
    head_dim: int = 64
    status: str = "ok"  # ok | refused | oom | timeout | error | skipped
    detail: str = ""
    ms: float = float("nan")  # GPU time per call, calls queued back to back (see time_call)
    ms_sync: float = float("nan")  # the same with the host waiting after every call (launch latency included)
    peak_gib: float = float("nan")
    pairs: int = 0
    useful_tflop: float = float("nan")
    useful_tflops: float = float("nan")
    ratio_sdpa: float = float("nan")  # to the flash kernel (row ``sdpa``)
    ratio_sdpa_sync: float = float("nan")  # the ratio from the ms_sync timings
    sdpa_length: int = 0
    ratio_best_sdpa: float = float("nan")  # to the fastest dense SDPA kernel of this head dim, length, mode
    best_sdpa: str = ""  # that kernel's row name
    best_sdpa_length: int = 0
    repeats: int = 0


class CellTimeoutError(Exception):
    pass


@contextmanager
def time_limit(seconds: float):
    """Raise CellTimeout in the main thread after ``seconds`` (checked between Python operations)."""
    if seconds <= 0 or not hasattr(signal, "SIGALRM"):
        yield
        return

    def handler(signum, frame):
        raise CellTimeoutError(f"over {seconds:.0f} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, rep_ms: float, max_repeats: int = 50,
              synchronise: bool = False) -> tuple[float, int]:
    """Median milliseconds of ``fn`` over repeats filling about ``rep_ms`` (at least 3), after one warm call.

    On CUDA each call is bracketed by events. Default: calls are queued back to back and the host waits once at
    the end (as ``triton.testing.do_bench`` does), so each pair of events times the call on the GPU's timeline,
    the way it runs in training, where the host queues work ahead; host time shows only if the host cannot keep
    the GPU busy. ``synchronise``: the host waits after every call, so each call also pays its own launch latency
    (the cost of a single isolated call)."""
    fn()
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    estimate = (time.perf_counter() - t0) * 1e3
    repeats = int(min(max_repeats, max(3, rep_ms / max(estimate, 1e-3))))
    if device.type != "cuda":
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times), repeats
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(repeats)]
    for start, end in events:
        start.record()
        fn()
        end.record()
        if synchronise:
            end.synchronize()
    torch.cuda.synchronize(device)
    return statistics.median(start.elapsed_time(end) for start, end in events), repeats


def make_runner(backend: str, pattern: object, q, k, v, module=None) -> Callable[[], torch.Tensor]:
    """A zero-argument forward for this cell."""
    if is_dense_sdpa(backend):
        return lambda: dense_attention(backend, q, k, v)
    if module is not None:
        return lambda: module(q, k, v)
    from genoattn.attention.dispatch import get_backend

    chosen = get_backend(backend)
    return lambda: chosen.attend(q, k, v, pattern)


def refusal(backend: str, pattern: object, q, k, v, length: int, args) -> str | None:
    """Why this backend x pattern cell is not run (None: run it)."""
    dense = isinstance(pattern, P.Full) and not pattern.causal
    if is_dense_sdpa(backend):
        if not dense:
            return "dense SDPA is the yardstick (non-causal Full only)"
        if length > args.sdpa_max_length:
            return f"dense SDPA capped at L <= {args.sdpa_max_length} (cost grows as L^2)"
        return None
    if dense and length > args.sdpa_max_length:
        return f"Full attention capped at L <= {args.sdpa_max_length} like dense SDPA"
    if backend == "reference" and length > args.reference_max_length:
        return f"reference capped at L <= {args.reference_max_length} (dense L x L mask)"
    if backend == "blocked" and length > args.blocked_max_length:
        return f"blocked capped at L <= {args.blocked_max_length} (pure-PyTorch path, slow)"
    from genoattn.attention.dispatch import get_backend
    from genoattn.errors import BackendUnavailableError

    try:
        chosen = get_backend(backend)
    except BackendUnavailableError as exc:
        return str(exc)
    return chosen.can_run(q, k, v, pattern)


def run_cell(row: Row, pattern: AttentionKind, args, device: torch.device, dtype: torch.dtype) -> Row:
    b, h, d, length = 1, args.heads, row.head_dim, row.length
    grad = row.mode == "fwdbwd"
    shape = (b, h, length, d)
    q, k, v = (torch.randn(shape, device=device, dtype=dtype, requires_grad=grad) for _ in range(3))
    module = None
    if pattern == "performer":
        from genoattn.attention.performer import Performer

        module = Performer(d, num_features=args.performer_features, seed=0).to(device)
        row.pairs = 0
        fwd_flops = performer_flops(length, h, d, args.performer_features, b)
    else:
        row.pairs = visible_pairs(pattern, length, h) * b
        fwd_flops = 4 * d * row.pairs
    row.useful_tflop = fwd_flops * (2.5 if grad else 1.0) / 1e12
    try:
        reason = None if module is not None else refusal(row.backend, pattern, q, k, v, length, args)
    except Exception as exc:  # noqa: BLE001 - a backend's can_run failing is a result too, never a crash
        row.status, row.detail = "error", f"can_run: {type(exc).__name__}: {str(exc).strip()[:300]}"
        return row
    if reason is not None:
        row.status, row.detail = "refused", reason
        return row
    forward = make_runner(row.backend, pattern, q, k, v, module)
    grad_out = torch.randn(shape, device=device, dtype=dtype) if grad else None

    def call():
        out = forward()
        if grad:
            for t in (q, k, v):
                t.grad = None
            out.backward(grad_out)

    try:
        with time_limit(args.cell_timeout):
            _, refused = call_or_refusal(call)  # compile, build the BlockMasks (cached afterwards)
            if refused is not None:
                row.status, row.detail = "refused", refused
                return row
            sync(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            call()
            sync(device)
            if device.type == "cuda":
                row.peak_gib = torch.cuda.max_memory_allocated(device) / 2**30
            row.ms, row.repeats = time_call(call, device, args.rep_ms)
            if device.type == "cuda":
                row.ms_sync = time_call(call, device, args.rep_ms / 3, synchronise=True)[0]
        row.useful_tflops = row.useful_tflop / (row.ms / 1e3)
    except torch.OutOfMemoryError as exc:
        row.status, row.detail = "oom", str(exc).splitlines()[0][:200]
    except CellTimeoutError as exc:
        row.status, row.detail = "timeout", str(exc)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a row
        row.status = "error"
        row.detail = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"
        if args.verbose:
            traceback.print_exc()
    return row


Cell = tuple[str, str, int, str, int]  # (pattern name, backend, L, mode, head dim)


def cell_order(names: list[str], backends: list[str], lengths: list[int], modes: list[str],
               head_dims: Sequence[int] = (64,)) -> list[Cell]:
    """Every cell, 64k first (ratio target; the first head dim before the others), then the 1M fwd+bwd targets,
    then the rest; within each group the kernels (dense SDPA yardsticks included) before the slow paths."""
    dense = [b for b in backends if is_dense_sdpa(b)]
    cells: list[Cell] = []
    for head_dim in head_dims:
        for length in lengths:
            for mode in modes:
                cells += [("full", backend, length, mode, head_dim) for backend in dense]
                for name in names:
                    if name == "performer":  # its own module, whatever the backends
                        cells.append((name, "module", length, mode, head_dim))
                        continue
                    cells += [(name, b, length, mode, head_dim) for b in backends if not is_dense_sdpa(b)]

    def priority(cell: Cell) -> tuple:
        name, backend, length, mode, head_dim = cell
        first = 0 if length == 65536 else 1 if (length == 1 << 20 and mode == "fwdbwd" and name in TARGETS_1M
                                                  and backend in KERNELS) else 2
        return (first, backend not in KERNELS, head_dims.index(head_dim), length, mode)

    return sorted(cells, key=priority)


def _reference(rows: list[Row], at: Row) -> Row | None:
    """The row among ``rows`` (ok dense rows of one kind) at ``at``'s head dim and mode and length, else at the
    largest shorter length measured; None when there is none."""
    pool = [r for r in rows if (r.head_dim, r.mode) == (at.head_dim, at.mode) and r.length <= at.length]
    return max(pool, key=lambda r: r.length) if pool else None


def fill_ratios(rows: list[Row]) -> None:
    """Each row's ratio to the flash row (``ratio_sdpa``) and to the fastest dense SDPA row (``ratio_best_sdpa``)
    of the same head dim and mode, at the same length or the largest shorter one measured."""
    dense = [r for r in rows if is_dense_sdpa(r.backend) and r.status == "ok"]
    flash = [r for r in dense if r.backend == FLASH]
    best: dict[tuple[int, int, str], Row] = {}
    for r in dense:
        key = (r.head_dim, r.length, r.mode)
        if key not in best or r.useful_tflops > best[key].useful_tflops:
            best[key] = r
    for r in rows:
        if r.status != "ok" or r.pattern == "performer":
            continue
        ref = _reference(flash, r)
        if ref is not None:
            r.ratio_sdpa = r.useful_tflops / ref.useful_tflops
            r.ratio_sdpa_sync = ref.ms_sync / r.ms_sync * r.useful_tflop / ref.useful_tflop
            r.sdpa_length = ref.length
        top = _reference(list(best.values()), r)
        if top is not None:
            r.ratio_best_sdpa = r.useful_tflops / top.useful_tflops
            r.best_sdpa, r.best_sdpa_length = top.backend, top.length


def write_results(rows: list[Row], out: Path, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    fill_ratios(rows)
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(rows[0]).keys()))
        writer.writeheader()
        for r in rows:
            writer.writerow(asdict(r))
    clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(r).items()} for r in rows]
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": clean}, indent=1))


def summary_markdown(rows: list[Row], meta: dict) -> str:
    """Tables the README quotes: per head dim and mode, each pattern x backend's useful TFLOP/s, its ratio to the
    fastest dense SDPA kernel (and to flash), ms and peak memory per length. Dense SDPA rows show refusals too."""
    lines = [f"Device: {meta['device']}; torch {meta['torch']}; B=1, H={meta['heads']}, D in {meta['head_dims']}, "
             f"{meta['dtype']}; flex config {meta['flex_config']}", ""]
    lengths = sorted({r.length for r in rows})
    for head_dim in sorted({r.head_dim for r in rows}):
        for mode in ("fwd", "fwdbwd"):
            lines += [f"### D={head_dim}, {mode}: useful TFLOP/s (% of the best dense SDPA kernel; % of flash), "
                      "ms, GiB", "",
                      "| pattern | backend | " + " | ".join(f"L={x:,}" for x in lengths) + " |",
                      "|---|---|" + "---|" * len(lengths)]
            mine = [r for r in rows if (r.head_dim, r.mode) == (head_dim, mode)]
            keys = sorted({(r.pattern, r.backend) for r in mine}, key=lambda t: (not is_dense_sdpa(t[1]), t))
            for pattern, backend in keys:
                cells = [_summary_cell([r for r in mine if (r.pattern, r.backend, r.length) == (pattern, backend, x)])
                         for x in lengths]
                if any(c not in ("", "refused") for c in cells) or (is_dense_sdpa(backend) and any(cells)):
                    lines.append(f"| {pattern} | {backend} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def _summary_cell(match: list[Row]) -> str:
    if not match:
        return ""
    r = match[0]
    if r.status != "ok":
        return r.status

    def pct(x: float) -> str:
        return "-" if math.isnan(x) else f"{100 * x:.0f}%"

    ratio = "" if math.isnan(r.ratio_best_sdpa) else f" ({pct(r.ratio_best_sdpa)}; {pct(r.ratio_sdpa)})"
    return f"{r.useful_tflops:.0f}{ratio}, {r.ms:.2f} ms, {r.peak_gib:.1f} GiB"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/attention/run"))
    p.add_argument("--lengths", type=int, nargs="+", default=[16384, 65536, 262144],
                   help="add 1048576 for the 1M targets (dense SDPA is capped by --sdpa-max-length)")
    p.add_argument("--modes", nargs="+", default=["fwd", "fwdbwd"], choices=["fwd", "fwdbwd"])
    p.add_argument("--patterns", nargs="+", default=list(PATTERNS), choices=list(PATTERNS))
    p.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--head-dims", type=int, nargs="+", default=[64, 128],
                   help="head dimensions (the Triton kernels take powers of two in 16..256)")
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    p.add_argument("--device", default="cuda")
    p.add_argument("--performer-features", type=int, default=256)
    p.add_argument("--reference-max-length", type=int, default=4096)
    p.add_argument("--blocked-max-length", type=int, default=16384)
    p.add_argument("--sdpa-max-length", type=int, default=262144)
    p.add_argument("--rep-ms", type=float, default=150.0, help="target timed milliseconds per cell")
    p.add_argument("--cell-timeout", type=float, default=120.0, help="seconds per cell, compile included")
    p.add_argument("--deadline", type=float, default=0.0, help="stop starting cells after this many seconds")
    p.add_argument("--block-size", type=int, default=128, help="flex BlockMask block")
    p.add_argument("--kernel-options", type=json.loads, default={}, help="flex kernel_options as JSON")
    p.add_argument("--dynamic", choices=["keep", "auto", "true", "false"], default="keep",
                   help="torch.compile dynamic shapes for flex (true: one compile serves every length; keep: "
                   "the flex config's, set by GENOATTN_FLEX_DYNAMIC)")
    p.add_argument("--small", action="store_true", help="pattern parameters for tiny dry-run lengths")
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    from genoattn.attention.backends import flex

    changes = {"block_size": args.block_size, "kernel_options": args.kernel_options}
    if args.dynamic != "keep":
        changes["dynamic"] = {"auto": None, "true": True, "false": False}[args.dynamic]
    flex.configure(**changes)  # keeps the compiled function unless ``dynamic`` changes
    factories = SMALL_PATTERNS if args.small else PATTERNS
    command = " ".join(["python -m genoattn.bench.attention", *(argv if argv is not None else sys.argv[1:])])
    meta = provenance(device, command) | {
        "torch": torch.__version__, "python": sys.version.split()[0], "heads": args.heads, "head_dims": args.head_dims,
        "dtype": args.dtype, "flex_config": {"block_size": args.block_size, "kernel_options": args.kernel_options,
                                             "dynamic": flex.config.dynamic},
        "flops_convention": "fwd = 4*D*visible pairs; fwd+bwd = 2.5 x fwd; Performer: 8*L*M*D per head",
    }
    rows: list[Row] = []
    said: set = set()
    start = time.perf_counter()
    cells = cell_order(args.patterns, args.backends, args.lengths, args.modes, args.head_dims)
    for name, backend, length, mode, head_dim in cells:
        pattern = factories[name]()
        row = Row(pattern=name, key=str(pattern), backend=backend, length=length, mode=mode, head_dim=head_dim)
        if args.deadline and time.perf_counter() - start > args.deadline:
            row.status, row.detail = "skipped", "deadline"
        else:
            row = run_cell(row, pattern, args, device, dtype)
            flex.clear_cache()  # padded BlockMasks at 1M tokens hold GiBs: keep one cell's at a time
            if device.type == "cuda":
                torch.cuda.empty_cache()  # the cell's tensors are gone once run_cell returns
        rows.append(row)
        if row.status != "refused" or (name, row.backend) not in said:
            said.add((name, row.backend))
            print(f"[{time.perf_counter() - start:6.0f}s] {name:15s} {row.backend:14s} D={head_dim:<3d} "
                  f"L={length:<8d} {mode:7s} "
                  f"{row.status:8s} {row.ms:9.3f} ms {row.peak_gib:6.2f} GiB {row.useful_tflops:7.1f} TFLOP/s "
                  f"{row.detail[:90]}", flush=True)
        write_results(rows, args.out, meta)
    write_results(rows, args.out, meta)
    (args.out / "summary.md").write_text(summary_markdown(rows, meta))
    try:
        from genoattn.bench.plot_attention import plot

        plot(args.out / "results.json", args.out / "attention.png")
    except Exception as exc:  # noqa: BLE001 - a missing plot must not lose the measurements
        print(f"plot failed: {exc}", file=sys.stderr)
    print(summary_markdown(rows, meta))
    return rows


if __name__ == "__main__":
    main()
