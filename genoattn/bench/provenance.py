"""Where a benchmark result came from: command line, git commit, device, library versions, date.

The one home of the record's format (``provenance``) and of where it lives beside a results file (``sidecar``,
``provenance_of``): ``<name>.provenance.json`` beside ``<name>.<ext>``, a ``provenance.json`` in the results'
folder or a folder above it (one record for a whole run's files), or the record inside a results JSON under
``provenance`` (or ``meta``). A record recovered after the fact (``recovered``) names its sources and writes
"unknown" for what they do not say.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
UNKNOWN = "unknown"
FIELDS = ("command", "commit", "device", "cuda", "versions", "utc")
REQUIRED = ("command", "commit", "device")  # what a record must name to count as one
FOLDER_FILE = "provenance.json"
SUFFIX = ".provenance.json"


def git_commit(repo: Path = REPO) -> str:
    """The checkout's commit (with '+dirty' when tracked files differ from it); 'unknown' outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()})"


def provenance(device: torch.device, command: str | None = None) -> dict:
    """A JSON-able record of the run: command (this process's command line unless given), commit, device,
    numpy/torch/triton/lightning versions, UTC time."""
    versions: dict[str, str | None] = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("numpy", "triton", "pytorch_lightning"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = None
    return {
        "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "commit": git_commit(),
        "device": device_name(device),
        "cuda": torch.version.cuda,
        "versions": versions,
        "utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def machine() -> dict:
    """The host beside the device: platform, CPU count, 1-minute load average (None where the OS has none)."""
    try:
        load: float | None = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = None
    return {"platform": platform.platform(), "cpu_count": os.cpu_count(), "load_average_1min": load}


def recovered(results: str | list[str], sources: str, **fields) -> dict:
    """A record written after the run from what its files and git say (``sources``); fields not given are
    "unknown", never guessed."""
    record: dict = {"results": results, "recovered_from": sources}
    for name in FIELDS:
        record[name] = fields.pop(name, UNKNOWN)
    return record | fields


def sidecar(results: Path) -> Path:
    """``<name>.provenance.json`` beside ``<name>.<ext>``."""
    results = Path(results)
    return results.with_name(results.with_suffix("").name + SUFFIX)


def write_provenance(results: Path, record: dict) -> Path:
    """Write ``record`` (naming ``results``) as the results file's sidecar; return its path."""
    path = sidecar(results)
    path.write_text(json.dumps({"results": Path(results).name, **record}, indent=2) + "\n")
    return path


def is_provenance_file(path: Path) -> bool:
    return path.name == FOLDER_FILE or path.name.endswith(SUFFIX)


def embedded(path: Path) -> dict | None:
    """The record a results JSON holds under ``provenance`` or ``meta``, if it names command, commit and device."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    for key in ("provenance", "meta"):
        record = data.get(key) if isinstance(data, dict) else None
        if isinstance(record, dict) and all(record.get(name) for name in REQUIRED):
            return record
    return None


def provenance_of(results: Path, root: Path) -> Path | None:
    """The JSON that holds a results file's provenance: the file itself (an embedded record), its sidecar, a
    ``provenance.json`` in its folder or a folder above it up to ``root``, or another JSON of its folder with an
    embedded record; None when none does."""
    results = Path(results)
    if results.suffix == ".json" and embedded(results):
        return results
    if sidecar(results).is_file():
        return sidecar(results)
    for folder in [results.parent, *results.parent.parents]:
        if (folder / FOLDER_FILE).is_file():
            return folder / FOLDER_FILE
        if folder == Path(root):
            break
    for other in sorted(results.parent.glob("*.json")):
        if not is_provenance_file(other) and embedded(other):
            return other
    return None
