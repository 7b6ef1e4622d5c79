"""The notebooks' size parameter and where the repository is.

The setting ``notebook_size`` (``GENOATTN_NOTEBOOK_SIZE=tiny``, what the test suite sets) runs every notebook in
seconds; ``full`` (default) shows the real figures. Each notebook maps the size to its own numbers in its
parameter cell.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from genoattn.errors import ConfigError
from genoattn.settings import NOTEBOOK_SIZES, Settings, current_settings


def notebook_size(default: str = "full", settings: Settings | None = None) -> str:
    """The size from the setting ``notebook_size`` (``GENOATTN_NOTEBOOK_SIZE``: 'tiny' or 'full'; ``default``
    when unset); ConfigError for anything else."""
    size = (settings or current_settings()).notebook_size or default
    if size not in NOTEBOOK_SIZES:
        raise ConfigError(f"GENOATTN_NOTEBOOK_SIZE={size!r}: expected one of {', '.join(NOTEBOOK_SIZES)}")
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


def work_dir(repo: Path, settings: Settings | None = None) -> Path:
    """Folder for what the notebooks make (trained checkpoints, predictions): the setting ``notebook_workdir``
    (``GENOATTN_NOTEBOOK_WORKDIR``) or REPO/runs/notebooks (git-ignored); created."""
    folder = (settings or current_settings()).notebook_workdir or repo / "runs" / "notebooks"
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
