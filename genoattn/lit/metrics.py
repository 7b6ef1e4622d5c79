"""Per-task metric collections (torchmetrics), updated on flattened, ignore-filtered predictions."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryAveragePrecision,
    BinaryF1Score,
    BinaryMatthewsCorrCoef,
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassAveragePrecision,
    MulticlassF1Score,
    MulticlassMatthewsCorrCoef,
)
from torchmetrics.regression import MeanSquaredError, PearsonCorrCoef

from genoattn.data.vocab import IGNORE_INDEX


def build_metrics(task: str, num_classes: int) -> MetricCollection:
    """Accuracy, AUROC, AUPRC, MCC and F1 for classification; MSE and Pearson r for regression."""
    if task == "regression":
        return MetricCollection({"mse": MeanSquaredError(), "pearson": PearsonCorrCoef()})
    if num_classes == 2:
        return MetricCollection(
            {
                "acc": BinaryAccuracy(),
                "auroc": BinaryAUROC(),
                "auprc": BinaryAveragePrecision(),
                "mcc": BinaryMatthewsCorrCoef(),
                "f1": BinaryF1Score(),
            }
        )
    if task == "mlm":  # AUROC over a vocabulary is not informative; keep accuracy only
        return MetricCollection({"acc": MulticlassAccuracy(num_classes, average="micro")})
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "auroc": MulticlassAUROC(num_classes),
            "auprc": MulticlassAveragePrecision(num_classes),
            "mcc": MulticlassMatthewsCorrCoef(num_classes),
            "f1": MulticlassF1Score(num_classes, average="macro"),
        }
    )


def metric_inputs(task: str, logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Flatten model outputs and labels into what the metrics take, dropping IGNORE_INDEX positions.

    logits: [B, L, C] or [B, C] (classification) or [B] (regression); labels: [B, L] or [B].
    Returns (preds, target): binary -> probability of class 1 [N]; multiclass -> probabilities [N, C];
    regression -> values [N].
    """
    if task == "regression":
        return logits.float().reshape(-1), labels.float().reshape(-1)
    num_classes = logits.shape[-1]
    flat_logits = logits.reshape(-1, num_classes).float()  # [N, C]
    flat_labels = labels.reshape(-1)  # [N]
    keep = flat_labels != IGNORE_INDEX
    probs = torch.softmax(flat_logits[keep], dim=-1)
    target = flat_labels[keep]
    if num_classes == 2:
        return probs[:, 1], target
    return probs, target
