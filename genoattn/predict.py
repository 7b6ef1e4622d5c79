"""Batch prediction on FASTA files: ``python -m genoattn.predict --checkpoint CKPT --fasta A.fa [...] --out DIR``.

Per-nucleotide (token classification) models write, per input ``STEM`` (file name without .fa/.gz...):
``STEM.bw`` (bigWig of the probability of the positive class per base, rounded to --decimals; for models with
more classes ``STEM.CLASS.bw`` per class; ``--bedgraph`` writes the same values as bedGraph text instead,
``STEM.bedGraph``) and ``STEM.bed`` (intervals where the probability >= --threshold, merged across gaps of at
most --merge-gap bases, at least --min-length long; BED6 with score = 1000 * mean probability). Window-level
models (sequence classification, regression) write ``STEM.tsv``: one row per window (or per record with
--per-record). Bases inside runs of N (at least --min-n-run) get no track value and are never called;
windows lying entirely inside them are not run.

--rc averages every window with its reverse complement (genoattn.models.rc.rc_average); the reverse strand
is read on the forward strand's patch grid, i.e. a contig whose length is not a multiple of the patch size is
averaged with the reverse complement of the contig padded with PAD to that multiple.

--regions predicts only some contigs or parts of them: ``CONTIG``, ``CONTIG:START-END`` (1-based, inclusive, as
samtools writes regions) or BED files, repeatable; outputs then cover those bases, in contig coordinates.

Contigs are tiled into the model's window with overlap and only each window's central part is kept, so the
tracks equal those of a single pass over a whole contig wherever the model's receptive field fits in the
context (it does by default for local attention patterns). Every output is written to a hidden partial file
and renamed when complete (a bigWig is assembled from its partial file of values then); ``--resume`` continues
an interrupted run (from inside a long contig too), giving byte-identical files. One run at a time writes into
an output folder (a second one stops with an error).

Exit status: 0 on success, 2 with a one-line message for bad inputs (unreadable/empty/non-DNA FASTA, a checkpoint
of another program, format or task, unknown contigs or coordinates in --regions, an output folder that cannot be
written or is in use, a full disk) or bad options.
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
from pathlib import Path

from genoattn.errors import GenoattnError

log = logging.getLogger("genoattn.predict")
# File-system errors reported as one line (a full disk, a quota, permissions, a read-only or vanished folder).
_FILE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.EIO}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m genoattn.predict",
        description="Run a trained genoattn model over every contig of FASTA files (plain, gzip or bgzip).",
    )
    io = p.add_argument_group("inputs and outputs")
    io.add_argument("--checkpoint", required=True, help="genoattn checkpoint (.ckpt) written by genoattn.train")
    io.add_argument("--fasta", required=True, nargs="+", help="FASTA files (plain, gzip, bgzip) or GenBank")
    io.add_argument("--out", required=True, help="output folder (created if missing)")
    io.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    io.add_argument("--bedgraph", dest="track", action="store_const", const="bedgraph", default="bigwig",
                    help="write the per-nucleotide track as bedGraph text instead of bigWig (the default)")
    io.add_argument("--no-track", "--no-bedgraph", dest="track", action="store_const", const="none",
                    help="no per-nucleotide track file (bigWig or bedGraph)")
    io.add_argument("--no-bed", dest="bed", action="store_false", help="no BED file of called intervals")
    io.add_argument("--cache-dir", help="genoattn cache for decompressed FASTA and indexes")
    io.add_argument("--regions", action="extend", nargs="+", default=[], metavar="REGION",
                    help="predict only these: CONTIG, CONTIG:START-END (1-based, inclusive) or a BED file; "
                    "repeatable (default: every contig)")
    tiling = p.add_argument_group("tiling")
    tiling.add_argument("--window", type=int, help="nucleotides per model window (default: training window)")
    tiling.add_argument("--context", type=int,
                        help="nucleotides dropped on each side of a window (default: the model's receptive field)")
    tiling.add_argument("--stride", type=int, help="window-level models: bases between windows (default: window)")
    tiling.add_argument("--per-record", action="store_true", help="window-level models: one TSV row per record")
    tiling.add_argument("--min-n-run", type=int, default=1, help="mask runs of at least this many N (default 1)")
    tiling.add_argument("--rc", action="store_true", help="average each window with its reverse complement")
    tiling.add_argument("--pad-short", action=argparse.BooleanOptionalAction, default=None,
                        help="run contigs shorter than the window padded with PAD to the full window, or not "
                        "(--no-pad-short: at their own length); default: as the checkpoint was trained "
                        "(data.short_contigs)")
    calls = p.add_argument_group("values and calls")
    calls.add_argument("--threshold", type=float, default=0.5, help="call bases with probability >= this (0.5)")
    calls.add_argument("--merge-gap", type=int, default=0, help="merge calls at most this many bases apart (0)")
    calls.add_argument("--min-length", type=int, default=1, help="drop calls shorter than this (1)")
    calls.add_argument("--decimals", type=int, default=3, help="decimals of written probabilities (3)")
    run = p.add_argument_group("running")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    run.add_argument("--devices", type=int, default=1,
                     help="GPUs (or CPU processes) through Lightning's predict loop; 1 = the single-process path")
    run.add_argument("--precision", default="auto", choices=["auto", "32", "bf16", "16"],
                     help="auto: bf16 autocast on CUDA, float32 on CPU")
    run.add_argument("--batch-size", type=int, help="windows per model call, >= 1 (default 64 on CUDA, 8 on CPU)")
    run.add_argument("--threads", type=int, help="CPU threads for torch")
    run.add_argument("--compile", action="store_true", help="torch.compile the model's blocks (experimental)")
    run.add_argument("--lightning", action="store_true", help=argparse.SUPPRESS)  # force the Lightning path
    run.add_argument("--quiet", action="store_true", help="no progress bar or notes")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s",
                        stream=sys.stderr)
    logging.getLogger("genoattn.attention").setLevel(logging.WARNING)
    try:
        return _run(args)
    except GenoattnError as exc:
        print(f"genoattn.predict: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in _FILE_ERRORS:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"genoattn.predict: error: {where}{exc.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"genoattn.predict: interrupted; finished contigs are recorded in {args.out}, rerun with --resume "
              "to continue", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    import torch

    from genoattn.inference.folder import is_main_process, output_folder

    if args.threads:
        torch.set_num_threads(args.threads)
    with output_folder(args.out, lock=is_main_process()):  # before loading anything; removed again if left empty
        report = _predict(args)
    if report is None:  # not the main process
        return 0
    for item in report.inputs:
        if item["skipped_complete"]:
            log.info("%s: already complete", item["fasta"])
            continue
        log.info("%s: %d contigs, %s bp in %.1f s -> %s", item["fasta"], item["contigs"], f"{item['bases']:,}",
                 item["seconds"], ", ".join(Path(o).name for o in item["outputs"]))
    log.info("%s bp in %.1f s: %.3g bp/s", f"{report.bases:,}", report.seconds, report.bases_per_second)
    return 0


def _predict(args: argparse.Namespace):
    from genoattn.inference.files import predict_files
    from genoattn.inference.model import load_model
    from genoattn.inference.options import PredictOptions
    from genoattn.inference.runner import resolve_device

    device = resolve_device(args.device)
    batch_size = args.batch_size if args.batch_size is not None else (64 if device.type == "cuda" else 8)
    options = PredictOptions(
        window=args.window, context=args.context, stride=args.stride, batch_size=batch_size, device=str(device),
        precision=args.precision, rc=args.rc, track=args.track, bed=args.bed, threshold=args.threshold,
        merge_gap=args.merge_gap, min_length=args.min_length, decimals=args.decimals, min_n_run=args.min_n_run,
        pad_short=args.pad_short,
        per_record=args.per_record, resume=args.resume, progress=not args.quiet, compile=args.compile,
        cache_dir=args.cache_dir, regions=tuple(args.regions),
    )
    options.check()
    net, info = load_model(args.checkpoint, window=args.window)
    options.check_outputs(info)
    if args.devices > 1 or args.lightning:
        from genoattn.inference.distributed import predict_files_lightning

        return predict_files_lightning(net, info, args.fasta, args.out, options, devices=args.devices)
    return predict_files(net, info, args.fasta, args.out, options)


if __name__ == "__main__":
    sys.exit(main())
