"""The sequence encoder: token embedding, optional patch stem, pre-norm attention blocks, final norm."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from genoattn.attention.context_parallel import Shards, unsupported_reason
from genoattn.data.vocab import PAD
from genoattn.errors import ConfigError, InputError
from genoattn.models.attention import SelfAttention
from genoattn.models.blocks import Block, make_norm
from genoattn.models.config import EncoderConfig
from genoattn.models.frames import FEATURES as FRAME_FEATURES
from genoattn.models.frames import reading_frame_features
from genoattn.models.specs import layer_specs, updates_state
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


def check_context_parallel(specs: list, alibi: bool) -> None:
    """Raise ConfigError (one line, the first refusing layer) unless every layer's attention can be sharded."""
    for index, spec in enumerate(specs):
        reason = unsupported_reason(spec, alibi)
        if reason is not None:
            raise ConfigError(f"model.context_parallel: layer {index}: {reason}")


class GenomeEncoder(nn.Module):
    """Embeds token ids and contextualises them with attention blocks; [B, L] -> [B, ceil(L / p), d].

    Built from an :class:`EncoderConfig` (its fields say what each part is): token embedding, optional patch stem
    (patch_size, stem_kernel_size or stem_kmer > 1) and reading-frame features, attention blocks, final norm.
    """

    def __init__(self, config: EncoderConfig | None = None) -> None:
        super().__init__()
        config = config or EncoderConfig()
        self.vocab_size = config.vocab_size
        self.d_model = d_model = config.d_model
        self.patch_size = config.patch_size
        self.specs = layer_specs(config.attention, config.num_layers)
        self.checkpointed = [config.checkpointing and not updates_state(spec) for spec in self.specs]
        if config.context_parallel > 1:
            check_context_parallel(self.specs, config.positions == "alibi")
        self.embedding = nn.Embedding(config.vocab_size, d_model,
                                      padding_idx=PAD if PAD < config.vocab_size else None)
        use_stem = config.patch_size > 1 or (config.stem_kernel_size or 1) > 1 or config.stem_kmer > 1
        frame_features = FRAME_FEATURES if config.reading_frames else 0
        self.stem = (PatchStem(d_model, config.patch_size, config.stem_kernel_size, config.stem_hidden,
                               config.stem_kmer, frame_features) if use_stem else None)
        self.frame_embedding = nn.Linear(FRAME_FEATURES, d_model) if config.reading_frames else None
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            Block(
                d_model,
                SelfAttention(d_model, config.num_heads, spec, config.backend, config.positions, config.rotary_base,
                              layer=index),
                config.mlp_ratio,
                config.dropout,
                config.norm,
            )
            for index, spec in enumerate(self.specs)
        )
        self.norm = make_norm(config.norm, d_model)

    def embed(self, input_ids: Tensor, shard: tuple[int, int] | None = None) -> tuple[Tensor, Tensor]:
        """Patch tokens [B, N, d] (N = ceil(L / p)) and nucleotide embeddings [B, N * p, d].

        L is padded with PAD up to a multiple of the patch size. ``shard`` (start, end): only tokens start .. end - 1
        of the whole sequence ([B, end - start, d] and [B, (end - start) * p, d]), computed as they are in the
        whole (the stem reads its neighbours' ids, the reading frames see the whole sequence).
        """
        check_input_ids(input_ids, self.vocab_size)
        extra = -input_ids.shape[1] % self.patch_size
        if extra:
            input_ids = F.pad(input_ids, (0, extra), value=PAD)  # [B, N * p]
        p, total = self.patch_size, input_ids.shape[1]
        lo, hi = (0, total) if shard is None else (shard[0] * p, shard[1] * p)  # the shard's nucleotides
        nucleotides = self.embedding(input_ids[:, lo:hi])  # [B, n * p, d]
        frames: Tensor | None = None
        if self.frame_embedding is not None:
            frames = reading_frame_features(input_ids)[:, lo:hi].to(nucleotides.dtype)  # [B, n * p, 12]
            nucleotides = nucleotides + self.frame_embedding(frames)
        if self.stem is None:
            tokens = nucleotides
        else:  # the stem reads the ids: same map as stem(nucleotides), without k * d-wide windows
            left, right = min(self.stem.pad_left, lo), min(self.stem.pad_right, total - hi)
            tokens = self.stem.forward_ids(input_ids[:, lo - left : hi + right], self.embedding.weight, frames,
                                           context=(left, right))  # [B, n, d]
        return self.drop(tokens), nucleotides

    def contextualize(self, tokens: Tensor, shards: Shards | None = None) -> Tensor:
        """Run the blocks and the final norm over tokens [B, N, d] (with ``shards``: this rank's shard of them)."""
        recompute = self.training and torch.is_grad_enabled()
        for block, checkpointed in zip(self.blocks, self.checkpointed):
            if checkpointed and recompute:
                tokens = checkpoint(block, tokens, shards, use_reentrant=False)
            else:
                tokens = block(tokens, shards)
        return self.norm(tokens)

    def forward(self, input_ids: Tensor) -> Tensor:
        return self.contextualize(self.embed(input_ids)[0])
