"""Reading-frame features computed from nucleotide ids inside the model: where the stop codons are.

Gene finders read a coding region as a long open reading frame: a stretch without an in-frame stop codon
(TAA, TAG, TGA on the plus strand; their reverse complements TTA, CTA, TCA on the minus strand). For the
codon that starts at each position s (frame s mod 3), :func:`codon_stop_distances` measures, in codons, how
far the next stop lies in reading direction ("down") and how far the previous one lies against it ("up"),
on both strands: 4 numbers per codon start; with the longest open frame covering each nucleotide on either
strand (:func:`covering_orf_lengths`), 6 features per position on a log scale (:func:`reading_frame_features`).
No stop up to the window edge counts as the distance to the edge (a lower bound). The features of a position do
not depend on where a window starts (translation-equivariant) except near the window edges.

All vectorised torch ops (cummax/cummin over codons), cheap next to the model on CPU and GPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from genoattn.data.vocab import VOCAB_SIZE, A, C, G, T

FEATURES = 6  # per position: plus down, plus up, minus down, minus up (of the codon starting there), and the
# longest plus / minus open frame covering the nucleotide
_LOG_SCALE = 7.0  # log1p(1000 codons) ~ 6.9: features of long reading frames near 1

_BASE = torch.full((VOCAB_SIZE,), 4, dtype=torch.long)  # token id -> A/C/G/T index 0..3, else 4
_BASE[[A, C, G, T]] = torch.arange(4)


def _codes(*codons: str) -> list[int]:
    return [16 * "ACGT".index(c[0]) + 4 * "ACGT".index(c[1]) + "ACGT".index(c[2]) for c in codons]


PLUS_STOPS = _codes("TAA", "TAG", "TGA")
MINUS_STOPS = _codes("TTA", "CTA", "TCA")  # the reverse complements, read on the plus strand


def stop_codons(input_ids: Tensor) -> tuple[Tensor, Tensor]:
    """Bool [B, L] each: a plus-strand / minus-strand stop codon starts at position s (bases s..s+2)."""
    base = _BASE.to(input_ids.device)[input_ids.long()]  # [B, L] 0..3, 4 = not ACGT
    code = 16 * base[:, :-2] + 4 * base[:, 1:-1] + base[:, 2:]  # [B, L - 2]
    known = (base[:, :-2] < 4) & (base[:, 1:-1] < 4) & (base[:, 2:] < 4)  # [B, L - 2]
    plus = torch.isin(code, torch.tensor(PLUS_STOPS, device=code.device)) & known
    minus = torch.isin(code, torch.tensor(MINUS_STOPS, device=code.device)) & known
    return F.pad(plus, (0, 2)), F.pad(minus, (0, 2))  # [B, L]: no codon starts in the last 2 bases


def codon_stop_distances(input_ids: Tensor) -> Tensor:
    """[B, L] ids -> float [B, L, 4] (plus down, plus up, minus down, minus up) in codons, for the codon starting at
    each position. Plus: down = to the next stop rightwards (0 on a stop), up = to the previous stop leftwards.
    Minus (read leftwards): down = to a minus stop at or left of it, up = to the next minus stop on its right.
    Where a frame has no such stop, the distance runs to the window edge."""
    batch, length = input_ids.shape
    plus, minus = stop_codons(input_ids)  # [B, L] each
    pad = -length % 3
    stops = F.pad(torch.stack([plus, minus], dim=1), (0, pad))  # [B, 2, L + pad]
    stops = stops.reshape(batch, 2, -1, 3).transpose(2, 3)  # [B, strand, frame, codon]
    m = stops.shape[-1]
    index = torch.arange(m, device=stops.device)  # [M]
    after = torch.where(stops, index, m).flip(-1).cummin(-1).values.flip(-1)  # stop at or after each codon
    before = torch.where(stops, index, -1).cummax(-1).values  # stop at or before each codon
    after_strict = F.pad(after[..., 1:], (0, 1), value=m)  # strictly after
    before_strict = F.pad(before[..., :-1], (1, 0), value=-1)  # strictly before
    plus_down, plus_up = after[:, 0] - index, index - before_strict[:, 0]  # [B, frame, codon]
    minus_down, minus_up = index - before[:, 1], after_strict[:, 1] - index
    out = torch.stack([plus_down, plus_up, minus_down, minus_up], dim=-1)  # [B, frame, codon, 4]
    return out.transpose(1, 2).reshape(batch, m * 3, 4)[:, :length].float()  # [B, L, 4] in position order


def covering_orf_lengths(per_codon: Tensor) -> Tensor:
    """Longest stop-to-stop open frame covering each nucleotide, per strand, in codons: [B, L, 4] distances (of
    :func:`codon_stop_distances`) -> [B, L, 2] (plus, minus). A nucleotide lies in the codons starting 0, 1 and 2
    bases before it, one per frame; codons that would start before the window count as the first one."""
    orf = torch.stack([per_codon[..., 0] + per_codon[..., 1], per_codon[..., 2] + per_codon[..., 3]], dim=-1)
    length = per_codon.shape[1]
    padded = F.pad(orf.transpose(1, 2), (2, 0), mode="replicate").transpose(1, 2)  # [B, L + 2, 2]
    return torch.maximum(torch.maximum(padded[:, 2:], padded[:, 1 : length + 1]), padded[:, :length])  # [B, L, 2]


def reading_frame_features(input_ids: Tensor) -> Tensor:
    """[B, L] ids -> [B, L, 6], log1p-scaled near [0, 1]: the stop distances of the codon starting at each
    position (a patch of p >= 3 positions holds codon starts of all three frames, so a linear map over a patch
    sees all six reading frames), then the longest plus- and minus-strand open frames covering the nucleotide
    (what the longest-ORF rule of gene finding scores)."""
    per_codon = codon_stop_distances(input_ids)  # [B, L, 4]
    features = torch.cat([per_codon, covering_orf_lengths(per_codon)], dim=-1)  # [B, L, 6]
    return torch.log1p(features) / _LOG_SCALE
