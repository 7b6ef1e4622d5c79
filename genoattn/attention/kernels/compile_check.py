"""Compile the Triton attention kernels (band, block table) for a GPU architecture without a GPU (Triton's own
compiler and ptxas).

    python -m genoattn.attention.kernels.compile_check [--arch 90]

Catches what Triton's CPU interpreter does not: type and layout errors of the compiled path. Each kernel is
compiled for a few settings of its compile-time switches (global tokens, one loop, neighborhood, ALiBi, dtype).
Variants name their module: ``band_triton`` or ``block_table_triton``.
"""

from __future__ import annotations

import argparse
import itertools
import time

FLOAT_ARGS = {"scale_log2", "sm_scale"}
INT_ARGS = {"B", "H", "L", "DIL", "LEFT", "RIGHT", "KS", "HOLE", "NG", "SLOTS", "PER_PROGRAM", "PLANE",  # and strides
            "ROW0", "NCOLS", "NITEMS", "MAXR", "CHUNKS", "ROWS"}
INT_POINTERS = {"GPOS", "COLS", "COUNTS", "ITEM_KB", "ITEM_SLOT", "ITEM_COUNT", "ITEM_ROWS"}
DATA_POINTERS = {"Q", "K", "V", "O", "DO", "DQ", "DK", "DV", "OC"}


def signature(kernel, constexprs: dict, dtype: str) -> dict:
    """Triton type strings for each argument of ``kernel``: data pointers of ``dtype``, other pointers float32."""
    types = {}
    for name in kernel.arg_names:
        if name in constexprs:
            types[name] = "constexpr"
        elif name.startswith("stride_") or name in INT_ARGS:
            types[name] = "i32"
        elif name in FLOAT_ARGS:
            types[name] = "fp32"
        elif name in INT_POINTERS:
            types[name] = "*i32"
        else:
            types[name] = f"*{dtype}" if name in DATA_POINTERS else "*fp32"
    return types


def variants() -> list[tuple[str, str, dict, str]]:
    """(module, kernel name, constexprs, data dtype) to compile."""
    base = {"HEAD_DIM": 64, "BLOCK_M": 64, "BLOCK_N": 64, "PRECISION": "tf32", "GLOBAL_BLOCK": 16}
    band: list[tuple[str, dict, str]] = []
    for (glob, one, neighborhood, alibi, chained), dtype in itertools.product(
            [(False, False, False, False, False), (True, True, False, True, False), (False, True, True, False, True)],
            ["bf16"]):
        switches = {"HAS_GLOBAL": glob, "ONE_LOOP": one, "NEIGHBORHOOD": neighborhood, "HAS_ALIBI": alibi,
                    "CAUSAL": glob, "HAS_HOLE": chained}
        band.append(("band_fwd_kernel", {**base, **switches, "INIT": chained}, dtype))
        band.append(("band_bwd_dq_kernel", {**base, **switches, "ATOMIC_SLOTS": 8, "ACCUMULATE": chained}, dtype))
        band.append(("band_bwd_dkdv_kernel", {**base, **switches, "ATOMIC_SLOTS": 8, "ATOMIC_DQ": glob,
                                             "ACCUMULATE": chained}, dtype))
    band.append(("band_fwd_kernel", {**base, "HAS_GLOBAL": True, "ONE_LOOP": False, "NEIGHBORHOOD": False,
                                    "HAS_ALIBI": False, "CAUSAL": False, "PRECISION": "ieee", "INIT": False,
                                    "HAS_HOLE": False}, "fp32"))
    for final in (False, True):
        band.append(("band_global_rows_merge_kernel", {"HEAD_DIM": 64, "BLOCK": 64, "FINAL": final}, "bf16"))
    band.append(("band_bwd_delta_kernel", {"HEAD_DIM": 64, "BLOCK": 64}, "bf16"))
    band.append(("band_token_grads_kernel", {"HEAD_DIM": 64, "SLOTS": 8}, "bf16"))
    out: list[tuple[str, str, dict, str]] = [("band_triton", *variant) for variant in band]
    tiles = {"HEAD_DIM": 64, "BS": 128, "PRECISION": "tf32", "BLOCK_M": 64, "BLOCK_N": 64}
    for name in ("block_table_fwd_kernel", "block_table_dq_kernel", "block_table_dkdv_kernel"):
        out.append(("block_table_triton", name, tiles, "bf16"))
    out.append(("block_table_triton", "block_table_fwd_kernel", {**tiles, "PRECISION": "ieee", "BLOCK_N": 128},
                "fp32"))
    out.append(("block_table_triton", "edge_rows_merge_kernel", {"HEAD_DIM": 64, "BLOCK": 32}, "bf16"))
    return out


def compile_all(arch: int = 90, verbose: bool = False) -> int:
    """Compile every variant for sm_``arch``; the number compiled (raises on the first failure)."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from triton.runtime import Heuristics

    from genoattn.attention.kernels import band_triton, block_table_triton

    modules = {"band_triton": band_triton, "block_table_triton": block_table_triton}
    target = GPUTarget("cuda", arch, 32)
    count = 0
    for module, name, constexprs, dtype in variants():
        kernel = getattr(modules[module], name)
        if isinstance(kernel, Heuristics):  # the JIT function under triton.heuristics
            kernel = kernel.fn
        start = time.perf_counter()
        source = ASTSource(fn=kernel, signature=signature(kernel, constexprs, dtype), constexprs=constexprs)
        triton.compile(source, target=target, options={"num_warps": 4, "num_stages": 3})
        count += 1
        if verbose:
            print(f"{name} {dtype} {constexprs}: {time.perf_counter() - start:.1f} s", flush=True)
    return count


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", type=int, default=90)
    print(f"{compile_all(parser.parse_args().arch, verbose=True)} kernels compiled")
