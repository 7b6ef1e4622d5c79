"""The encoder's parameters, written once: ``EncoderConfig``.

``GenomeEncoder`` is built from one; ``GenomeTransformer`` takes its fields as keyword arguments beside its task
head's (the YAML configs and the checkpoints' stored init args name them flat, ``model.net.init_args.d_model``),
and its signature is made from these fields, so jsonargparse and the config-key check see every one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, TypeVar, get_type_hints

from genoattn.data.vocab import VOCAB_SIZE
from genoattn.errors import ConfigError
from genoattn.models.specs import FULL, AttentionSpec

Init = TypeVar("Init", bound=Callable[..., None])


@dataclass(frozen=True)
class EncoderConfig:
    """What the sequence encoder is built from.

    Args:
        vocab_size: number of token ids (genoattn.data.vocab.VOCAB_SIZE).
        d_model: model width.
        num_layers: number of transformer blocks.
        num_heads: attention heads per block.
        mlp_ratio: MLP hidden width as a multiple of d_model.
        dropout: dropout after the stem and on each residual branch.
        attention: attention of every layer (a pattern from genoattn.attention.patterns, PerformerSpec or
            RoutingSpec), or a list with one per layer (default Full()).
        backend: attention backend for mask patterns ('auto' or a name in genoattn.attention.BACKEND_ORDER).
        positions: 'rotary' (RoPE on q, k), 'alibi' (bidirectional ALiBi bias) or 'none'.
        patch_size: nucleotides per transformer token; > 1 puts a strided conv stem in front of the blocks
            (token-level tasks upsample back).
        stem_kernel_size: width of the stem conv (default patch_size; wider overlaps patches).
        stem_hidden: hidden width of the stem (a GELU layer per window; 0: one linear map).
        stem_kmer: k > 1: the stem reads the k-mers at each offset of its window (3: codons), not nucleotides.
        norm: 'layernorm' or 'rmsnorm'.
        checkpointing: activation checkpointing per block (recompute in backward to save memory); blocks with
            RoutingSpec or a redrawing PerformerSpec are not recomputed (their state changes per pass).
        rotary_base: RoPE frequency base.
        reading_frames: the stem and the nucleotide embeddings also see, per nucleotide, the distances to the stop
            codons of all six reading frames, computed from the ids inside the model (:mod:`genoattn.models.frames`).
        context_parallel: ranks that share each sequence (context parallelism, docs/design.md 2.6): each runs the
            blocks on its shard of the tokens and exchanges only attention halos; 1: off. Training with N > 1 needs
            a multiple of N processes (``trainer.devices`` x ``trainer.num_nodes``: groups of N share each
            sequence, the groups split the data; genoattn.lit.strategy), token-level tasks and attention patterns
            with a context-parallel form (genoattn.attention.context_parallel); a model loaded outside such a run
            (prediction) runs whole sequences.
    """

    vocab_size: int = VOCAB_SIZE
    d_model: int = 128
    num_layers: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0
    dropout: float = 0.1
    attention: AttentionSpec | list[AttentionSpec] = FULL
    backend: str = "auto"
    positions: str = "rotary"
    patch_size: int = 1
    stem_kernel_size: int | None = None
    stem_hidden: int = 0
    stem_kmer: int = 1
    norm: str = "layernorm"
    checkpointing: bool = False
    rotary_base: float = 10000.0
    reading_frames: bool = False
    context_parallel: int = 1

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "num_layers", "num_heads", "patch_size", "context_parallel"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")

    def as_kwargs(self) -> dict[str, Any]:
        """Field name -> value (the specs themselves, not copies)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def parameters(cls) -> list[inspect.Parameter]:
        """The fields as keyword parameters (resolved types, defaults) for a signature that takes them flat."""
        types = get_type_hints(cls)
        return [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=types[f.name])
                for f in fields(cls)]


def takes_encoder_fields(init: Init) -> Init:
    """Decorator of an ``__init__(self, ..., **encoder)``: its signature (what jsonargparse, the config-key check
    and ``inspect`` read) lists EncoderConfig's fields, typed and with defaults, in place of ``**encoder``."""
    own = [p for p in inspect.signature(init).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    init.__signature__ = inspect.Signature([*own, *EncoderConfig.parameters()])  # type: ignore[attr-defined]
    return init
