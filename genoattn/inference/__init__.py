"""Batch prediction over FASTA files (``python -m genoattn.predict``): tiling and stitching, model runs,
bigWig/bedGraph/BED/TSV writers with atomic completion, resume, regions; ``predict_genome`` for arrays in memory.

Names are imported lazily, so the writer modules load without torch (the bigWig builder's child process)."""

from __future__ import annotations

from genoattn.lazy import lazy_names

_EXPORTS = {
    "RegionScores": "api",
    "predict_genome": "api",
    "predict_files": "files",
    "ModelInfo": "model",
    "load_model": "model",
    "receptive_field": "model",
    "PredictOptions": "options",
    "RunReport": "runs",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_names("genoattn.inference", _EXPORTS)
