"""Output heads over encoder features."""

from __future__ import annotations

from torch import Tensor, nn

from genoattn.errors import ConfigError

POOLINGS: tuple[str, ...] = ("mean", "max", "cls")


class TokenClassificationHead(nn.Module):
    """Per-position logits: [B, L, d] -> [B, L, C]."""

    def __init__(self, d_model: int, num_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(d_model, num_classes)

    def forward(self, features: Tensor) -> Tensor:
        return self.linear(features)


class SequenceHead(nn.Module):
    """One output per window: pools [B, N, d] to [B, d], then a linear layer to [B, C].

    Args:
        d_model: feature width.
        num_outputs: classes (classification) or targets (regression).
        pooling: 'mean' over all positions, 'max' (each feature's largest value over the positions: a window
            label that one site decides is not diluted by the window's length), or 'cls' (position 0 holds a CLS
            token).
    """

    def __init__(self, d_model: int, num_outputs: int, pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"model.pooling: expected one of {POOLINGS}, got {pooling!r}")
        self.pooling = pooling
        self.linear = nn.Linear(d_model, num_outputs)

    def forward(self, features: Tensor) -> Tensor:
        if self.pooling == "cls":
            pooled = features[:, 0]  # [B, d]
        else:
            pooled = features.amax(dim=1) if self.pooling == "max" else features.mean(dim=1)  # [B, d]
        return self.linear(pooled)  # [B, C]


class MaskedLMHead(nn.Module):
    """Logits over the vocabulary: [B, L, d] -> [B, L, V]; Linear -> GELU -> norm -> decoder.

    ``tie_to`` (an nn.Embedding [V, d]) makes the decoder share the embedding's weight.
    """

    def __init__(self, d_model: int, vocab_size: int, tie_to: nn.Embedding | None = None) -> None:
        super().__init__()
        self.transform = nn.Linear(d_model, d_model)
        self.act = nn.GELU()
        self.norm = nn.LayerNorm(d_model)
        self.decoder = nn.Linear(d_model, vocab_size)
        if tie_to is not None:
            if tie_to.weight.shape != self.decoder.weight.shape:
                raise ConfigError(
                    f"MaskedLMHead: cannot tie a {tuple(tie_to.weight.shape)} embedding to a "
                    f"{tuple(self.decoder.weight.shape)} decoder"
                )
            self.decoder.weight = tie_to.weight

    def forward(self, features: Tensor) -> Tensor:
        return self.decoder(self.norm(self.act(self.transform(features))))
