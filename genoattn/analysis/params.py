"""The notebooks' size parameter and where the repository is.

``GENOATTN_NOTEBOOK_SIZE=tiny`` (what the test suite sets) runs every notebook in seconds; ``full`` (default)
shows the real figures. Each notebook maps the size to its own numbers in its parameter cell.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from genoattn.errors import ConfigError

SIZES: tuple[str, ...] = ("tiny", "full")
SIZE_VARIABLE = "GENOATTN_NOTEBOOK_SIZE"
WORK_DIR_VARIABLE = "GENOATTN_NOTEBOOK_WORKDIR"  # where notebooks keep what they make (default REPO/runs/notebooks)


def notebook_size(default: str = "full") -> str:
    """The size from ``GENOATTN_NOTEBOOK_SIZE`` ('tiny' or 'full'); ConfigError for anything else."""
    size = os.environ.get(SIZE_VARIABLE, default).strip().lower()
    if size not in SIZES:
        raise ConfigError(f"{SIZE_VARIABLE}={size!r}: expected one of {', '.join(SIZES)}")
    return size


def repo_root(start: Path | None = None) -> Path:
    """The genoattn checkout holding ``start`` (default: the working directory): the nearest folder upwards with
    a pyproject.toml and a benchmarks/ folder."""
    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        if (folder / "pyproject.toml").exists() and (folder / "benchmarks").is_dir():
            return folder
    raise ConfigError(f"{here}: not inside a genoattn checkout (no pyproject.toml with benchmarks/ above it); "
                      "start the notebook from the repository's notebooks/ folder")


def work_dir(repo: Path) -> Path:
    """Folder for what the notebooks make (trained checkpoints, predictions): ``GENOATTN_NOTEBOOK_WORKDIR`` or
    REPO/runs/notebooks (git-ignored); created."""
    folder = Path(os.environ.get(WORK_DIR_VARIABLE) or repo / "runs" / "notebooks")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


PATH_KEYS = ("fasta", "annotation", "predict_fasta", "motifs")  # data arguments that name files


def config_data(repo: Path, config: str | Path) -> dict:
    """The ``data:`` section of a training config (e.g. configs/quickstart.yaml) with its file paths made absolute
    (configs name them relative to the repository)."""
    path = repo / config
    try:
        data = dict((yaml.safe_load(path.read_text()) or {}).get("data") or {})
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        raise ConfigError(f"{path}: cannot read the config's data section: {exc}") from exc
    for key in PATH_KEYS:
        if data.get(key) and not Path(data[key]).is_absolute():
            data[key] = str(repo / data[key])
    return data
