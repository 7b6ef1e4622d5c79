"""Plain nn.Module models (no Lightning here): encoder, blocks, heads, reverse-complement helpers."""

from genoattn.models.config import EncoderConfig
from genoattn.models.encoder import GenomeEncoder
from genoattn.models.positions import RotaryEmbedding, alibi_slopes
from genoattn.models.rc import rc_average, reverse_complement_ids, reverse_labels
from genoattn.models.specs import AttentionSpec, PerformerSpec, RoutingSpec
from genoattn.models.transformer import TASKS, GenomeTransformer

__all__ = [
    "AttentionSpec",
    "EncoderConfig",
    "GenomeEncoder",
    "GenomeTransformer",
    "PerformerSpec",
    "RotaryEmbedding",
    "RoutingSpec",
    "TASKS",
    "alibi_slopes",
    "rc_average",
    "reverse_complement_ids",
    "reverse_labels",
]
