"""genoattn's settings from the environment, parsed in this one module.

Every environment variable genoattn reads is a field of :class:`Settings` (the README's settings table lists them).
``current_settings()`` is what code asks: the settings given to ``use_settings`` when one is active, else the
environment parsed afresh (cheap; a variable set before a call takes effect). Code and tests that want particular
settings pass a ``Settings`` explicitly or run under ``use_settings(...)`` instead of editing ``os.environ``.

The Triton launch constants (``genoattn.attention.kernels.launch``, ``backends/triton_band``) take their values once,
when those modules are imported: set those variables (or ``use_settings``) before importing them. Triton reads
``TRITON_INTERPRET`` itself when it is imported; genoattn only mirrors it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from genoattn.errors import ConfigError

NOTEBOOK_SIZES: tuple[str, ...] = ("tiny", "full")
ATOMIC_DQ_MODES: tuple[str, ...] = ("0", "1", "auto")
_DYNAMIC = {"true": True, "1": True, "false": False, "0": False}  # GENOATTN_FLEX_DYNAMIC; anything else: auto


def _variable(name: str, doc: str):
    """A dataclass field's metadata: the environment variable that sets it and what it does (README table)."""
    return {"variable": name, "doc": doc}


@dataclass(frozen=True)
class Settings:
    """Every setting genoattn takes from the environment (defaults: the variable unset)."""

    triton_interpret: bool = field(default=False, metadata=_variable(
        "TRITON_INTERPRET", "`1`: Triton kernels run on CPU in Triton's interpreter (the tests; slow)"))
    triton_tune: bool = field(default=True, metadata=_variable(
        "GENOATTN_TRITON_BAND_TUNE", "`0`: the Triton backends take each kernel's first tile configuration "
        "instead of autotuning per shape"))
    triton_fast_launch: bool = field(default=True, metadata=_variable(
        "GENOATTN_TRITON_BAND_FAST_LAUNCH", "`0`: every Triton launch goes through Triton's JIT dispatcher "
        "(default: a tuned shape launches its compiled kernel directly)"))
    triton_band_atomic_dq: str = field(default="0", metadata=_variable(
        "GENOATTN_TRITON_BAND_ATOMIC_DQ", "band backward's dQ: `0` its own kernel (deterministic, default), "
        "`1` float32 atomic adds, `auto` what `python -m genoattn.bench.band_dq` measured faster for the shape in "
        "this process (else its own kernel)"))
    flex_narrow: bool = field(default=False, metadata=_variable(
        "GENOATTN_FLEX_NARROW", "`1`: narrow FlexAttention BlockMask index tensors (needs a torch that "
        "addresses them by stride)"))
    flex_dynamic: bool | None = field(default=None, metadata=_variable(
        "GENOATTN_FLEX_DYNAMIC", "`true`/`false`/`auto`: torch.compile's `dynamic` for FlexAttention on CUDA "
        "(default auto)"))
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "genoattn", metadata=_variable(
        "GENOATTN_CACHE", "folder for decompressed genomes and indexes of read-only FASTA files "
        "(default `~/.cache/genoattn`)"))
    notebook_size: str | None = field(default=None, metadata=_variable(
        "GENOATTN_NOTEBOOK_SIZE", "`tiny` runs the analysis notebooks in seconds (the test suite), `full` "
        "(default) the real figures"))
    notebook_workdir: Path | None = field(default=None, metadata=_variable(
        "GENOATTN_NOTEBOOK_WORKDIR", "where the notebooks keep what they make (default `runs/notebooks`)"))
    compare_dir: Path | None = field(default=None, metadata=_variable(
        "GENOATTN_COMPARE_DIR", "results folder the comparison notebook reads (default `benchmarks/compare`)"))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings ``environ`` (default ``os.environ``) asks for; ConfigError names a variable with a bad
        value."""
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            value = env.get(name)
            return None if value is None or not value.strip() else value.strip().lower()

        def path(name: str) -> Path | None:
            value = env.get(name)
            return Path(value).expanduser() if value else None

        size = text("GENOATTN_NOTEBOOK_SIZE")
        if size is not None and size not in NOTEBOOK_SIZES:
            raise ConfigError(f"GENOATTN_NOTEBOOK_SIZE={size!r}: expected one of {', '.join(NOTEBOOK_SIZES)}")
        return cls(
            triton_interpret=env.get("TRITON_INTERPRET") == "1",
            triton_tune=env.get("GENOATTN_TRITON_BAND_TUNE", "1") != "0",
            triton_fast_launch=env.get("GENOATTN_TRITON_BAND_FAST_LAUNCH", "1") != "0",
            triton_band_atomic_dq=text("GENOATTN_TRITON_BAND_ATOMIC_DQ") or "0",
            flex_narrow=text("GENOATTN_FLEX_NARROW") in ("1", "true", "yes"),
            flex_dynamic=_DYNAMIC.get(text("GENOATTN_FLEX_DYNAMIC") or "auto"),
            cache_dir=path("GENOATTN_CACHE") or Path.home() / ".cache" / "genoattn",
            notebook_size=size,
            notebook_workdir=path("GENOATTN_NOTEBOOK_WORKDIR"),
            compare_dir=path("GENOATTN_COMPARE_DIR"),
        )

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Environment variable -> what it does, for every setting (the README's table)."""
        return {f.metadata["variable"]: f.metadata["doc"] for f in fields(cls)}


_active: list[Settings] = []  # the settings of the innermost use_settings block


def current_settings() -> Settings:
    """The settings in force: those of the innermost ``use_settings`` block, else the environment's."""
    return _active[-1] if _active else Settings.from_environ()


@contextmanager
def use_settings(settings: Settings | None = None, **changes) -> Iterator[Settings]:
    """Run a block under ``settings`` (default: the current ones) with ``changes`` applied to named fields."""
    chosen = replace(settings or current_settings(), **changes)
    _active.append(chosen)
    try:
        yield chosen
    finally:
        _active.pop()
