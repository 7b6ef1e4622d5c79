"""GenomeTransformer: encoder + task head; ``forward(input_ids [B, L]) -> logits``."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genoattn.data.vocab import VOCAB_SIZE
from genoattn.errors import ConfigError
from genoattn.models.encoder import GenomeEncoder
from genoattn.models.heads import MaskedLMHead, SequenceHead, TokenClassificationHead
from genoattn.models.specs import FULL, AttentionSpec
from genoattn.models.stem import PatchUpsample

TASKS: tuple[str, ...] = ("token_classification", "sequence_classification", "regression", "mlm")
TOKEN_LEVEL_TASKS: tuple[str, ...] = ("token_classification", "mlm")


class GenomeTransformer(nn.Module):
    """A DNA transformer whose attention is any genoattn pattern (or Performer / Routing).

    Output by task: token_classification -> [B, L, C]; sequence_classification -> [B, C];
    regression -> [B] when num_classes == 1 else [B, num_classes]; mlm -> [B, L, vocab_size].

    Args:
        vocab_size: number of token ids (genoattn.data.vocab.VOCAB_SIZE).
        num_classes: classes of a classification task, or targets of a regression (ignored for mlm).
        task: token_classification, sequence_classification, regression or mlm.
        d_model: model width.
        num_layers: number of transformer blocks.
        num_heads: attention heads per block.
        mlp_ratio: MLP hidden width as a multiple of d_model.
        dropout: dropout after the stem and on each residual branch.
        attention: attention of every layer (a pattern from genoattn.attention.patterns, PerformerSpec or
            RoutingSpec), or a list with one per layer (default Full()).
        backend: attention backend for mask patterns ('auto', 'reference', 'blocked', 'flex', 'xformers').
        positions: 'rotary' (RoPE on q, k), 'alibi' (bidirectional ALiBi bias) or 'none'.
        patch_size: nucleotides per transformer token (strided conv stem; token-level tasks upsample back).
        stem_kernel_size: width of the stem conv (default patch_size).
        stem_hidden: hidden width of the stem (a GELU layer per window; 0: one linear map).
        stem_kmer: k > 1: the stem reads the k-mers at each offset of its window (3: codons), not nucleotides.
        norm: 'layernorm' or 'rmsnorm'.
        pooling: sequence tasks: 'mean' over tokens or 'cls' (a learned token prepended at position 0;
            give it a global view, e.g. Longformer global_tokens=(0,), with local patterns).
        tie_weights: mlm: the decoder shares the token embedding's weight.
        checkpointing: activation checkpointing per block (recompute in backward to save memory); blocks
            with RoutingSpec or a redrawing PerformerSpec are not recomputed (their state changes per pass).
        rotary_base: RoPE frequency base.
        reading_frames: the stem and the nucleotide embeddings also see, per nucleotide, the distances to the stop
            codons of all six reading frames, computed from the ids inside the model (:mod:`genoattn.models.frames`).
    """

    def __init__(
        self,
        vocab_size: int = VOCAB_SIZE,
        num_classes: int = 2,
        task: str = "token_classification",
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
        pooling: str = "mean",
        tie_weights: bool = True,
        checkpointing: bool = False,
        rotary_base: float = 10000.0,
        reading_frames: bool = False,
    ) -> None:
        super().__init__()
        # Init args, kept so a checkpoint can rebuild this network for prediction (genoattn.lit.checkpoint).
        self.config = {
            "vocab_size": vocab_size, "num_classes": num_classes, "task": task, "d_model": d_model,
            "num_layers": num_layers, "num_heads": num_heads, "mlp_ratio": mlp_ratio, "dropout": dropout,
            "attention": attention, "backend": backend, "positions": positions, "patch_size": patch_size,
            "stem_kernel_size": stem_kernel_size, "stem_hidden": stem_hidden, "stem_kmer": stem_kmer, "norm": norm,
            "pooling": pooling, "tie_weights": tie_weights, "checkpointing": checkpointing, "rotary_base": rotary_base,
            "reading_frames": reading_frames,
        }
        if task not in TASKS:
            raise ConfigError(f"model.task: expected one of {TASKS}, got {task!r}")
        if task != "mlm" and num_classes < 1:
            raise ConfigError(f"model.num_classes must be >= 1, got {num_classes}")
        if pooling == "cls" and task in TOKEN_LEVEL_TASKS:
            raise ConfigError(f"model.pooling='cls' is for sequence tasks, not {task}")
        self.task = task
        self.token_level = task in TOKEN_LEVEL_TASKS
        self.num_classes = vocab_size if task == "mlm" else num_classes
        self.encoder = GenomeEncoder(
            vocab_size=vocab_size, d_model=d_model, num_layers=num_layers, num_heads=num_heads,
            mlp_ratio=mlp_ratio, dropout=dropout, attention=attention, backend=backend, positions=positions,
            patch_size=patch_size, stem_kernel_size=stem_kernel_size, stem_hidden=stem_hidden, stem_kmer=stem_kmer,
            norm=norm, checkpointing=checkpointing, rotary_base=rotary_base, reading_frames=reading_frames,
        )
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model)) if pooling == "cls" and not self.token_level else None
        self.upsample = PatchUpsample(d_model, patch_size, norm) if self.token_level and patch_size > 1 else None
        if task == "token_classification":
            self.head: nn.Module = TokenClassificationHead(d_model, num_classes)
        elif task == "mlm":
            self.head = MaskedLMHead(d_model, vocab_size, self.encoder.embedding if tie_weights else None)
        else:
            self.head = SequenceHead(d_model, num_classes, pooling)
        self._init_weights(num_layers)

    def _init_weights(self, num_layers: int) -> None:
        """Normal(0, 0.02) linears and embeddings; residual output projections scaled by 1/sqrt(2 * layers)."""
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear):
                std = 0.02 / math.sqrt(2 * num_layers) if name.endswith(("attn.proj", "mlp.proj")) else 0.02
                nn.init.normal_(module.weight, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        embedding = self.encoder.embedding
        nn.init.normal_(embedding.weight, std=0.02)
        if embedding.padding_idx is not None:
            with torch.no_grad():
                embedding.weight[embedding.padding_idx].zero_()
        if self.cls is not None:
            nn.init.normal_(self.cls, std=0.02)

    def forward(self, input_ids: Tensor) -> Tensor:
        length = input_ids.shape[-1]
        tokens, nucleotides = self.encoder.embed(input_ids)  # [B, N, d], [B, N * p, d]
        if self.cls is not None:
            cls = self.cls.to(tokens.dtype).expand(tokens.shape[0], 1, tokens.shape[2])  # [B, 1, d]
            tokens = torch.cat([cls, tokens], dim=1)  # [B, 1 + N, d]
        hidden = self.encoder.contextualize(tokens)
        if not self.token_level:
            out = self.head(hidden)  # [B, C]
            return out.squeeze(-1) if self.task == "regression" and self.num_classes == 1 else out
        if self.upsample is not None:
            hidden = self.upsample(hidden, nucleotides)  # [B, N * p, d]
        return self.head(hidden[:, :length])  # [B, L, C or V]

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameters (shared/tied ones counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)


__all__ = ["GenomeTransformer", "TASKS"]
