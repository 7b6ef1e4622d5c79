"""Score per-nucleotide tracks (genoattn.predict's bigWig or bedGraph, or others) against an annotation: AUROC/AUPRC.

One genome:
    python -m pipelines.evaluate_tracks --track PRED/genome.bw \
        --annotation data/ecoli_prokka/annotation.gff3.gz --fasta data/ecoli_prokka/genome.fa.gz \
        --holdout-every 5 [--out metrics.json]
Every genome of a manifest whose track ``DIR/<name>.bw`` (or ``.bigWig``, ``.bedGraph``) exists:
    python -m pipelines.evaluate_tracks --manifest data/genomes/genomes.yaml --track-dir PRED [--out metrics.json]

Annotations: GFF3, GTF, GenBank or BED (genoattn.data.annotations); --fasta may be left out for a GenBank
annotation (its sequences give the contigs). Contigs scored: every contig of the FASTA, or with
--holdout-every N only the held-out ones of that split rule (every N-th contig of the name-sorted FASTA; a
manifest's train genome uses its own ``holdout_every``). Positives: bases inside a feature of the chosen types
(CDS by default); bases without a track value (N runs) are left out. Prints and optionally writes JSON:
{genome: {auroc, auprc, bases, positive_fraction, contigs}}.
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
from genoattn.inference.evaluate import read_track, track_metrics

TRACK_SUFFIXES = (".bw", ".bigWig", ".bedGraph", ".bedgraph")  # the first one found is scored


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
        raise InputError(f"{track_dir}: no track named after a manifest genome (<name>.bw or .bedGraph)")
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
