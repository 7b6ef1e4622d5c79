"""Long-range motif interaction task: two planted motif sites per window, a label that needs both at once.

Every window of ``window`` nt (genomic background, or a dinucleotide shuffle of it) holds exactly two planted
transcription-factor sites, each drawn from its JASPAR matrix (:meth:`genoattn.data.motifs.Motif.sample`), at
non-overlapping positions. A pair's *distance* is ``|pos_2 - pos_1|``, the gap between the two sites' start
coordinates (0-based, forward strand, whatever the site's strand).

Sequence-level label (``level="sequence"``): 1 iff the two sites are motif A and motif B, on the same strand
(either which one comes first), at a distance in the band ``[lo, hi)``. Half of the windows are positive; the
negatives, in equal shares, are
- ``near_decoy`` / ``far_decoy``: (A, B) on one strand at a distance in a neighbouring band, drawn
  log-uniformly from ``[lo / r, lo)`` or ``[hi, hi * r)`` with ``r = hi / lo`` (clipped to what the window
  allows: no overlap, both sites inside; a band whose far range does not fit keeps only near decoys);
- ``same_motif``: (A, A) or (B, B) in band, one strand (token level: (B, B) only, so every window has a B site);
- ``other_strand``: A and the reverse complement of B (B on the other strand) in band.
Every window has two sites, so motif counts, composition and k-mer content match between the classes: a bag of
k-mers sees positives as the exact midpoint of (A, A) and (B, B) and cannot tell them from the distance or
strand decoys (:mod:`genoattn.baselines.kmer_logreg` checks it). A model that sees one site at a time can rule
out ``same_motif`` and, with strand-aware pooling, ``other_strand``; only seeing both sites at once separates
positives from the distance decoys, so compare models on positives vs ``DISTANCE_DECOY_KINDS`` ("pair AUROC").

Token-level label (``level="token"``): IGNORE_INDEX everywhere except the bases of each B site, which are 1 if
an A site lies on the same strand at a distance in the band, else 0. With ``site_classes`` every base is
labelled with one of four classes (:data:`SITE_CLASSES`): background, paired B site (1, as above), A site,
unpaired B site. The extra classes teach every pattern the two motif detectors directly (a single-site decision
any receptive field can make), so that what the patterns differ in is the pair decision: paired vs unpaired on
the B sites (:func:`b_site_targets`). Without them the only gradient that reaches an A-site detector passes
through attention from a B site, diluted over the whole window (CHANGELOG.md has the run that showed it).

Residual cue, by design of any fixed-length window: a pair at distance d must start in ``[0, L - d - len]``, so
far decoys close to ``L`` put both sites near the window ends. A model that can see a window end and a site
together (a receptive field reaching from the site to the edge) gets a weak hint; keep ``hi * r`` well below
``L`` (as :func:`distance_bands` does for all but the last band) when that matters (CHANGELOG.md: how large the
hint measured).

Sequence level with ``site_labels``: besides the window's label, every base gets one of :data:`SITE_PRESENCE`
(background, A site, B site; the same for paired and unpaired sites) for an auxiliary per-base loss: the motif
detectors are taught directly, and the pair decision must still come from the window labels.

Randomness: window ``i`` of split ``s`` in epoch ``e`` is built from ``np.random.default_rng((seed, 1, s, e, i))``
and the epoch's placements (kinds, distances, strands, positions) from ``(seed, 0, s, e)``, so windows do not
depend on batch size, worker count or order. Val/test always use epoch 0 (fixed sets); training uses a fresh epoch
each pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from genoattn.data import vocab
from genoattn.data.motifs import Motif, dinucleotide_shuffle, plant
from genoattn.errors import ConfigError

KINDS = ("positive", "near_decoy", "far_decoy", "same_motif", "other_strand")
POSITIVE, NEAR_DECOY, FAR_DECOY, SAME_MOTIF, OTHER_STRAND = range(5)
DISTANCE_DECOY_KINDS = (NEAR_DECOY, FAR_DECOY)
MOTIF_A, MOTIF_B = 0, 1
SITE_NT = 32  # room kept for a site by distance_bands (the shipped motifs are 15-29 nt)
LEVELS = ("sequence", "token")
SITE_CLASSES = ("background", "paired_b_site", "a_site", "unpaired_b_site")  # token labels with site_classes
BACKGROUND, PAIRED_B, A_SITE, UNPAIRED_B = range(4)
SITE_PRESENCE = ("background", "a_site", "b_site")  # sequence level's auxiliary site_labels: no pairing in them
_PLACEMENT_STREAM, _WINDOW_STREAM = 0, 1

# Kind and motifs of the two sites of each window in a cycle of 12: 6 positive, 1 near + 1 far (2 near when no far range
# fits, 2 far when no near range does), 2 same-motif (one (A, A), one (B, B)), 2 other-strand.
_CYCLE = ([(POSITIVE, MOTIF_A, MOTIF_B)] * 6 + [(NEAR_DECOY, MOTIF_A, MOTIF_B), (FAR_DECOY, MOTIF_A, MOTIF_B)]
          + [(SAME_MOTIF, MOTIF_A, MOTIF_A), (SAME_MOTIF, MOTIF_B, MOTIF_B)]
          + [(OTHER_STRAND, MOTIF_A, MOTIF_B)] * 2)


def distance_bands(min_nt: int = 100, *, max_nt: int, ratio: float = 4.0,
                   site_nt: int = SITE_NT) -> list[tuple[int, int]]:
    """Geometric distance bands ``[(min_nt, min_nt * ratio), ...]`` while a pair at the band's largest distance
    fits in ``max_nt`` (``hi - 1 + site_nt <= max_nt``). E.g. ``max_nt=262144`` gives 6 bands up to
    (25600, 102400); ``max_nt=1048576`` 7 bands up to (102400, 409600) (``min_nt=128``: up to (131072, 524288)).
    The far decoys of a band are clipped to the window (:func:`band_layout`)."""
    if not (isinstance(min_nt, int) and min_nt >= 1):
        raise ConfigError(f"min_nt: expected a positive integer, got {min_nt!r}")
    if not ratio > 1:
        raise ConfigError(f"ratio: expected a band ratio > 1, got {ratio!r}")
    bands: list[tuple[int, int]] = []
    lo = min_nt
    while True:
        hi = int(round(lo * ratio))
        if hi - 1 + site_nt > max_nt:
            return bands
        bands.append((lo, hi))
        lo = hi


@dataclass(frozen=True)
class BandLayout:
    """Distances of one task: the band ``[lo, hi)`` and the decoy ranges (half-open; None when empty)."""

    window: int
    lo: int
    hi: int
    near: tuple[int, int] | None
    far: tuple[int, int] | None

    def range_of(self, kind: int) -> tuple[int, int]:
        """Distance range a window of this kind draws from."""
        if kind == NEAR_DECOY:
            return self.near  # type: ignore[return-value]
        if kind == FAR_DECOY:
            return self.far  # type: ignore[return-value]
        return self.lo, self.hi


def band_layout(band: tuple[int, int], window: int, site_lengths: tuple[int, int]) -> BandLayout:
    """The decoy ranges of ``band`` in a window: near ``[max(lo / r, longest site), lo)``, far
    ``[hi, min(hi * r, window - longest site + 1))``, ``r = hi / lo``. ConfigError when the band itself does not
    fit (sites would overlap, or the pair would not fit in the window)."""
    lo, hi = int(band[0]), int(band[1])
    longest = max(site_lengths)
    if not lo < hi:
        raise ConfigError(f"band: expected lo < hi, got {band!r}")
    if lo < longest:
        raise ConfigError(f"band: lo={lo} is shorter than the longest motif ({longest} nt): sites would overlap")
    limit = window - longest + 1  # distances below this fit in the window
    if hi > limit:
        raise ConfigError(f"band: hi={hi} does not fit a pair in a {window}-nt window (at most {limit}; "
                          f"see distance_bands(max_nt={window}))")
    ratio = hi / lo
    near = (max(math.ceil(lo / ratio), longest), lo)
    far = (hi, min(int(hi * ratio), limit))
    return BandLayout(window, lo, hi, near if near[0] < near[1] else None, far if far[0] < far[1] else None)


@dataclass(frozen=True)
class SitePlacements:
    """Kinds, labels and site geometry of ``n`` windows; sites ordered left to right."""

    kind: np.ndarray  # int8 [n], index into KINDS
    label: np.ndarray  # int8 [n], 1 = positive
    distance: np.ndarray  # int64 [n], site_pos[:, 1] - site_pos[:, 0]
    site_motif: np.ndarray  # int8 [n, 2], MOTIF_A / MOTIF_B
    site_strand: np.ndarray  # int8 [n, 2], +1 / -1
    site_pos: np.ndarray  # int64 [n, 2], start of each site (forward-strand coordinates)

    def __len__(self) -> int:
        return len(self.kind)


def pair_labels(site_motif: np.ndarray, site_strand: np.ndarray, distance: np.ndarray,
                band: tuple[int, int]) -> np.ndarray:
    """The label rule: one A and one B site, same strand, distance in ``[lo, hi)``. int8 [n]."""
    one_each = site_motif.min(axis=-1) != site_motif.max(axis=-1)
    same_strand = site_strand[..., 0] == site_strand[..., 1]
    in_band = (distance >= band[0]) & (distance < band[1])
    return (one_each & same_strand & in_band).astype(np.int8)


def _log_uniform(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Integers drawn log-uniformly from ``[lo, hi)`` (elementwise)."""
    x = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    return np.clip(np.floor(x).astype(np.int64), lo, hi - 1)


def place_sites(n: int, rng: np.random.Generator, layout: BandLayout, site_lengths: tuple[int, int],
               level: str = "sequence") -> SitePlacements:
    """Kinds in the shares of the module doc (exact per 12 windows), then per window: a strand, which site
    comes first, a distance (log-uniform in the kind's range) and a position (the pair uniform in the window)."""
    cycle = list(_CYCLE)
    if layout.far is None:
        cycle[7] = cycle[6]
    if layout.near is None:
        cycle[6] = cycle[7]
    if level == "token":  # every window needs a B site
        cycle[8] = cycle[9]
    table = np.array(cycle, dtype=np.int64)[rng.permutation(np.arange(n) % len(cycle))]  # [n, 3]
    kind, motifs = table[:, 0], table[:, 1:].copy()
    strand = np.repeat(rng.choice(np.array([1, -1]), size=n)[:, None], 2, axis=1)
    strand[kind == OTHER_STRAND, 1] *= -1
    swap = rng.random(n) < 0.5  # which site comes first
    motifs[swap], strand[swap] = motifs[swap, ::-1], strand[swap, ::-1]
    by_kind = [layout.range_of(k) or (layout.lo, layout.hi) for k in range(len(KINDS))]  # unused kinds: any
    ranges = np.array(by_kind, dtype=np.int64)[kind]  # [n, 2]
    distance = _log_uniform(rng, ranges[:, 0], ranges[:, 1]) if n else np.zeros(0, np.int64)
    lengths = np.asarray(site_lengths, dtype=np.int64)
    room = layout.window - distance - lengths[motifs[:, 1]]  # largest start of the left site
    left = np.floor(rng.random(n) * (room + 1)).astype(np.int64)
    pos = np.stack([left, left + distance], axis=1)
    motifs, strand = motifs.astype(np.int8), strand.astype(np.int8)
    label = pair_labels(motifs, strand, distance, (layout.lo, layout.hi))
    return SitePlacements(kind.astype(np.int8), label, distance, motifs, strand, pos)


class MotifPairWindows:
    """The windows of one split: background cut from ``background`` plus the planted pair of the epoch's placements.

    Args:
        background: nucleotide ids of the split's contigs, concatenated (uint8 [n]); windows start at a random
            offset and wrap around the end.
        motifs: (motif A, motif B).
        layout: band and decoy ranges (:func:`band_layout`).
        num_windows: windows per epoch.
        level: ``sequence`` or ``token`` labels.
        shuffle: dinucleotide-shuffle each window's background before planting (``shuffle_rounds`` rounds).
        seed, split_code: the random streams (see the module doc); ``fixed``: every epoch is epoch 0.
        site_classes: token level: label every base with one of :data:`SITE_CLASSES`.
        site_labels: sequence level: also ``site_labels`` [B, L], every base's :data:`SITE_PRESENCE` class.
    """

    def __init__(self, background: np.ndarray, motifs: tuple[Motif, Motif], layout: BandLayout, num_windows: int,
                 *, level: Literal["sequence", "token"] = "sequence", shuffle: bool = False, shuffle_rounds: int = 2,
                 seed: int = 0, split_code: int = 0, fixed: bool = False, site_classes: bool = False,
                 site_labels: bool = False) -> None:
        if level not in LEVELS:
            raise ConfigError(f"level: expected one of {LEVELS}, got {level!r}")
        if site_classes and level != "token":
            raise ConfigError("site_classes: needs level 'token' (one class per base)")
        if site_labels and level != "sequence":
            raise ConfigError("site_labels: needs level 'sequence' (the token level has site_classes)")
        if not len(background):
            raise ConfigError("background: the split has no sequence")
        self.background, self.motifs, self.layout = background, motifs, layout
        self.num_windows, self.level, self.shuffle, self.shuffle_rounds = num_windows, level, shuffle, shuffle_rounds
        self.seed, self.split_code, self.fixed, self.site_classes = seed, split_code, fixed, site_classes
        self.site_labels = site_labels
        self.site_lengths = (motifs[0].length, motifs[1].length)
        self._placements: dict[int, SitePlacements] = {}  # the latest epochs' placements

    @property
    def window(self) -> int:
        return self.layout.window

    def placements(self, epoch: int = 0) -> SitePlacements:
        """Where an epoch's windows get their sites (cached; the same in every process)."""
        epoch = 0 if self.fixed else int(epoch)
        if epoch not in self._placements:
            if len(self._placements) >= 2:
                self._placements.pop(next(iter(self._placements)))
            rng = np.random.default_rng((self.seed, _PLACEMENT_STREAM, self.split_code, epoch))
            self._placements[epoch] = place_sites(self.num_windows, rng, self.layout, self.site_lengths, self.level)
        return self._placements[epoch]

    def _cut(self, rng: np.random.Generator) -> np.ndarray:
        """A background window: uint8 [window], from a random offset, wrapping around the split's end."""
        bg, n = self.background, self.window
        offset = int(rng.integers(len(bg)))
        if offset + n <= len(bg):
            return bg[offset:offset + n].copy()
        return np.resize(np.concatenate([bg[offset:], bg[:offset]]), n)

    def batch(self, indices: np.ndarray, epoch: int = 0) -> dict[str, np.ndarray]:
        """Windows ``indices`` of an epoch: ``input_ids`` uint8 [B, L]; ``labels`` int64 [B] (sequence) or int8
        [B, L] (token, IGNORE_INDEX off the B sites); ``kind``, ``distance`` [B]; ``site_pos``, ``site_motif``,
        ``site_strand`` [B, 2]; with ``site_labels``, ``site_labels`` int8 [B, L]."""
        epoch = 0 if self.fixed else int(epoch)
        placed = self.placements(epoch)
        indices = np.asarray(indices, dtype=np.int64)
        ids = np.empty((len(indices), self.window), dtype=np.uint8)
        token = self.level == "token"
        fill = BACKGROUND if self.site_classes else vocab.IGNORE_INDEX
        token_labels = np.full((len(indices), self.window) if token else (0, 0), fill, dtype=np.int8)
        presence = np.zeros((len(indices), self.window) if self.site_labels else (0, 0), dtype=np.int8)
        for row, i in enumerate(indices):  # a loop over windows; each window is built by vectorised numpy
            rng = np.random.default_rng((self.seed, _WINDOW_STREAM, self.split_code, epoch, int(i)))
            window = self._cut(rng)
            if self.shuffle:
                window = dinucleotide_shuffle(window, rng, self.shuffle_rounds)
            motif_ids = placed.site_motif[i]
            sites = [self.motifs[m].sample(1, rng)[0] for m in motif_ids]
            plant(window, sites, placed.site_pos[i], placed.site_strand[i])
            ids[row] = window
            for m, pos in zip(motif_ids, placed.site_pos[i]):
                if token and m == MOTIF_B:
                    paired = placed.label[i]
                    token_labels[row, pos:pos + self.site_lengths[MOTIF_B]] = (
                        (PAIRED_B if paired else UNPAIRED_B) if self.site_classes else paired)
                elif token and self.site_classes:
                    token_labels[row, pos:pos + self.site_lengths[MOTIF_A]] = A_SITE
                if self.site_labels:
                    presence[row, pos:pos + self.site_lengths[m]] = 1 + m  # SITE_PRESENCE: a_site, b_site
        extra = {"site_labels": presence} if self.site_labels else {}
        return {
            "input_ids": ids,
            "labels": token_labels if token else placed.label[indices].astype(np.int64),
            "kind": placed.kind[indices].astype(np.int64),
            "distance": placed.distance[indices],
            "site_pos": placed.site_pos[indices],
            "site_motif": placed.site_motif[indices].astype(np.int64),
            "site_strand": placed.site_strand[indices].astype(np.int64),
            **extra,
        }



def b_site_targets(labels: np.ndarray, site_classes: bool) -> tuple[np.ndarray, np.ndarray]:
    """Token labels -> (mask of the B-site bases, 1 where that site is paired); both bool, the labels' shape."""
    labels = np.asarray(labels)
    if site_classes:
        return (labels == PAIRED_B) | (labels == UNPAIRED_B), labels == PAIRED_B
    return labels != vocab.IGNORE_INDEX, labels == 1


def pair_metrics(labels: np.ndarray, scores: np.ndarray, kind: np.ndarray) -> dict[str, float]:
    """AUROC over all windows; ``pair_auroc``: positives against the distance decoys only (the long-range
    decision); ``auroc_<kind>``: positives against each negative kind. NaN where a class is missing."""
    from sklearn.metrics import roc_auc_score

    labels, scores, kind = np.asarray(labels), np.asarray(scores, dtype=np.float64), np.asarray(kind)

    def auroc(keep: np.ndarray) -> float:
        y = labels[keep]
        return float(roc_auc_score(y, scores[keep])) if 0 < y.sum() < len(y) else float("nan")

    out = {"auroc": auroc(np.ones(len(labels), dtype=bool)),
           "pair_auroc": auroc((kind == POSITIVE) | np.isin(kind, DISTANCE_DECOY_KINDS))}
    for k in range(1, len(KINDS)):
        out[f"auroc_{KINDS[k]}"] = auroc((kind == POSITIVE) | (kind == k))
    return out
