"""The LightningModule: loss per task, AdamW with warm-up + cosine decay, per-split metrics."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.strategies import FSDPStrategy
from torch import Tensor, nn
from torchmetrics import MetricCollection

from genoattn.data.vocab import IGNORE_INDEX
from genoattn.errors import ConfigError
from genoattn.lit.metrics import build_metrics, metric_inputs
from genoattn.lit.strategy import context_parallel_group
from genoattn.models.transformer import GenomeTransformer
from genoattn.tasks import TASKS


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN/inf loss; raised before any checkpoint of the broken state is written."""


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float) -> Callable[[int], float]:
    """Multiplier of the base learning rate: linear warm-up, then cosine decay to ``min_ratio``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


class GenomeLitModule(pl.LightningModule):
    """Trains any genoattn network on a genomic task.

    Args:
        net: the network; ``net(input_ids [B, L])`` returns logits [B, L, C] (token tasks), [B, C]
            (sequence classification) or [B] (regression).
        task: one of token_classification, sequence_classification, regression, mlm.
        class_weights: optional cross-entropy weight per class.
        lr: peak learning rate of AdamW.
        weight_decay: AdamW weight decay (not applied to biases and norms).
        betas: AdamW betas.
        warmup_steps: linear warm-up steps.
        min_lr_ratio: final learning rate as a fraction of ``lr`` after cosine decay.
        rc_average_eval: average forward and reverse-complement predictions in val/test/predict.
        site_loss_weight: weight of the auxiliary per-base site loss when the batches carry ``site_labels`` and
            the network has a site head (``GenomeTransformer(site_classes=...)``); added to the task's loss.
        compile: run the network under ``torch.compile`` (``nn.Module.compile``: in place, so checkpoints keep
            their keys); the attention kernels trace as custom ops. Off by default: the first steps compile.
        compile_backend: torch.compile's backend (``inductor``; ``aot_eager`` needs no C++ compiler).
    """

    class_weights: Tensor | None  # buffer [C], or None

    def __init__(
        self,
        net: nn.Module,
        task: str = "token_classification",
        class_weights: list[float] | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        betas: tuple[float, float] = (0.9, 0.98),
        warmup_steps: int = 100,
        min_lr_ratio: float = 0.05,
        rc_average_eval: bool = False,
        site_loss_weight: float = 1.0,
        compile: bool = False,
        compile_backend: str = "inductor",
    ) -> None:
        super().__init__()
        if task not in TASKS:
            raise ConfigError(f"model.task: expected one of {TASKS}, got {task!r}")
        self.save_hyperparameters(ignore=["net", "compile", "compile_backend"])  # how to run, not what was trained
        self.net = net
        self.task = task
        self.num_classes = 1 if task == "regression" else int(getattr(net, "num_classes", 0) or 0)
        weights = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.register_buffer("class_weights", weights, persistent=False)
        if task != "regression" and self.num_classes < 2:
            raise ConfigError(f"model.net: a {task} network needs num_classes >= 2")
        self.context_parallel = int(getattr(net, "context_parallel", 1))
        self.site_loss_weight = site_loss_weight
        if self.context_parallel > 1 and rc_average_eval:
            raise ConfigError("model.rc_average_eval: the reverse-complement pass of a context-parallel model would "
                              "hold other positions on each rank; set it false (or context_parallel 1)")
        self.val_metrics = build_metrics(task, self.num_classes).clone(prefix="val/")
        self.test_metrics = build_metrics(task, self.num_classes).clone(prefix="test/")
        self.genome_metrics = nn.ModuleDict()  # split -> one collection per genome (several genomes only)
        self._genomes_seen: dict[str, set[int]] = {"val": set(), "test": set()}
        if compile:
            if self.context_parallel > 1:
                raise ConfigError("model.compile: a context-parallel network exchanges halos between processes "
                                  "in Python; train it uncompiled (compile false)")
            self.net.compile(backend=compile_backend)

    def setup(self, stage: str) -> None:
        """With a data module of several genomes (``genome_names``), metrics per genome and split; a
        context-parallel network starts sharding over its group of processes (genoattn.lit.strategy; not for
        predict: whole sequences)."""
        if self.context_parallel > 1 and not self.net.sharded and stage != "predict":  # own groups beside DDP's
            assert isinstance(self.net, GenomeTransformer)  # the network with context_parallel
            self.net.enable_context_parallel(context_parallel_group(self.context_parallel))
        data = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        names = list(getattr(data, "genome_names", None) or [])
        if len(names) < 2 or len(self.genome_metrics):
            return
        for split in ("val", "test"):
            self.genome_metrics[split] = nn.ModuleList(
                build_metrics(self.task, self.num_classes).clone(prefix=f"{split}/{name}/") for name in names)

    # ----- forward and loss -----
    def forward(self, input_ids: Tensor) -> Tensor:
        return self.net(input_ids)

    def predict_logits(self, input_ids: Tensor) -> Tensor:
        """Logits for evaluation, averaged with the reverse-complement pass when configured."""
        if self.hparams["rc_average_eval"] and self.task != "mlm":
            from genoattn.models.rc import rc_average

            return rc_average(self.net, input_ids, task=self.task)
        return self.net(input_ids)

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        if self.task == "regression":
            return F.mse_loss(logits.float().reshape(-1), labels.float().reshape(-1))
        return F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            labels.reshape(-1),
            weight=self.class_weights,
            ignore_index=IGNORE_INDEX,
        )

    def step_loss(self, logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(loss to backpropagate, loss to log, this rank's labels) of a batch's logits.

        A sharded network's logits cover this rank's nucleotides only: the loss is this shard's share of the whole
        batch's mean (its summed loss over the whole batch's label count or class weight, known from the full
        labels every rank holds), times the group size because DDP averages the gradients over the ranks; the
        logged loss is the shares' sum, the whole batch's mean."""
        if not getattr(self.net, "sharded", False):
            loss = self.loss(logits, labels)
            return loss, loss, labels
        assert isinstance(self.net, GenomeTransformer)  # the network that shards
        lo, hi = self.net.output_range(labels.shape[-1])
        valid = labels != IGNORE_INDEX
        weight = self.class_weights[labels[valid]].sum() if self.class_weights is not None else valid.sum()
        local = labels[:, lo:hi]
        summed = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), local.reshape(-1),
                                 weight=self.class_weights, ignore_index=IGNORE_INDEX, reduction="sum")
        share = summed / weight.clamp_min(1e-12)
        logged = share.detach().clone()
        torch.distributed.all_reduce(logged, group=self.net.group)
        return share * self.context_parallel, logged, local

    def on_fit_start(self) -> None:
        """Fail at start-up, with one clear line, when the attention cannot run on this device/length.

        One forward pass with gradients on a dummy window of the configured length makes every layer's
        backend choice (``attend`` raises BackendUnavailableError naming the reason) before any real step.
        """
        if isinstance(self.trainer.strategy, FSDPStrategy):  # sharded parameters: the net runs only in the steps
            return
        data = getattr(self.trainer, "datamodule", None)
        window = getattr(data, "tokens_per_window", None) or getattr(data, "window", None)
        if not window:
            return
        from genoattn.data.vocab import A

        dummy = torch.full((1, int(window)), A, dtype=torch.long, device=self.device)
        was_training = self.net.training
        self.net.eval()  # no dropout, no EMA/redraw side effects in modules that update in training
        with torch.enable_grad():
            self.net(dummy)
        self.net.train(was_training)

    # ----- steps -----
    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        site_loss = None
        if "site_labels" in batch and isinstance(self.net, GenomeTransformer) and self.net.site_head is not None:
            logits, sites = self.net(batch["input_ids"], with_sites=True)  # [B, C], [B, N, S]
            targets = self.net.site_targets(batch["site_labels"])  # [B, N]
            site_loss = F.cross_entropy(sites.float().reshape(-1, sites.shape[-1]), targets.reshape(-1))
        else:
            logits = self.net(batch["input_ids"])
        loss, logged, _ = self.step_loss(logits, batch["labels"])
        if site_loss is not None:
            self.log("train/site_loss", site_loss, on_step=True, on_epoch=False, batch_size=len(logits))
            loss = loss + self.site_loss_weight * site_loss
        if not torch.isfinite(logged):
            raise NonFiniteLossError(
                f"loss became {loss.item()} at global step {self.global_step} (epoch {self.current_epoch}, "
                f"batch {batch_idx}); stopped before writing a checkpoint of this state. Try a lower lr, "
                "gradient clipping (trainer.gradient_clip_val) or fp32 precision."
            )
        self.log("train/loss", logged, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(logits))
        optimizer = self.optimizers()
        assert not isinstance(optimizer, list)  # configure_optimizers returns one optimizer
        self.log("train/lr", optimizer.param_groups[0]["lr"], on_step=True, on_epoch=False)
        return loss

    def _eval_step(self, batch: dict, metrics, split: str) -> None:
        logits = self.predict_logits(batch["input_ids"])
        _, loss, labels = self.step_loss(logits, batch["labels"])
        self.log(f"{split}/loss", loss, prog_bar=True, sync_dist=True, batch_size=len(logits))
        preds, target = metric_inputs(self.task, logits, labels)
        if target.numel():
            metrics.update(preds, target)
        if split in self.genome_metrics and "genome" in batch:
            for g in batch["genome"].unique().tolist():  # the rows of each genome of the batch
                rows = batch["genome"] == g
                preds, target = metric_inputs(self.task, logits[rows], labels[rows])
                if target.numel():
                    self._genome_collection(split, g).update(preds, target)
                    self._genomes_seen[split].add(g)

    def _log_genome_metrics(self, split: str) -> None:
        """Per-genome metrics of the genomes that had labelled data this epoch; all reset."""
        if split not in self.genome_metrics:
            return
        genomes = len(self._genome_collections(split))
        seen = torch.zeros(genomes, device=self.device)  # [genomes]
        seen[list(self._genomes_seen[split])] = 1.0
        seen = self.trainer.strategy.reduce(seen, reduce_op="sum")  # the same genomes on every rank
        for g in seen.nonzero().flatten().tolist():
            self.log_dict(self._genome_collection(split, g).compute(), sync_dist=True, batch_size=1)
        for g in range(genomes):
            self._genome_collection(split, g).reset()
        self._genomes_seen[split] = set()

    def _genome_collections(self, split: str) -> nn.ModuleList:
        """The per-genome metric collections of ``split`` (built by setup)."""
        collections = self.genome_metrics[split]
        assert isinstance(collections, nn.ModuleList)
        return collections

    def _genome_collection(self, split: str, genome: int) -> MetricCollection:
        collection = self._genome_collections(split)[genome]
        assert isinstance(collection, MetricCollection)
        return collection

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, self.val_metrics, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, self.test_metrics, "test")

    # Epoch metrics are logged once, so batch_size only spares Lightning guessing it from a batch (it warns when a
    # test stopped by TestTimeLimit leaves one behind).
    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.val_metrics.compute(), prog_bar=True, sync_dist=True, batch_size=1)
        self.val_metrics.reset()
        self._log_genome_metrics("val")

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.test_metrics.compute(), sync_dist=True, batch_size=1)
        self.test_metrics.reset()
        self._log_genome_metrics("test")

    def predict_step(self, batch: dict, batch_idx: int) -> Tensor:
        return self.predict_logits(batch["input_ids"])

    # ----- checkpoints -----
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Store what prediction needs to rebuild the network without this module (genoattn.lit.checkpoint)."""
        from genoattn.lit.checkpoint import build_record

        data = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        checkpoint["genoattn"] = build_record(self.task, self.num_classes, self.net, data)

    # ----- optimisation -----
    def configure_optimizers(self):
        decay: list[nn.Parameter] = []
        no_decay: list[nn.Parameter] = []
        for name, param in self.net.named_parameters():
            if not param.requires_grad:
                continue
            (no_decay if param.ndim < 2 or "norm" in name else decay).append(param)
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": self.hparams["weight_decay"]},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=self.hparams["lr"],
            betas=tuple(self.hparams["betas"]),
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = min(self.hparams["warmup_steps"], max(0, total // 2))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, warmup_cosine(warmup, total, self.hparams["min_lr_ratio"])
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
