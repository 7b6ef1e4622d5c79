"""Settings of a prediction run: the CLI flags of ``python -m genoattn.predict`` as one checked dataclass."""

from __future__ import annotations

from dataclasses import dataclass

from genoattn.errors import ConfigError
from genoattn.inference.model import ModelInfo

TRACK_FORMATS = ("bigwig", "bedgraph", "none")  # the per-nucleotide track file: bigWig (default), bedGraph, none


@dataclass(frozen=True)
class PredictOptions:
    """Settings of a prediction run (the CLI flags of ``python -m genoattn.predict``).

    Args:
        window: nucleotides per model window (default: the checkpoint's training window).
        context: nucleotides of overlap kept out of each side of a window (default: the model's receptive field
            when it fits, see genoattn.inference.tiling.choose_context).
        stride: window-level models: bases between windows (default: the window, no overlap).
        batch_size: windows per model call.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``auto`` (bf16 autocast on CUDA, float32 on CPU), ``32``, ``bf16`` or ``16``.
        rc: average every window with its reverse complement.
        track: per-nucleotide track file of token-level models: ``bigwig`` (default), ``bedgraph`` or ``none``.
        bed: write called intervals (token-level models).
        threshold: score at or above which a base is called.
        merge_gap: merge calls separated by at most this many bases.
        min_length: drop merged calls shorter than this.
        decimals: decimals of the track values (bigWig and bedGraph alike) and of TSV probabilities.
        min_n_run: runs of at least this many N are masked: no output, no calls, windows inside them skipped.
        pad_short: run contigs shorter than the window padded with PAD to the full window (True) or at their own
            length (False); None: as the model was trained (``ModelInfo.pad_short``).
        per_record: window-level models: one TSV row per record (mean over its windows) instead of per window.
        resume: continue an interrupted run in the same output folder.
        progress: show a progress bar (bases/s) on stderr.
        compile: torch.compile the model's blocks (experimental).
        prefetch: batches queued between the stages.
        pad_batches: pad every batch of full windows to ``batch_size`` rows (default: on CUDA, so that the
            model always sees the same shape: no recompilation, same kernels as in an interrupted run).
        cache_dir: genoattn cache for decompressed/indexed FASTA.
        regions: predict only these (``CONTIG``, ``CONTIG:START-END`` 1-based inclusive, or BED files); empty:
            every contig (genoattn.inference.regions).
    """

    window: int | None = None
    context: int | None = None
    stride: int | None = None
    batch_size: int = 8
    device: str = "auto"
    precision: str = "auto"
    rc: bool = False
    track: str = "bigwig"
    bed: bool = True
    threshold: float = 0.5
    merge_gap: int = 0
    min_length: int = 1
    decimals: int = 3
    min_n_run: int = 1
    pad_short: bool | None = None
    per_record: bool = False
    resume: bool = False
    progress: bool = True
    compile: bool = False
    prefetch: int = 4
    pad_batches: bool | None = None
    cache_dir: str | None = None
    regions: tuple[str, ...] = ()

    def check(self) -> None:
        def need(ok: bool, name: str, expected: str, value: object) -> None:
            if not ok:
                raise ConfigError(f"{name}: expected {expected}, got {value!r}")

        need(self.track in TRACK_FORMATS, "track", f"one of {TRACK_FORMATS}", self.track)
        need(self.batch_size >= 1, "batch_size", "an integer >= 1", self.batch_size)
        need(0.0 <= self.threshold <= 1.0, "threshold", "a number in [0, 1]", self.threshold)
        need(self.merge_gap >= 0, "merge_gap", "an integer >= 0", self.merge_gap)
        need(self.min_length >= 1, "min_length", "an integer >= 1", self.min_length)
        need(0 <= self.decimals <= 8, "decimals", "an integer in [0, 8]", self.decimals)
        need(self.min_n_run >= 1, "min_n_run", "an integer >= 1", self.min_n_run)
        need(self.prefetch >= 1, "prefetch", "an integer >= 1", self.prefetch)
        need(self.window is None or self.window >= 1, "window", "a positive integer", self.window)
        need(self.context is None or self.context >= 0, "context", "an integer >= 0", self.context)
        need(self.stride is None or self.stride >= 1, "stride", "a positive integer", self.stride)

    def check_outputs(self, info: ModelInfo) -> None:
        """A per-nucleotide model must write something: not both --no-track and --no-bed (the command line
        checks this; the benchmark runs the pipeline without outputs on purpose)."""
        if info.token_level and self.track == "none" and not self.bed:
            raise ConfigError("--no-track and --no-bed together leave nothing to write for a per-nucleotide "
                              "model (keep one of them)")
