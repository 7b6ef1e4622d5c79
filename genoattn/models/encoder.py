"""The sequence encoder: token embedding, optional patch stem, pre-norm attention blocks, final norm."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from genoattn.data.vocab import PAD, VOCAB_SIZE
from genoattn.errors import ConfigError, InputError
from genoattn.models.attention import SelfAttention
from genoattn.models.blocks import Block, make_norm
from genoattn.models.frames import FEATURES as FRAME_FEATURES
from genoattn.models.frames import reading_frame_features
from genoattn.models.specs import FULL, AttentionSpec, layer_specs, updates_state
from genoattn.models.stem import PatchStem


def check_input_ids(input_ids: Tensor, vocab_size: int) -> None:
    """Raise InputError unless ``input_ids`` is an integer [B, L] tensor of ids in [0, vocab_size).

    The id range is read only from host (CPU) tensors: on an accelerator reading it would make the host wait for
    the device on every call (the training loop and the asynchronous prediction runner would stall). genoattn's
    own ids come from its tokenizer, in range by construction; an out-of-range id on a GPU trips the embedding's
    device-side index check instead."""
    if input_ids.dim() != 2 or input_ids.dtype not in (torch.int64, torch.int32):
        raise InputError(
            f"input_ids must be an integer tensor [batch, length], got {input_ids.dtype} {tuple(input_ids.shape)}"
        )
    if input_ids.device.type != "cpu":
        return
    if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= vocab_size):
        raise InputError(
            f"input_ids must lie in [0, {vocab_size}), got range [{int(input_ids.min())}, {int(input_ids.max())}]"
        )


class GenomeEncoder(nn.Module):
    """Embeds token ids and contextualises them with attention blocks; [B, L] -> [B, ceil(L / p), d].

    Args:
        vocab_size: number of token ids (genoattn.data.vocab.VOCAB_SIZE).
        d_model: model width.
        num_layers: number of transformer blocks.
        num_heads: attention heads per block.
        mlp_ratio: MLP hidden width as a multiple of d_model.
        dropout: dropout after the stem and on each residual branch.
        attention: one spec for every layer, or a list with one spec per layer (default Full()).
        backend: attention backend for mask patterns ('auto', 'reference', 'blocked', 'flex', 'xformers').
        positions: 'rotary' (RoPE on q, k), 'alibi' (bidirectional linear bias) or 'none'.
        patch_size: nucleotides per token; > 1 puts a strided conv stem in front of the blocks.
        stem_kernel_size: width of the stem conv (default patch_size; wider overlaps patches).
        stem_hidden: hidden width of the stem (0: a single linear map per window).
        stem_kmer: k > 1 feeds the stem the k-mers at each offset of its window (3: codons) instead of single
            nucleotides (see ``PatchStem``).
        reading_frames: compute the stop-codon distances of every reading frame from the ids
            (:mod:`genoattn.models.frames`) and feed them to the stem and, through a linear map, to the
            nucleotide embeddings.
        norm: 'layernorm' or 'rmsnorm'.
        checkpointing: recompute each block in the backward pass (activation checkpointing) to save memory;
            blocks whose attention updates its own state in training (RoutingSpec, PerformerSpec with
            redraw_interval) are not recomputed, since a second pass would see the updated state.
        rotary_base: RoPE frequency base.
    """

    def __init__(
        self,
        vocab_size: int = VOCAB_SIZE,
        d_model: int = 128,
        num_layers: int = 4,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.1,
        attention: AttentionSpec | list[AttentionSpec] = FULL,
        backend: str = "auto",
        positions: str = "rotary",
        patch_size: int = 1,
        stem_kernel_size: int | None = None,
        stem_hidden: int = 0,
        stem_kmer: int = 1,
        norm: str = "layernorm",
        checkpointing: bool = False,
        rotary_base: float = 10000.0,
        reading_frames: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("d_model", d_model), ("num_layers", num_layers),
                            ("num_heads", num_heads), ("patch_size", patch_size)):
            if value < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {value}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {dropout}")
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.patch_size = patch_size
        self.specs = layer_specs(attention, num_layers)
        self.checkpointed = [checkpointing and not updates_state(spec) for spec in self.specs]
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=PAD if PAD < vocab_size else None)
        use_stem = patch_size > 1 or (stem_kernel_size or 1) > 1 or stem_kmer > 1
        frame_features = FRAME_FEATURES if reading_frames else 0
        self.stem = (PatchStem(d_model, patch_size, stem_kernel_size, stem_hidden, stem_kmer, frame_features)
                     if use_stem else None)
        self.frame_embedding = nn.Linear(FRAME_FEATURES, d_model) if reading_frames else None
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            Block(
                d_model,
                SelfAttention(d_model, num_heads, spec, backend, positions, rotary_base, layer=index),
                mlp_ratio,
                dropout,
                norm,
            )
            for index, spec in enumerate(self.specs)
        )
        self.norm = make_norm(norm, d_model)

    def embed(self, input_ids: Tensor) -> tuple[Tensor, Tensor]:
        """Patch tokens [B, N, d] (N = ceil(L / p)) and nucleotide embeddings [B, N * p, d].

        L is padded with PAD up to a multiple of the patch size.
        """
        check_input_ids(input_ids, self.vocab_size)
        extra = -input_ids.shape[1] % self.patch_size
        if extra:
            input_ids = F.pad(input_ids, (0, extra), value=PAD)  # [B, N * p]
        nucleotides = self.embedding(input_ids)  # [B, N * p, d]
        frames = reading_frame_features(input_ids) if self.frame_embedding is not None else None  # [B, N * p, 12]
        if frames is not None:
            nucleotides = nucleotides + self.frame_embedding(frames.to(nucleotides.dtype))
        if self.stem is None:
            tokens = nucleotides
        else:  # the stem reads the ids: same map as stem(nucleotides), without k * d-wide windows
            tokens = self.stem.forward_ids(input_ids, self.embedding.weight, frames)  # [B, N, d]
        return self.drop(tokens), nucleotides

    def contextualize(self, tokens: Tensor) -> Tensor:
        """Run the blocks and the final norm over tokens [B, N, d]."""
        recompute = self.training and torch.is_grad_enabled()
        for block, checkpointed in zip(self.blocks, self.checkpointed):
            if checkpointed and recompute:
                tokens = checkpoint(block, tokens, use_reentrant=False)
            else:
                tokens = block(tokens)
        return self.norm(tokens)

    def forward(self, input_ids: Tensor) -> Tensor:
        return self.contextualize(self.embed(input_ids)[0])
