"""The tile configurations the Triton kernels are autotuned over: data only (the launchers turn each table into
``triton.Config`` lists, ``launch.tile_configs``).

Band kernels (``band_triton``): rows (BLOCK_M, BLOCK_N, warps, stages, ONE_LOOP[, register cap]); the first row is
the configuration used without tuning (``triton_tune`` off). Chosen from H200 profiles (benchmarks/attention/README.md,
History): three-loop shapes that won some shape; one-loop shapes (mask only the run's end tiles; they won every short
band's forward and dQ); and shapes that fit more warps per multiprocessor (register-bound at 4 warps: 3 programs of
144-166 registers): a 128-register cap (4 programs, no spills; with 2 stages the shared memory fits four) or 8 warps
(two warpgroups share each tile).

Block-table kernels (``block_table_triton``): rows (BLOCK_M, BLOCK_N, warps, stages); tiles must divide the block
(``fitting_tiles`` drops those that do not); every table ends with 16 x 16, which divides every block the backend
takes and is used only where nothing larger fits (and by the interpreter).
"""

from __future__ import annotations

TileRow = tuple  # (BLOCK_M, BLOCK_N, num_warps, num_stages[, ONE_LOOP[, maxnreg]])

BAND_FORWARD: tuple[TileRow, ...] = (
    (64, 64, 4, 3, False), (64, 64, 4, 4, False), (64, 32, 4, 3, False), (32, 64, 4, 3, False),
    (128, 64, 8, 3, False), (64, 64, 4, 3, True), (64, 64, 4, 4, True), (64, 32, 4, 3, True),
    (64, 64, 4, 2, True, 128), (64, 64, 4, 3, True, 128), (64, 64, 8, 3, True), (64, 64, 8, 2, True),
)
BAND_DKDV: tuple[TileRow, ...] = (
    (32, 64, 4, 3, False), (32, 64, 4, 4, False), (16, 64, 4, 3, False), (32, 64, 2, 3, False),
    (64, 128, 8, 3, False), (32, 128, 8, 3, False), (64, 64, 4, 3, False), (16, 64, 4, 4, False),
    (32, 64, 4, 3, True), (16, 64, 4, 3, True), (16, 64, 4, 3, False, 128), (16, 64, 8, 3, False),
    (16, 64, 8, 4, False),
)
BAND_DQ: tuple[TileRow, ...] = (
    (64, 64, 4, 3, False), (64, 32, 4, 2, False), (64, 64, 4, 4, False), (32, 64, 4, 3, False),
    (128, 64, 8, 3, False), (64, 64, 4, 3, True), (64, 32, 4, 2, True), (64, 64, 4, 2, True, 128),
    (64, 64, 4, 3, True, 128), (64, 64, 8, 3, True), (64, 64, 8, 2, True),
)
BAND_INTERPRETER: tuple[TileRow, ...] = ((32, 32, 4, 2, True),)  # small one-loop tiles (the tests fix the others)

BLOCK_TABLE_FORWARD: tuple[TileRow, ...] = ((128, 64, 8, 3), (64, 64, 4, 3), (128, 128, 8, 3), (64, 128, 4, 3),
                                            (16, 16, 4, 2))
BLOCK_TABLE_DKDV: tuple[TileRow, ...] = ((64, 64, 4, 3), (32, 64, 4, 3), (64, 128, 8, 3), (32, 128, 8, 3),
                                         (16, 16, 4, 2))
BLOCK_TABLE_DQ: tuple[TileRow, ...] = ((64, 64, 4, 3), (128, 64, 8, 3), (64, 32, 4, 3), (128, 32, 8, 3),
                                       (16, 16, 4, 2))


def band_rows(table: tuple[TileRow, ...], interpret: bool, tune: bool) -> tuple[TileRow, ...]:
    """The rows of a band table to autotune over: the interpreter's, the first without tuning, else all."""
    return BAND_INTERPRETER if interpret else table if tune else table[:1]


def block_table_rows(table: tuple[TileRow, ...], interpret: bool) -> tuple[TileRow, ...]:
    """The rows of a block-table table: the last (small tiles) under the interpreter, else all (``fitting_tiles``
    then keeps those that divide the block)."""
    return table[-1:] if interpret else table


def fitting_tiles(configs: list, block: int, tune: bool) -> list:
    """The configurations (``triton.Config``) whose tiles divide ``block``, in order, the small last one only where
    nothing else fits; without tuning the first of them."""
    fit = [c for c in configs if block % c.kwargs["BLOCK_M"] == 0 and block % c.kwargs["BLOCK_N"] == 0]
    fit = fit[:-1] if len(fit) > 1 else fit
    return fit if tune else fit[:1]
