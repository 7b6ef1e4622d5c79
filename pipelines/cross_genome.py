"""Train on A, evaluate on B, C, D: score a checkpoint on genomes it was not trained on, beside the baselines.

    python -m pipelines.cross_genome --checkpoint CKPT --out benchmarks/cross_genome/NAME
    python -m pipelines.cross_genome --config configs/quickstart.yaml --out benchmarks/cross_genome/NAME

With ``--config`` (repeatable, as genoattn.train takes it) the model is trained first (its checkpoints go under
``--work``), then the checkpoint with the best validation score is evaluated. Scored genomes (manifest
``--genomes``, default data/genomes/genomes.yaml): every ``role: eval`` genome whole, and the held-out contigs of
every train genome with ``holdout_every`` (E. coli's every 5th contig). Methods, all on the same bases:
the checkpoint and the CNN baseline (``--cnn``; default: the committed one) predict through genoattn.predict's
engine (tiling, stitching, reverse-complement averaging: ``--rc``, on by default) into bigWig tracks under
``--work``, which pipelines.evaluate_tracks scores; the longest-ORF rule (genoattn.baselines.orf, with each
genome's genetic code) is scored directly. ``--out`` receives ``report.md``, ``results.csv`` and
``report.json`` (metrics per genome and method, and provenance: command, commit, versions, device, checkpoints).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genoattn.baselines.orf import genome_orf_scores
from genoattn.data.genome import Genome
from genoattn.data.labels import IntervalIndex
from genoattn.data.manifest import DEFAULT_MANIFEST, ManifestGenome, read_manifest
from genoattn.errors import GenoattnError, InputError
from genoattn.inference.evaluate import read_track
from pipelines.evaluate_tracks import coding_index, held_out, scored_tracks

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CNN = REPO / "benchmarks" / "cross_genome" / "baselines" / "cnn.ckpt"
ORF = "longest_orf"
CNN = "cnn"
log = logging.getLogger("pipelines.cross_genome")


@dataclass
class Target:
    """One scored genome: its manifest entry, the contigs scored and their CDS (the positive class)."""

    genome: ManifestGenome
    lengths: dict[str, int]
    index: IntervalIndex

    @property
    def label(self) -> str:
        return f"{self.genome.name} (held-out contigs)" if self.genome.holdout_every else self.genome.name


def scored_targets(genomes: Sequence[ManifestGenome]) -> list[Target]:
    """Eval genomes (whole) and the held-out contigs of train genomes with ``holdout_every``, labelled."""
    out = []
    for g in genomes:
        if g.role == "train" and not g.holdout_every:
            continue
        with Genome(g.fasta) as genome:
            lengths = held_out(genome.contigs, g.holdout_every)
        out.append(Target(g, lengths, coding_index(g.annotation, lengths, g.feature_types)))
    if not out:
        raise InputError("the manifest has no eval genome and no train genome with holdout_every: nothing to score")
    return out


def subset_fasta(target: Target, path: Path) -> Path:
    """The target's FASTA, or (held-out contigs only) a FASTA of just those contigs written to ``path``."""
    if not target.genome.holdout_every:
        return target.genome.fasta
    path.parent.mkdir(parents=True, exist_ok=True)
    with Genome(target.genome.fasta) as genome, open(path, "w") as fh:
        for contig, n in target.lengths.items():
            seq = genome.fetch(contig, 0, n)
            fh.write(f">{contig}\n" + "".join(seq[i : i + 60] + "\n" for i in range(0, n, 60)))
    return path


def predict_scores(checkpoint: Path, targets: Sequence[Target], work: Path, options) -> dict[str, dict]:
    """Run genoattn.predict's engine with ``checkpoint`` on every target; {genome: {contig: scores}}."""
    from genoattn.inference.files import predict_files
    from genoattn.inference.inputs import output_stem
    from genoattn.inference.model import load_model

    net, info = load_model(checkpoint)
    out = {}
    for target in targets:
        name = target.genome.name
        fasta = subset_fasta(target, work / "inputs" / f"{name}.heldout.fa")
        predict_files(net, info, [fasta], work / name, options)
        track = work / name / f"{output_stem(Path(fasta))}.bw"
        out[name] = read_track(track, target.lengths)
    return out


def orf_scores(targets: Sequence[Target]) -> dict[str, dict]:
    """Longest-ORF scores of every target with its genome's genetic code; {genome: {contig: scores}}."""
    out = {}
    for target in targets:
        with Genome(target.genome.fasta) as genome:
            out[target.genome.name] = genome_orf_scores(genome, target.lengths, target.genome.genetic_code)
    return out


def run_method(name: str, targets: Sequence[Target], scores: Callable[[], dict[str, dict]]) -> dict[str, dict]:
    """Scores of one method, scored per target; {genome: metrics (+ seconds of the method over all targets)}."""
    log.info("%s ...", name)
    t0 = time.perf_counter()
    tracks = scores()
    seconds = time.perf_counter() - t0
    return {t.genome.name: {**scored_tracks(tracks[t.genome.name], t.index), "seconds_all_genomes": seconds}
            for t in targets}


def train(configs: Sequence[str], work: Path) -> Path:
    """Train with genoattn.train (checkpoints under ``work/train``); the checkpoint it tested (best validation)."""
    from genoattn.train import run

    ckpt_dir = work / "train" / "checkpoints"
    args = [a for c in configs for a in ("--config", c)]
    run([*args, "--trainer.default_root_dir", str(work / "train"), "--checkpoint.dirpath", str(ckpt_dir)])
    summary = json.loads((ckpt_dir / "test_metrics.json").read_text())
    return Path(summary["checkpoint"])


def shown_path(path: Path) -> str:
    """``path`` relative to the repository when inside it (reports stay valid in another checkout)."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def provenance(device, checkpoints: dict[str, Path], argv: Sequence[str]) -> dict:
    """genoattn.bench.provenance's record (commit, device, versions, time) with this command, the libraries that
    scored, and the checkpoints' identities."""
    import sklearn

    from genoattn import __version__
    from genoattn.bench.provenance import provenance as run_provenance

    info = run_provenance(device)
    info["command"] = " ".join(["python -m pipelines.cross_genome", *argv])
    info["versions"].update({"genoattn": __version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__})
    info["checkpoints"] = {k: {"path": shown_path(p), "sha256": file_sha256(p)} for k, p in checkpoints.items()}
    return info


def write_report(out: Path, model: str, targets: Sequence[Target], results: dict[str, dict[str, dict]],
                 info: dict) -> None:
    """report.json, results.csv (one row per genome and method) and report.md (AUROC/AUPRC tables)."""
    out.mkdir(parents=True, exist_ok=True)
    methods = list(results)
    genomes = {t.genome.name: {"label": t.label, "role": t.genome.role, "group": t.genome.group,
                               "taxon": t.genome.taxon, "gc": t.genome.gc, "genetic_code": t.genome.genetic_code}
               for t in targets}
    doc = {"model": model, "provenance": info, "genomes": genomes,
           "results": {g: {m: results[m][g] for m in methods} for g in genomes}}
    (out / "report.json").write_text(json.dumps(doc, indent=2) + "\n")
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["genome", "role", "group", "gc", "method", "auroc", "auprc", "bases", "positive_fraction",
                         "contigs"])
        for g, meta in genomes.items():
            for m in methods:
                r = results[m][g]
                writer.writerow([g, meta["role"], meta["group"], meta["gc"], m, f"{r['auroc']:.4f}",
                                 f"{r['auprc']:.4f}", r["bases"], f"{r['positive_fraction']:.4f}", r["contigs"]])
    (out / "report.md").write_text(markdown(model, targets, results, info))


def markdown(model: str, targets: Sequence[Target], results: dict[str, dict[str, dict]], info: dict) -> str:
    methods = list(results)
    head = ("| genome | taxon | GC % | bases | coding % | "
            + " | ".join(f"{m} AUROC" for m in methods) + " | " + " | ".join(f"{m} AUPRC" for m in methods) + " |")
    rule = "|" + "---|" * (5 + 2 * len(methods))

    def row(t: Target) -> str:
        r = {m: results[m][t.genome.name] for m in methods}
        first = r[methods[0]]
        return (f"| {t.label} | {t.genome.taxon} | {100 * (t.genome.gc or 0):.1f} | {first['bases']:,} | "
                f"{100 * first['positive_fraction']:.1f} | " + " | ".join(f"{r[m]['auroc']:.3f}" for m in methods)
                + " | " + " | ".join(f"{r[m]['auprc']:.3f}" for m in methods) + " |")

    def table(rows: list[Target]) -> list[str]:
        lines = [head, rule, *map(row, rows)]
        if len(rows) > 1:
            lo = [min(results[m][t.genome.name]["auroc"] for t in rows) for m in methods]
            lines.append("| lowest AUROC | | | | | " + " | ".join(f"{v:.3f}" for v in lo) + " |" + " |" * len(methods))
        return lines

    trained = [t for t in targets if t.genome.role == "train"]
    cross = [t for t in targets if t.genome.role == "eval" and t.genome.group == "prokaryote"]
    eukaryote = [t for t in targets if t.genome.role == "eval" and t.genome.group == "eukaryote"]
    lines = [f"# Cross-genome evaluation: {model}", "",
             "Coding (CDS) vs non-coding per nucleotide. Methods: "
             + ", ".join(f"`{m}`" for m in methods) + f" (`{model}`: the checkpoint under test; `{ORF}`: longest "
             "open reading frame over six frames, no training; `cnn`: the dilated CNN baseline trained on E. coli's "
             "training contigs, benchmarks/cross_genome/baselines/). Every base but N/IUPAC codes is scored.",
             ""]
    for title, rows in (("Training genome, held-out contigs", trained),
                        ("Genomes not trained on (prokaryote-like gene structure)", cross),
                        ("Eukaryotic fragment (genes with introns; reported apart)", eukaryote)):
        if rows:
            lines += [f"## {title}", "", *table(rows), ""]
    lines += ["## Provenance", "", f"- command: `{info['command']}`", f"- commit: `{info['commit']}`",
              f"- date (UTC): {info['utc']}", f"- device: {info['device']}",
              "- versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items())]
    lines += [f"- checkpoint `{k}`: `{v['path']}` (sha256 {v['sha256'][:16]}...)" for k, v in
              info["checkpoints"].items()]
    lines += [f"- {k}: {v}" for k, v in info.items() if k not in
              ("command", "commit", "utc", "device", "versions", "checkpoints")]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.cross_genome", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", type=Path, help="genoattn checkpoint to evaluate")
    what.add_argument("--config", action="append", help="train with these genoattn.train configs first")
    p.add_argument("--out", type=Path, required=True, help="report folder (e.g. benchmarks/cross_genome/NAME)")
    p.add_argument("--genomes", type=Path, default=DEFAULT_MANIFEST, help="genome manifest (genomes.yaml)")
    p.add_argument("--name", help="the model's name in the report (default: the --out folder's name)")
    p.add_argument("--work", type=Path, help="tracks, inputs and training runs (default runs/cross_genome/NAME)")
    p.add_argument("--cnn", type=Path, default=DEFAULT_CNN, help="CNN baseline checkpoint (default: committed)")
    p.add_argument("--no-cnn", dest="cnn", action="store_const", const=None, help="leave the CNN baseline out")
    p.add_argument("--rc", action=argparse.BooleanOptionalAction, default=True,
                   help="average each window with its reverse complement (default on)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--batch-size", type=int, help="windows per model call (default 64 on CUDA, 8 on CPU)")
    p.add_argument("--decimals", type=int, default=4, help="decimals of the track probabilities (4)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> dict[str, dict[str, dict]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in the report's provenance
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        return run(args)
    except GenoattnError as exc:
        print(f"pipelines.cross_genome: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def run(args: argparse.Namespace) -> dict[str, dict[str, dict]]:
    import torch

    from genoattn.inference.options import PredictOptions
    from genoattn.inference.runner import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    model = args.name or args.out.name
    work = args.work or REPO / "runs" / "cross_genome" / model
    if args.cnn is not None and not args.cnn.is_file():
        raise InputError(f"{args.cnn}: CNN baseline checkpoint not found (train it: see configs/baselines/cnn.yaml; "
                         "or pass --no-cnn)")
    targets = scored_targets(read_manifest(args.genomes))
    checkpoint = args.checkpoint or train(args.config, work)
    device = resolve_device(args.device)
    options = PredictOptions(batch_size=args.batch_size or (64 if device.type == "cuda" else 8), device=str(device),
                             rc=args.rc, bed=False, decimals=args.decimals, progress=not args.quiet)
    options.check()
    results = {model: run_method(model, targets, lambda: predict_scores(checkpoint, targets, work / model, options))}
    checkpoints = {model: checkpoint}
    results[ORF] = run_method(ORF, targets, lambda: orf_scores(targets))
    if args.cnn is not None:
        results[CNN] = run_method(CNN, targets, lambda: predict_scores(args.cnn, targets, work / CNN, options))
        checkpoints[CNN] = args.cnn
    info = provenance(device, checkpoints, args.argv)
    info["torch_threads"] = torch.get_num_threads()
    info["reverse_complement_averaged"] = bool(args.rc)
    if args.config:
        info["trained_with"] = args.config
    write_report(args.out, model, targets, results, info)
    print((args.out / "report.md").read_text())
    return results


if __name__ == "__main__":
    main()
