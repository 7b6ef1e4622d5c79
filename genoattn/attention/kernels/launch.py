"""Launching Triton kernels, whatever the kernel: availability and argument checks, tile tables as
``triton.Config`` lists, hooks that keep in-place outputs right while the autotuner times configurations, autotuning
once per shape, compile-time switches from ``triton.heuristics``, and a fast launch path that skips Triton's per-call
dispatcher. Shared by the band and block-table launchers (``band_launch``, ``block_table_launch``); nothing here
names a particular kernel.

Settings (``genoattn.settings``, read when this module is imported): ``triton_interpret`` runs kernels on CPU
(tests); ``triton_tune=False`` takes the first tile configuration of each list instead of autotuning;
``triton_fast_launch=False`` sends every launch through Triton's JIT dispatcher.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from genoattn.attention.kernels.interpreter import patch_interpreter_index
from genoattn.settings import current_settings

if TYPE_CHECKING:
    from genoattn.attention.patterns import Pattern

SUPPORTED_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
INTERPRET = current_settings().triton_interpret
TUNE = current_settings().triton_tune and not INTERPRET
FAST_LAUNCH = current_settings().triton_fast_launch and not INTERPRET
CONFIG_NAMES = {"num_warps", "num_stages", "num_ctas", "maxnreg", "num_buffers_warp_spec", "num_consumer_groups",
                "reg_dec_producer", "reg_inc_consumer"}  # launch options, not kernel parameters
best_configs: dict = {}  # (kernel, shape, dtype, ...) -> the triton.Config autotuning chose
_best_kwargs: dict = {}  # the same keys -> (that config, its keyword arguments), made once, not on every launch
_compiled: dict = {}  # launch signature -> compiled kernel


def triton_missing() -> str | None:
    """Why triton cannot be used (None: it can)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return "triton is not installed"
    return None


def tensor_reason(q: Tensor, k: Tensor, v: Tensor) -> str | None:
    """Why the kernels cannot take these q, k, v (None: they can): triton, device, dtype, head_dim, size, strides."""
    missing = triton_missing()
    if missing:
        return missing
    if q.device.type != "cuda" and not INTERPRET:
        return f"needs a CUDA device (got {q.device.type}; TRITON_INTERPRET=1 runs it slowly on CPU)"
    if q.dtype not in SUPPORTED_DTYPES:
        return f"dtype {q.dtype} not supported (float16, bfloat16, float32)"
    head_dim = q.shape[-1]
    if head_dim < 16 or head_dim > 256 or head_dim & (head_dim - 1):
        return f"head_dim must be a power of two in 16..256, got {head_dim}"
    if q.numel() >= 2**31:
        return f"{q.numel():,} elements per tensor; the kernels use 32-bit offsets (< 2**31)"
    if any(t.stride(-1) != 1 for t in (q, k, v)):
        return "q, k, v need contiguous head dimensions (stride 1 in the last dim)"
    return None


def dot_precision(args: dict) -> str:
    """``triton.heuristics`` rule for a kernel's PRECISION switch (``tl.dot``'s input precision): exact float32
    products for float32 inputs ``Q``."""
    return "ieee" if args["Q"].dtype == torch.float32 else "tf32"


def tile_configs(rows: Iterable[tuple]) -> list:
    """``triton.Config`` per row (BLOCK_M, BLOCK_N, num_warps, num_stages[, ONE_LOOP[, maxnreg]]) of a tile table
    (``tiles``)."""
    import triton

    configs = []
    for block_m, block_n, warps, stages, *extra in rows:
        kwargs = {"BLOCK_M": block_m, "BLOCK_N": block_n, **({"ONE_LOOP": extra[0]} if extra else {})}
        configs.append(triton.Config(kwargs, num_warps=warps, num_stages=stages,
                                     maxnreg=extra[1] if len(extra) > 1 else None))
    return configs


class TuningHooks:
    """``pre_hook`` / ``post_hook`` for ``triton.autotune`` that make every timed run of a kernel start from the
    arguments as the caller gave them: ``names(args)`` -> (zeroed, restored), the buffers the kernel adds into
    (zeroed before each timed run and before the final run, as ``reset_to_zero``) and those it reads and rewrites
    (copied before each timed run and put back after it, as ``restore_value``). Unlike those two lists, the names
    may depend on the launch's arguments (a buffer that some launches pass only as a stand-in is left alone)."""

    def __init__(self, names: Callable[[dict], tuple[Iterable[str], Iterable[str]]]):
        self.names = names
        self.saved: dict[str, Tensor] = {}

    def pre_hook(self, args: dict, reset_only: bool = False) -> None:
        zeroed, restored = self.names(args)
        for name in zeroed:
            args[name].zero_()
        if not reset_only:
            self.saved = {name: args[name].clone() for name in restored}

    def post_hook(self, args: dict, exception: BaseException | None) -> None:
        for name, value in self.saved.items():
            args[name].copy_(value)
        self.saved = {}


def with_heuristics(kernel, args: tuple, kwargs: dict) -> tuple:
    """(the JIT function under ``triton.heuristics`` wrappers, ``kwargs`` with the values they derive)."""
    from triton.runtime import Heuristics

    while isinstance(kernel, Heuristics):
        named = {**dict(zip(kernel.arg_names, args)), **kwargs}
        kwargs = {**kwargs, **{name: rule(named) for name, rule in kernel.values.items()}}
        kernel = kernel.fn
    return kernel, kwargs


def check_arguments(kernel, args: tuple, kwargs: dict) -> None:
    """Every parameter of ``kernel`` given exactly once, counting what its heuristics derive (Triton's interpreter
    ignores unknown keywords; the GPU launcher refuses them)."""
    kernel, kwargs = with_heuristics(kernel, args, kwargs)
    names = kernel.arg_names
    given = list(names[:len(args)]) + list(kwargs)
    unknown = set(kwargs) - set(names) - CONFIG_NAMES
    missing = set(names) - set(given)
    if unknown or missing or len(args) > len(names):
        raise TypeError(f"{kernel.fn.__name__}: unknown arguments {sorted(unknown)}, missing {sorted(missing)}")


def launch(tuned, key: tuple, grid: Callable[[dict], tuple], args: tuple, kwargs: dict,
           tiles: dict | None = None) -> None:
    """Run the autotuned kernel ``tuned``. ``tiles`` (e.g. {"BLOCK_M": 32, "BLOCK_N": 16}, tests) fixes the tile
    configuration. Otherwise the first call for ``key`` goes through the autotuner (which runs the kernel once per
    configuration; its hooks keep outputs the kernel adds into right) and its winner is remembered in
    ``best_configs``; later calls launch the winner directly (the autotuner's per-call work is host time every call
    would pay)."""
    kernel = tuned.fn
    if tiles is not None:
        kwargs = {**kwargs, **tiles}
        check_arguments(kernel, args, kwargs)
        run_kernel(kernel, grid, args, kwargs)
        return
    best = best_configs.get(key)
    if best is None:
        check_arguments(kernel, args, {**kwargs, **tuned.configs[0].all_kwargs()})
        patch_interpreter_index()
        tuned[grid](*args, **kwargs)
        best_configs[key] = tuned.best_config
        return
    cached = _best_kwargs.get(key)
    if cached is None or cached[0] is not best:  # (best_configs may be set from outside: genoattn.bench.kernel_table)
        cached = _best_kwargs[key] = (best, best.all_kwargs())
    run_kernel(kernel, grid, args, {**kwargs, **cached[1]})


CONFIG_KEYS = ("num_warps", "num_stages", "num_ctas", "maxnreg")  # launch options that change the binary
_tensor_prefix: dict = {}  # id(kernel) -> how many leading arguments are tensors (None: tensors come later too)


def _signature(kernel, values: list, kwargs: dict) -> tuple:
    """What the compiled binary depends on: the kernel, each tensor's dtype, 16-byte alignment and device, the other
    argument values (ints: Triton specialises on strides), the launch options. Our kernels take their tensors
    first: only that prefix is converted (the rest goes in as is), the kernel's first launch says how long it is."""
    kernel_id = id(kernel)
    if kernel_id not in _tensor_prefix:
        count = next((i for i, v in enumerate(values) if not isinstance(v, Tensor)), len(values))
        _tensor_prefix[kernel_id] = None if any(isinstance(v, Tensor) for v in values[count:]) else count
    count = _tensor_prefix[kernel_id]
    config = [kwargs.get(key) for key in CONFIG_KEYS]
    if count is not None:
        try:
            return (kernel_id, *[(t.dtype, t.data_ptr() % 16 == 0, t.get_device()) for t in values[:count]],
                    *values[count:], *config)
        except AttributeError:  # something other than a tensor in the prefix (None): convert one by one
            pass
    return (kernel_id, *[(v.dtype, v.data_ptr() % 16 == 0, v.get_device()) if isinstance(v, Tensor) else v
                         for v in values], *config)


def run_kernel(kernel, grid, args: tuple, kwargs: dict) -> None:
    """Launch a Triton JIT kernel (under ``triton.heuristics`` wrappers or not). With ``FAST_LAUNCH``, a launch
    whose signature was seen before goes straight to the compiled binary, skipping the JIT dispatcher's per-call
    argument binding (host time a call would pay every time; the benchmark's History); ``_signature`` says when a
    launch is the same. Triton has no public API for this: the compiled kernel's ``run`` is called as Triton's own
    launcher calls it."""
    kernel, kwargs = with_heuristics(kernel, args, kwargs)
    if not FAST_LAUNCH:
        patch_interpreter_index()
        kernel[grid](*args, **kwargs)
        return
    names = kernel.arg_names
    try:
        values = [*args, *[kwargs[name] for name in names[len(args):]]]
    except KeyError:  # a missing argument: Triton's own launch path reports it
        kernel[grid](*args, **kwargs)
        return
    signature = _signature(kernel, values, kwargs)
    compiled = _compiled.get(signature)
    if compiled is None:
        compiled = kernel[grid](*args, **kwargs)
        if hasattr(compiled, "result"):  # asynchronous compilation
            compiled = compiled.result()
        _compiled[signature] = compiled
        return
    size = grid(kwargs) if callable(grid) else grid  # grids read tile sizes, which are keyword arguments
    stream = torch.cuda.current_stream(args[0].device).cuda_stream
    compiled.run(size[0], size[1] if len(size) > 1 else 1, size[2] if len(size) > 2 else 1, stream,
                 compiled.function, compiled.packed_metadata, None, None, None, *values)


class TritonBackend:
    """What the Triton backends share: ``auto`` leaves them out under the interpreter."""

    def auto_skip_reason(self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern) -> str | None:
        return "the Triton interpreter is for tests only" if q.device.type != "cuda" else None
