"""GenomeTransformer: encoder + task head; ``forward(input_ids [B, L]) -> logits``."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from genoattn.attention.context_parallel import Shards
from genoattn.errors import ConfigError
from genoattn.models.config import EncoderConfig, takes_encoder_fields
from genoattn.models.encoder import GenomeEncoder
from genoattn.models.heads import MaskedLMHead, SequenceHead, TokenClassificationHead
from genoattn.models.stem import PatchUpsample
from genoattn.tasks import TASKS, TOKEN_LEVEL_TASKS


class GenomeTransformer(nn.Module):
    """A DNA transformer whose attention is any genoattn pattern (or Performer / Routing).

    Output by task: token_classification -> [B, L, C]; sequence_classification -> [B, C];
    regression -> [B] when num_classes == 1 else [B, num_classes]; mlm -> [B, L, vocab_size].

    Args:
        num_classes: classes of a classification task, or targets of a regression (ignored for mlm).
        task: token_classification, sequence_classification, regression or mlm.
        pooling: sequence tasks: 'mean' or 'max' over tokens, or 'cls' (a learned token prepended at position 0;
            give it a global view, e.g. Longformer global_tokens=(0,), with local patterns).
        tie_weights: mlm: the decoder shares the token embedding's weight.
        site_classes: sequence tasks: classes of an auxiliary per-token head (0: none), trained on per-base
            labels beside the window's (``forward(ids, with_sites=True)``; e.g. the motif task's ``site_labels``).
        **encoder: the encoder's parameters, every field of :class:`genoattn.models.config.EncoderConfig`
            (vocab_size, d_model, num_layers, num_heads, attention, patch_size, ...; documented there).
    """

    @takes_encoder_fields
    def __init__(
        self,
        num_classes: int = 2,
        task: str = "token_classification",
        pooling: str = "mean",
        tie_weights: bool = True,
        site_classes: int = 0,
        **encoder: Any,
    ) -> None:
        super().__init__()
        if task not in TASKS:
            raise ConfigError(f"model.task: expected one of {TASKS}, got {task!r}")
        if task != "mlm" and num_classes < 1:
            raise ConfigError(f"model.num_classes must be >= 1, got {num_classes}")
        if pooling == "cls" and task in TOKEN_LEVEL_TASKS:
            raise ConfigError(f"model.pooling='cls' is for sequence tasks, not {task}")
        if site_classes and task in TOKEN_LEVEL_TASKS:
            raise ConfigError(f"model.site_classes: an auxiliary per-base head is for sequence tasks, not {task}")
        unknown = sorted(set(encoder) - set(EncoderConfig.__dataclass_fields__))
        if unknown:
            raise TypeError(f"GenomeTransformer got unexpected keyword arguments {unknown}")
        config = EncoderConfig(**encoder)
        if config.context_parallel > 1 and task not in TOKEN_LEVEL_TASKS:
            raise ConfigError(f"model.context_parallel: {task} pools over the whole sequence; context parallelism is "
                              f"for token-level tasks {TOKEN_LEVEL_TASKS}")
        # Init args, kept so a checkpoint can rebuild this network for prediction (genoattn.lit.checkpoint).
        self.config = {"num_classes": num_classes, "task": task, "pooling": pooling, "tie_weights": tie_weights,
                       "site_classes": site_classes, **config.as_kwargs()}
        self.task = task
        self.token_level = task in TOKEN_LEVEL_TASKS
        self.num_classes = config.vocab_size if task == "mlm" else num_classes
        self.context_parallel = config.context_parallel
        self.sharded = False  # set by enable_context_parallel (a training run), never by loading
        self.group: dist.ProcessGroup | None = None
        self.encoder = GenomeEncoder(config)
        d_model = config.d_model
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model)) if pooling == "cls" and not self.token_level else None
        self.upsample = (PatchUpsample(d_model, config.patch_size, config.norm)
                         if self.token_level and config.patch_size > 1 else None)
        if task == "token_classification":
            self.head: nn.Module = TokenClassificationHead(d_model, num_classes)
        elif task == "mlm":
            self.head = MaskedLMHead(d_model, config.vocab_size, self.encoder.embedding if tie_weights else None)
        else:
            self.head = SequenceHead(d_model, num_classes, pooling)
        self.site_head = TokenClassificationHead(d_model, site_classes) if site_classes else None
        self._init_weights(config.num_layers)

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

    def enable_context_parallel(self, group: dist.ProcessGroup | None = None) -> None:
        """Shard each sequence over ``group`` (default: every process) from now on: forward then takes the whole
        input_ids on every rank of the group and returns the outputs of this rank's shard, the nucleotides
        ``output_range(L)``. The group must have ``context_parallel`` ranks."""
        world = dist.get_world_size(group) if dist.is_available() and dist.is_initialized() else 1
        if world != self.context_parallel:
            raise ConfigError(f"model.context_parallel={self.context_parallel} needs that many processes in its "
                              f"group (trainer.devices x trainer.num_nodes), got {world}")
        self.sharded, self.group = True, group

    def shards(self, length: int) -> Shards | None:
        """This rank's token shard of a sequence of ``length`` nucleotides (None when not sharding)."""
        if not self.sharded:
            return None
        return Shards.for_group(-(-length // self.encoder.patch_size), self.group)

    def output_range(self, length: int) -> tuple[int, int]:
        """Nucleotides [lo, hi) of a sequence of ``length`` whose outputs forward returns on this rank."""
        shards = self.shards(length)
        if shards is None:
            return 0, length
        p = self.encoder.patch_size
        return min(shards.start * p, length), min(shards.end * p, length)

    def forward(self, input_ids: Tensor, with_sites: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Outputs (shapes in the class doc); ``with_sites`` (a ``site_classes`` head): also the auxiliary
        per-token logits [B, N, site_classes] (one token per ``patch_size`` nucleotides)."""
        length = input_ids.shape[-1]
        shards = self.shards(length)
        if shards is not None:
            return self._forward_shard(input_ids, shards)
        tokens, nucleotides = self.encoder.embed(input_ids)  # [B, N, d], [B, N * p, d]
        if self.cls is not None:
            cls = self.cls.to(tokens.dtype).expand(tokens.shape[0], 1, tokens.shape[2])  # [B, 1, d]
            tokens = torch.cat([cls, tokens], dim=1)  # [B, 1 + N, d]
        hidden = self.encoder.contextualize(tokens)
        if not self.token_level:
            out = self.head(hidden)  # [B, C]
            out = out.squeeze(-1) if self.task == "regression" and self.num_classes == 1 else out
            if with_sites:
                if self.site_head is None:
                    raise ConfigError("model.site_classes: this network has no per-base site head")
                sites = hidden[:, 1:] if self.cls is not None else hidden  # [B, N, d]: the CLS token has no base
                return out, self.site_head(sites)  # [B, C], [B, N, site_classes]
            return out
        if self.upsample is not None:
            hidden = self.upsample(hidden, nucleotides)  # [B, N * p, d]
        return self.head(hidden[:, :length])  # [B, L, C or V]

    def site_targets(self, site_labels: Tensor) -> Tensor:
        """Per-base site labels [B, L] -> the site head's per-token targets [B, N]: the highest class among the
        token's ``patch_size`` bases (a site's class wins over background)."""
        p = self.encoder.patch_size
        padded = torch.nn.functional.pad(site_labels, (0, -site_labels.shape[-1] % p))  # [B, N * p], 0 = background
        return padded.view(site_labels.shape[0], -1, p).amax(dim=-1)  # [B, N]

    def _forward_shard(self, input_ids: Tensor, shards: Shards) -> Tensor:
        """Token-level outputs [B, hi - lo, C] of this rank's nucleotides [lo, hi) = ``output_range(L)``."""
        tokens, nucleotides = self.encoder.embed(input_ids, (shards.start, shards.end))  # [B, n, d], [B, n * p, d]
        hidden = self.encoder.contextualize(tokens, shards)
        if self.upsample is not None:
            hidden = self.upsample(hidden, nucleotides)  # [B, n * p, d]
        lo, hi = self.output_range(input_ids.shape[-1])
        return self.head(hidden[:, : hi - lo])  # [B, hi - lo, C or V]

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameters (shared/tied ones counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)


__all__ = ["GenomeTransformer", "TASKS"]
