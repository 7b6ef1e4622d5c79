"""Batch prediction over FASTA files (``python -m genoattn.predict``): tiling and stitching, model runs,
bigWig/bedGraph/BED/TSV writers with atomic completion, resume, regions; ``predict_genome`` for arrays in memory."""

from genoattn.inference.api import RegionScores, predict_genome
from genoattn.inference.files import predict_files
from genoattn.inference.model import ModelInfo, load_model, receptive_field
from genoattn.inference.options import PredictOptions
from genoattn.inference.runs import RunReport

__all__ = ["ModelInfo", "PredictOptions", "RegionScores", "RunReport", "load_model", "predict_files",
           "predict_genome", "receptive_field"]
