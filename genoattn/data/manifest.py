"""A genome manifest: the YAML list of annotated genomes that cross-genome evaluation and multi-genome training read.

The shipped one is ``data/genomes/genomes.yaml`` (:data:`DEFAULT_MANIFEST`); its header explains the fields.
Relative paths are resolved against the manifest's folder, so the file works from any working directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from genoattn.errors import InputError

DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "data" / "genomes" / "genomes.yaml"
ROLES = ("eval", "train")
GROUPS = ("prokaryote", "eukaryote")


@dataclass(frozen=True)
class ManifestGenome:
    """One genome of a manifest (paths absolute)."""

    name: str
    fasta: Path
    annotation: Path
    role: str
    feature_types: tuple[str, ...] = ("CDS",)
    group: str = "prokaryote"
    taxon: str = ""
    genetic_code: int = 11
    gc: float | None = None
    holdout_every: int | None = None
    """Train genomes only: score every n-th name-sorted contig as held out (the E. coli rule, n = 5)."""
    extra: dict = field(default_factory=dict, compare=False)
    """Keys of the entry that this class does not know (kept for tools that do)."""


def read_manifest(path: str | Path = DEFAULT_MANIFEST) -> list[ManifestGenome]:
    """Read and check a manifest; InputError (one line naming the file and entry) on any problem."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise InputError(f"{p}: cannot read the genome manifest ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{p}: not valid YAML ({' '.join(str(exc).split())})") from None
    entries = doc.get("genomes") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{p}: expected a mapping with a non-empty 'genomes' list")
    known = {f.name for f in fields(ManifestGenome)} - {"extra"}
    genomes: list[ManifestGenome] = []
    for i, entry in enumerate(entries):
        where = f"{p}: genomes[{i}]"
        if not isinstance(entry, dict):
            raise InputError(f"{where}: expected a mapping, got {type(entry).__name__}")
        missing = [k for k in ("name", "fasta", "annotation", "role") if not entry.get(k)]
        if missing:
            raise InputError(f"{where}: missing {', '.join(missing)}")
        where = f"{p}: genome {entry['name']!r}"
        if entry["role"] not in ROLES:
            raise InputError(f"{where}: role must be one of {ROLES}, got {entry['role']!r}")
        if entry.get("group", "prokaryote") not in GROUPS:
            raise InputError(f"{where}: group must be one of {GROUPS}, got {entry['group']!r}")
        every = entry.get("holdout_every")
        if every is not None and (not isinstance(every, int) or every < 2 or entry["role"] != "train"):
            raise InputError(f"{where}: holdout_every must be an integer >= 2 on a train genome, got {every!r}")
        args = {k: v for k, v in entry.items() if k in known}
        args["fasta"] = (p.parent / entry["fasta"]).resolve()
        args["annotation"] = (p.parent / entry["annotation"]).resolve()
        for key in ("fasta", "annotation"):
            if not args[key].is_file():
                raise InputError(f"{where}: {key} file {args[key]} not found")
        args["feature_types"] = tuple(entry.get("feature_types") or ("CDS",))
        genomes.append(ManifestGenome(**args, extra={k: v for k, v in entry.items() if k not in known}))
    names = [g.name for g in genomes]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"{p}: genome names used twice: {', '.join(repeated)}")
    return genomes
