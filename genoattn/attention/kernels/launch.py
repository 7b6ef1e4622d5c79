"""Launching the Triton attention kernels: availability, the interpreter, argument checks, autotuning once per
shape, and a fast launch path that skips Triton's per-call dispatcher. Shared by the triton_band and
triton_blocks backends.

Settings (``genoattn.settings``, read when this module is imported): ``triton_interpret`` runs kernels on CPU
(tests); ``triton_tune=False`` takes the first tile configuration of each list instead of autotuning;
``triton_fast_launch=False`` sends every launch through Triton's JIT dispatcher.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from genoattn.settings import current_settings

SUPPORTED_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
INTERPRET = current_settings().triton_interpret
TUNE = current_settings().triton_tune and not INTERPRET
FAST_LAUNCH = current_settings().triton_fast_launch and not INTERPRET
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


def precision(q: Tensor) -> str:
    """``tl.dot``'s input precision: exact float32 products for float32 inputs."""
    return "ieee" if q.dtype == torch.float32 else "tf32"


def patch_interpreter_index() -> None:
    """Triton 3.6's interpreter turns a loop bound into ``int(array)``; NumPy >= 2.4 refuses that for the
    1-element arrays its scalars are. Read the single element instead (interpreter only)."""
    if not INTERPRET:
        return
    from triton.runtime import interpreter

    if getattr(interpreter, "_genoattn_index_patch", False):
        return
    original = interpreter._patch_lang_tensor

    def patched(tensor, scope):
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))

    interpreter._patch_lang_tensor = patched
    interpreter._genoattn_index_patch = True


def check_arguments(kernel, args: tuple, kwargs: dict) -> None:
    """Every parameter of ``kernel`` given exactly once (Triton's interpreter ignores unknown keywords; the GPU
    launcher refuses them)."""
    names = kernel.arg_names
    given = list(names[:len(args)]) + list(kwargs)
    config_names = {"num_warps", "num_stages", "num_ctas", "maxnreg", "num_buffers_warp_spec",
                    "num_consumer_groups", "reg_dec_producer", "reg_inc_consumer"}
    unknown = set(kwargs) - set(names) - config_names
    missing = set(names) - set(given)
    if unknown or missing or len(args) > len(names):
        raise TypeError(f"{kernel.fn.__name__}: unknown arguments {sorted(unknown)}, missing {sorted(missing)}")


def launch(tuned, key: tuple, grid: Callable[[dict], tuple], args: tuple, kwargs: dict,
           tiles: dict | None = None) -> bool:
    """Run the autotuned kernel ``tuned``. ``tiles`` (e.g. {"BLOCK_M": 32, "BLOCK_N": 16}, tests) fixes the tile
    configuration. Otherwise the first call for ``key`` goes through the autotuner (which runs the kernel once per
    configuration) and its winner is remembered in ``best_configs``; later calls launch the winner directly (the
    autotuner's per-call work is host time every call would pay). True when this call autotuned: outputs the
    kernel adds into are then wrong and the caller reruns it."""
    kernel = tuned.fn
    if tiles is not None:
        kwargs = {**kwargs, **tiles}
        check_arguments(kernel, args, kwargs)
        run_kernel(kernel, grid, args, kwargs)
        return False
    best = best_configs.get(key)
    if best is None:
        check_arguments(kernel, args, {**kwargs, **tuned.configs[0].all_kwargs()})
        tuned[grid](*args, **kwargs)
        best_configs[key] = tuned.best_config
        return True
    cached = _best_kwargs.get(key)
    if cached is None or cached[0] is not best:  # (best_configs may be set from outside: kernel_table --sweep)
        cached = _best_kwargs[key] = (best, best.all_kwargs())
    run_kernel(kernel, grid, args, {**kwargs, **cached[1]})
    return False


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
    """Launch a Triton JIT kernel. With ``FAST_LAUNCH``, a launch whose signature was seen before goes straight to
    the compiled binary, skipping the JIT dispatcher's per-call argument binding (measured ~0.07 ms of host time
    per forward call at 64k on an H200, where the band forward kernel itself takes 0.27 ms); ``_signature`` says
    when a launch is the same."""
    if not FAST_LAUNCH:
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


def output_delta(out: Tensor, grad_out: Tensor) -> Tensor:
    """delta = rowsum(dO * O), float32 [B, H, L], the attention backward's per-row term (one small kernel)."""
    from genoattn.attention.kernels.band_triton import band_bwd_delta_kernel

    batch, heads, length, head_dim = out.shape
    delta = torch.empty(batch, heads, length, device=out.device, dtype=torch.float32)
    run_kernel(band_bwd_delta_kernel, (-(-length // 64), batch * heads),
               (out, grad_out, delta, *out.stride()[:3], *grad_out.stride()[:3], heads, length),
               {"HEAD_DIM": head_dim, "BLOCK": 64})
    return delta


class TritonBackend:
    """What the Triton backends share: ``auto`` leaves them out under the interpreter."""

    def auto_skip_reason(self, q: Tensor, k: Tensor, v: Tensor, pattern: object) -> str | None:
        return "the Triton interpreter is for tests only" if q.device.type != "cuda" else None
