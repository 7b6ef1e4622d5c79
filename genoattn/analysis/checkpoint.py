"""The checkpoint the prediction and attention notebooks analyse: the shipped model, else one trained on the spot.

The shipped model is a ``*.ckpt`` under REPO/models/ (described in models/README.md). Without one, the quickstart
config is trained briefly through ``genoattn.train`` (tiny: 20 steps of a 2-layer model, seconds; full: 600 steps
of the quickstart model, a few minutes on two CPU cores) into the notebooks' work folder; a finished run is
reused by every notebook that asks for the same one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from genoattn.analysis.params import PATH_KEYS, config_data
from genoattn.errors import ConfigError

QUICKSTART = Path("configs") / "quickstart.yaml"
# Overrides of the quickstart config per notebook size (CLI keys of genoattn.train).
TRAINING: dict[str, dict[str, object]] = {
    "tiny": {"trainer.max_steps": 20, "trainer.num_sanity_val_steps": 0, "data.window": 1024, "data.batch_size": 4,
             "data.eval_context": 0, "model.warmup_steps": 5, "model.net.init_args.num_layers": 2,
             "model.net.init_args.d_model": 32, "model.net.init_args.stem_hidden": 64},
    "full": {"trainer.max_steps": 600, "trainer.limit_val_batches": 0, "trainer.num_sanity_val_steps": 0,
             "checkpoint.monitor": None},  # the last state is analysed: no validation passes
}
QUIET = {"trainer.max_time": None, "trainer.enable_progress_bar": False, "trainer.enable_model_summary": False,
         "trainer.logger": False, "run_test": False}
DONE = "finished.json"  # written after training returns: a folder without it is an interrupted run


@dataclass(frozen=True)
class AnalysisCheckpoint:
    """A checkpoint and where it came from (``shipped``: REPO/models; else trained here); ``name`` is short (for
    plot titles), ``description`` a sentence."""

    path: Path
    shipped: bool
    name: str
    description: str


def shipped_checkpoint(repo: Path) -> Path | None:
    """The most recently written ``*.ckpt`` under REPO/models/, or None."""
    found = sorted((repo / "models").glob("**/*.ckpt"), key=lambda p: (p.stat().st_mtime, str(p)))
    return found[-1] if found else None


def _flag(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def training_arguments(repo: Path, config: Path, overrides: dict[str, object], out: Path) -> list[str]:
    """genoattn.train arguments: the config, its data files made absolute (they are relative to the repository),
    the overrides, and outputs under ``out``."""
    args = ["--config", str(repo / config)]
    for key, value in config_data(repo, config).items():
        if key in PATH_KEYS:
            args += [f"--data.{key}", value]
    for key, value in {**QUIET, **overrides}.items():
        args += [f"--{key}", _flag(value)]
    return args + ["--trainer.default_root_dir", str(out), "--checkpoint.dirpath", str(out / "checkpoints")]


def trained_checkpoint(repo: Path, work_dir: Path, overrides: dict[str, object], config: Path = QUICKSTART) -> Path:
    """Train ``config`` with ``overrides`` into work_dir/NAME-HASH (or reuse a finished run there); last.ckpt."""
    key = hashlib.sha1(json.dumps([str(config), overrides], sort_keys=True, default=str).encode()).hexdigest()[:10]
    out = work_dir / f"{config.stem}-{key}"
    last = out / "checkpoints" / "last.ckpt"
    if (out / DONE).exists() and last.exists():
        return last
    from genoattn.train import run

    lightning = logging.getLogger("pytorch_lightning")
    level = lightning.level
    lightning.setLevel(logging.WARNING)  # no device banners and tips in the notebook
    try:
        run(training_arguments(repo, config, overrides, out))
    finally:
        lightning.setLevel(level)
    if not last.exists():
        raise ConfigError(f"{out}: training finished without writing {last.name}")
    (out / DONE).write_text(json.dumps({"config": str(config), "overrides": overrides}, default=str) + "\n")
    return last


def analysis_checkpoint(repo: Path, size: str, work_dir: Path) -> AnalysisCheckpoint:
    """The shipped model if REPO/models holds one, else the quickstart trained for the notebook ``size``."""
    shipped = shipped_checkpoint(repo)
    if shipped is not None:
        return AnalysisCheckpoint(shipped, True, f"shipped model {shipped.name}",
                                  f"shipped model {shipped.relative_to(repo)}")
    if size not in TRAINING:
        raise ConfigError(f"notebook size {size!r}: expected one of {', '.join(TRAINING)}")
    overrides = TRAINING[size]
    path = trained_checkpoint(repo, work_dir, overrides)
    steps = overrides["trainer.max_steps"]
    caveat = {"tiny": "a 2-layer model after a few batches: its figures show the method, not a good model",
              "full": "a third of make quickstart's 1,800 steps"}.get(size, f"{size} size")
    return AnalysisCheckpoint(path, False, f"quickstart trained {steps} steps",
                              f"no shipped model in models/: the quickstart config trained here for {steps} steps "
                              f"({caveat})")
