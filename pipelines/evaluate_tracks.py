"""Score per-nucleotide tracks (genoattn.predict's bedGraph, or a bigWig) against an annotation: AUROC/AUPRC.

One genome:
    python -m pipelines.evaluate_tracks --track PRED/genome.bedGraph \
        --annotation data/ecoli_prokka/annotation.gff3.gz --fasta data/ecoli_prokka/genome.fa.gz \
        --holdout-every 5 [--out metrics.json]
Every genome of a manifest whose track ``DIR/<name>.bedGraph`` (or ``.bw``/``.bigWig``) exists:
    python -m pipelines.evaluate_tracks --manifest data/genomes/genomes.yaml --track-dir PRED [--out metrics.json]

Annotations: GFF3, GTF, GenBank or BED (genoattn.data.annotations); --fasta may be left out for a GenBank
annotation (its sequences give the contigs). Contigs scored: every contig of the FASTA, or with
--holdout-every N only the held-out ones of that split rule (every N-th contig of the name-sorted FASTA; a
manifest's train genome uses its own ``holdout_every``). Positives: bases inside a feature of the chosen types
(CDS by default); bases without a track value (N runs) are left out. bigWig needs pyBigWig (the ``bigwig``
extra). Prints and optionally writes JSON: {genome: {auroc, auprc, bases, positive_fraction, contigs}}.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from genoattn.data.annotations import GENBANK_SUFFIXES, annotation_suffix, check_intervals, read_annotation
from genoattn.data.genome import Genome
from genoattn.data.labels import IntervalIndex
from genoattn.data.manifest import ManifestGenome, read_manifest
from genoattn.data.windows import split_contigs
from genoattn.errors import GenoattnError, InputError
from genoattn.inference.evaluate import read_bedgraph, track_metrics

BIGWIG_SUFFIXES = (".bw", ".bigwig")
TRACK_SUFFIXES = (".bedGraph", ".bedgraph", ".bw", ".bigWig")


def read_bigwig(path: Path, lengths: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Per-contig float32 arrays of a bigWig (NaN where it has no value); contigs it lacks are all NaN."""
    try:
        import pyBigWig
    except ImportError:
        raise InputError(f"{path}: reading bigWig needs pyBigWig (pip install 'genoattn[bigwig]'); "
                         "or convert it to bedGraph") from None
    try:
        bw = pyBigWig.open(str(path))
    except RuntimeError:
        bw = None
    if bw is None or not bw.isBigWig():
        raise InputError(f"{path}: not a readable bigWig file")
    with bw:
        chroms = bw.chroms()
        tracks = {}
        for contig, n in lengths.items():
            if contig not in chroms:
                tracks[contig] = np.full(n, np.nan, dtype=np.float32)
                continue
            end = min(n, chroms[contig])
            values = np.full(n, np.nan, dtype=np.float32)
            values[:end] = np.asarray(bw.values(contig, 0, end, numpy=True), dtype=np.float32)
            tracks[contig] = values
    return tracks


def read_track(path: str | Path, lengths: Mapping[str, int]) -> dict[str, np.ndarray]:
    """bedGraph or bigWig (by extension) -> per-contig float32 arrays over ``lengths`` (NaN: no value)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: track file not found")
    return read_bigwig(p, lengths) if p.suffix.lower() in BIGWIG_SUFFIXES else read_bedgraph(p, lengths)


def contig_lengths(annotation: str | Path, fasta: str | Path | None = None) -> dict[str, int]:
    """Contig lengths from the FASTA, or from a GenBank annotation's own sequences when no FASTA is given."""
    if fasta is not None:
        with Genome(fasta) as genome:
            return dict(genome.contigs)
    if annotation_suffix(Path(annotation)) in GENBANK_SUFFIXES:
        with Genome(annotation) as genome:
            return dict(genome.contigs)
    raise InputError(f"{annotation}: give --fasta (only a GenBank annotation carries its own sequences)")


def held_out(lengths: Mapping[str, int], holdout_every: int | None) -> dict[str, int]:
    """The contigs scored: all, or the held-out ones of the ``holdout_every`` rule (genoattn.data.windows)."""
    if not holdout_every:
        return dict(lengths)
    test = set(split_contigs(list(lengths), holdout_every=holdout_every)["test"])
    return {c: n for c, n in lengths.items() if c in test}


def coding_index(annotation: str | Path, lengths: Mapping[str, int],
                 feature_types: Sequence[str] = ("CDS",)) -> IntervalIndex:
    """The features of ``feature_types`` on the contigs of ``lengths`` (the positive class)."""
    intervals = [iv for iv in read_annotation(annotation, list(feature_types)) if iv.contig in lengths]
    return IntervalIndex(check_intervals(intervals, lengths, str(annotation)))


def scored_tracks(tracks: Mapping[str, np.ndarray], index: IntervalIndex) -> dict[str, float]:
    """AUROC/AUPRC over all contigs of ``tracks`` (genoattn.inference.evaluate); InputError with one class only."""
    metrics, _ = track_metrics(tracks, index)
    if np.isnan(metrics["auroc"]):
        raise InputError(f"cannot score {metrics['bases']} bases of which a fraction {metrics['positive_fraction']} "
                         "is positive: AUROC needs both classes")
    return metrics


def evaluate(track: str | Path, annotation: str | Path, fasta: str | Path | None = None,
             feature_types: Sequence[str] = ("CDS",), holdout_every: int | None = None) -> dict[str, float]:
    """Score one genome's track file (see the module doc)."""
    lengths = held_out(contig_lengths(annotation, fasta), holdout_every)
    return scored_tracks(read_track(track, lengths), coding_index(annotation, lengths, feature_types))


def find_track(directory: Path, name: str) -> Path | None:
    """``directory/<name>.<track suffix>`` if one exists."""
    return next((directory / f"{name}{s}" for s in TRACK_SUFFIXES if (directory / f"{name}{s}").is_file()), None)


def evaluate_manifest(genomes: Sequence[ManifestGenome], track_dir: Path) -> dict[str, dict[str, float]]:
    """Score every manifest genome that has a track in ``track_dir`` (train genomes: their held-out contigs)."""
    results = {}
    for g in genomes:
        track = find_track(track_dir, g.name)
        if track is not None:
            results[g.name] = evaluate(track, g.annotation, g.fasta, g.feature_types, g.holdout_every)
    if not results:
        raise InputError(f"{track_dir}: no track named after a manifest genome (<name>.bedGraph or .bw)")
    return results


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(prog="python -m pipelines.evaluate_tracks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--track", "--bedgraph", dest="track", type=Path, help="bedGraph or bigWig of one genome")
    parser.add_argument("--annotation", type=Path, help="GFF3/GTF/GenBank/BED annotation of that genome")
    parser.add_argument("--fasta", type=Path, help="its FASTA (optional for a GenBank annotation)")
    parser.add_argument("--name", default="genome", help="the genome's name in the output (default 'genome')")
    parser.add_argument("--feature-types", nargs="+", default=["CDS"], help="positive feature types (CDS)")
    parser.add_argument("--holdout-every", type=int, default=None, help="score only these held-out contigs")
    parser.add_argument("--manifest", type=Path, help="genome manifest (data/genomes/genomes.yaml)")
    parser.add_argument("--track-dir", type=Path, help="with --manifest: folder of <genome name> tracks")
    parser.add_argument("--out", type=Path, default=None, help="write the metrics as JSON here")
    args = parser.parse_args(argv)
    try:
        if args.manifest is not None:
            if args.track_dir is None:
                parser.error("--manifest needs --track-dir")
            results = evaluate_manifest(read_manifest(args.manifest), args.track_dir)
        else:
            if args.track is None or args.annotation is None:
                parser.error("give --track and --annotation (or --manifest and --track-dir)")
            results = {args.name: evaluate(args.track, args.annotation, args.fasta, args.feature_types,
                                           args.holdout_every)}
    except GenoattnError as exc:
        print(f"pipelines.evaluate_tracks: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return results


if __name__ == "__main__":
    main()
