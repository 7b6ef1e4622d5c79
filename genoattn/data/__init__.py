"""FASTA + annotation -> tokenised, labelled windows. Names are imported lazily (Lightning only when needed)."""

from __future__ import annotations

from genoattn.lazy import lazy_names

_EXPORTS = {
    "Genome": "genome",
    "Interval": "annotations",
    "read_annotation": "annotations",
    "check_intervals": "annotations",
    "NucleotideTokenizer": "tokenizers",
    "KmerTokenizer": "tokenizers",
    "build_tokenizer": "tokenizers",
    "encode_nucleotides": "tokenizers",
    "Windows": "windows",
    "tile_windows": "windows",
    "random_windows": "windows",
    "split_contigs": "windows",
    "IntervalIndex": "labels",
    "nucleotide_labels": "labels",
    "mask_tokens": "labels",
    "reverse_complement_labels": "labels",
    "GenomeDataModule": "datamodule",
    "MotifPairDataModule": "motif_datamodule",
    "distance_bands": "motif_pairs",
    "read_motifs": "motifs",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_names("genoattn.data", _EXPORTS)
