"""What prediction needs to know about a network: task, classes, window, tokenizer, alignment, receptive field.

``load_model(path)`` rebuilds the network of a genoattn checkpoint (through
:func:`genoattn.lit.checkpoint.load_for_inference`) and returns it with a :class:`ModelInfo`.
Any ``nn.Module`` with ``forward(input_ids [B, L])`` works with the engine; a module that is not a
``GenomeTransformer`` may say how far its outputs look with a ``receptive_field`` attribute (nucleotides on
each side, None for unbounded) and its length granularity with ``patch_size``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from genoattn.errors import InputError
from genoattn.tasks import PREDICT_TASKS

TOKENIZERS: tuple[str, ...] = ("nucleotide", "kmer")

# Class names and reverse-complement class permutations of the per-nucleotide label modes (genoattn.data.labels):
# class c on one strand is class PERMUTATION[c] on the other.
_CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "strand": ("none", "plus", "minus"),
    "frame": ("none", "plus1", "plus2", "plus3", "minus1", "minus2", "minus3"),
}
_RC_PERMUTATIONS: dict[str, tuple[int, ...]] = {
    "binary": (0, 1),
    "strand": (0, 2, 1),
    "frame": (0, 4, 5, 6, 1, 2, 3),
}


@dataclass(frozen=True)
class ModelInfo:
    """Facts about a network that tiling, RC averaging and the writers need.

    Args:
        task: token_classification, sequence_classification or regression.
        num_classes: output classes (targets for regression).
        window: nucleotides per window the model was trained on (the default inference window).
        tokenizer: ``nucleotide`` or ``kmer``.
        k: nucleotides per token (1 for the nucleotide tokenizer).
        label_mode: per-nucleotide label mode of token classification (binary, strand, frame) or None.
        feature_types: annotation feature types of the positive class (names the binary class).
        patch_size: tokens per transformer position (window lengths and starts are multiples of k * patch_size).
        receptive_field: nucleotides on each side that one output depends on (None: unbounded or unknown).
        source: where the model came from (checkpoint path), for messages and fingerprints.
        pad_short: training showed contigs shorter than the window padded to it (``short_contigs: pad``), so
            prediction does the same by default.
    """

    task: str
    num_classes: int
    window: int
    tokenizer: str = "nucleotide"
    k: int = 1
    label_mode: str | None = "binary"
    feature_types: tuple[str, ...] = ()
    patch_size: int = 1
    receptive_field: int | None = None
    source: str = ""
    pad_short: bool = False

    def __post_init__(self) -> None:
        where = f"{self.source}: " if self.source else ""
        if self.task not in PREDICT_TASKS:
            raise InputError(f"{where}checkpoint task {self.task!r} cannot be used for prediction "
                             f"(expected one of {', '.join(PREDICT_TASKS)})")
        if self.tokenizer not in TOKENIZERS:
            raise InputError(f"{where}checkpoint tokenizer {self.tokenizer!r} is unknown (expected {TOKENIZERS})")
        if self.num_classes < 1 or (self.task != "regression" and self.num_classes < 2):
            raise InputError(f"{where}checkpoint has num_classes={self.num_classes}, which a {self.task} "
                             "model cannot have")
        if self.window < 1 or self.k < 1 or self.patch_size < 1:
            raise InputError(f"{where}checkpoint has window={self.window}, k={self.k}, "
                             f"patch_size={self.patch_size}; expected positive integers")

    @property
    def token_level(self) -> bool:
        """True when the model gives one output per token (stitched into per-nucleotide tracks)."""
        return self.task == "token_classification"

    @property
    def align(self) -> int:
        """Window lengths and starts are multiples of this many nucleotides (k-mer size * patch size)."""
        return self.k * self.patch_size

    @property
    def class_names(self) -> tuple[str, ...]:
        """One name per output (used in file names, BED name columns and TSV headers)."""
        if self.task == "regression":
            return ("value",) if self.num_classes == 1 else tuple(f"value{i}" for i in range(self.num_classes))
        if self.task == "token_classification" and self.label_mode in _CLASS_NAMES:
            names = _CLASS_NAMES[self.label_mode]
            if len(names) == self.num_classes:
                return names
        if self.num_classes == 2:
            positive = "_".join(self.feature_types) if self.feature_types else "positive"
            return ("background", _safe_name(positive))
        return tuple(f"class{i}" for i in range(self.num_classes))

    @property
    def rc_permutation(self) -> tuple[int, ...] | None:
        """Class permutation between strands for RC averaging (None: classes are strand-agnostic)."""
        if self.task != "token_classification" or self.label_mode not in _RC_PERMUTATIONS:
            return None
        perm = _RC_PERMUTATIONS[self.label_mode]
        return perm if len(perm) == self.num_classes and perm != tuple(range(self.num_classes)) else None


def _safe_name(name: str) -> str:
    """A class name usable in file names (letters, digits, '-', '_', '.'; others become '_')."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "positive"


def receptive_field(net: nn.Module, k: int = 1) -> int | None:
    """Nucleotides on each side of a position that its output can depend on (an upper bound; None: unbounded).

    GenomeTransformer: the attention radii of all layers in tokens, times the patch size, plus the stem conv
    and the patch upsampling (each at most a patch plus the stem kernel). Other modules: their
    ``receptive_field`` attribute (in nucleotides), else None.
    """
    encoder = getattr(net, "encoder", None)
    specs = getattr(encoder, "specs", None)
    if specs is None:
        value = getattr(net, "receptive_field", None)
        return None if value is None else int(value)
    radii = [spec.layer_radius() for spec in specs]  # each attention spec's reach in tokens (None: unbounded)
    if any(r is None for r in radii):
        return None
    patch = int(getattr(encoder, "patch_size", 1))
    tokens = sum(radii)
    stem = getattr(encoder, "stem", None)
    extra = 0
    if stem is not None:
        kernel = getattr(stem, "kernel_size", None) or stem.conv.kernel_size[0]
        extra += int(kernel) + patch  # the stem conv reaches at most kernel - 1 nt past its patch
    if getattr(net, "upsample", None) is not None:
        extra += 2 * patch  # patch tokens back to nucleotides (within a patch; bound kept for a wider refinement)
    return (tokens * patch + extra) * k + (k - 1)


def patch_size(net: nn.Module) -> int:
    """Tokens per transformer position of ``net`` (1 when it has no patch stem)."""
    encoder = getattr(net, "encoder", None)
    return int(getattr(encoder, "patch_size", getattr(net, "patch_size", 1)) or 1)


def info_from_record(net: nn.Module, record: dict, source: str | Path = "", window: int | None = None) -> ModelInfo:
    """ModelInfo from a checkpoint's ``genoattn`` record and its rebuilt network (``window``: the window to use
    when the record has none)."""
    data = record.get("data") or {}
    where = f"{source}: " if source else ""
    tokenizer = data.get("tokenizer") or "nucleotide"
    k = int(data.get("k") or 1) if tokenizer == "kmer" else 1
    recorded = data.get("window")
    window = recorded if isinstance(recorded, int) and recorded >= 1 else window
    if window is None:
        raise InputError(f"{where}checkpoint records no training window (data.window={recorded!r}); pass --window")
    task = record.get("task")
    if not isinstance(task, str):
        raise InputError(f"{where}checkpoint records no task (task={task!r})")
    num_classes = record.get("num_classes")
    if not isinstance(num_classes, int):
        num_classes = int(getattr(net, "num_classes", 0) or 0)
    net_task = getattr(net, "task", task)
    if net_task != task:
        raise InputError(f"{where}checkpoint task {task!r} differs from its network's task {net_task!r}")
    return ModelInfo(
        task=task,
        num_classes=num_classes,
        window=window,
        tokenizer=tokenizer,
        k=k,
        label_mode=data.get("label_mode") if task == "token_classification" else None,
        feature_types=tuple(data.get("feature_types") or ()),
        patch_size=patch_size(net),
        receptive_field=receptive_field(net, k),
        source=str(source),
        pad_short=data.get("short_contigs") == "pad",
    )


def load_model(path: str | Path, map_location: str = "cpu", window: int | None = None) -> tuple[nn.Module, ModelInfo]:
    """Rebuild the network of a genoattn checkpoint (eval mode) and describe it; InputError on a bad checkpoint.
    ``window`` is used when the checkpoint records no training window."""
    from genoattn.lit.checkpoint import load_for_inference

    net, record = load_for_inference(path, map_location=map_location)
    return net, info_from_record(net, record, path, window)
