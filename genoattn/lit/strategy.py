"""Data parallelism x context parallelism: DDP whose ranks form groups that share each sequence.

With ``context_parallel = C`` and ``W`` processes (``trainer.devices x trainer.num_nodes``), ranks ``k*C ..
k*C + C - 1`` form context-parallel group ``k``: they get the same batches and each runs its shard of every
sequence (genoattn.models.GenomeTransformer.enable_context_parallel). The ``W / C`` groups split the data among
themselves as DDP's ranks would. DDP still averages the gradients over all ``W`` ranks, which the module's loss
scaling accounts for (genoattn.lit.module.GenomeLitModule.step_loss).
"""

from __future__ import annotations

import torch.distributed as dist
from pytorch_lightning.strategies import DDPStrategy

from genoattn.errors import ConfigError


class ContextParallelDDP(DDPStrategy):
    """DDP that splits the data over the context-parallel groups, not over the ranks."""

    def __init__(self, context_parallel: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.context_parallel = int(context_parallel)

    @property
    def distributed_sampler_kwargs(self) -> dict:
        world = self.num_nodes * self.num_processes
        return {"num_replicas": world // self.context_parallel, "rank": self.global_rank // self.context_parallel}


def check_world(world: int, context_parallel: int) -> None:
    """One-line ConfigError unless ``world`` processes split into whole context-parallel groups."""
    if world % context_parallel:
        raise ConfigError(f"model.context_parallel={context_parallel} must divide the number of processes "
                          f"(trainer.devices x trainer.num_nodes = {world})")


def context_parallel_group(context_parallel: int) -> dist.ProcessGroup | None:
    """This rank's group of ``context_parallel`` consecutive ranks (every rank creates every group, in order, as
    torch.distributed requires); None without a process group."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    world, rank = dist.get_world_size(), dist.get_rank()
    check_world(world, context_parallel)
    groups = [dist.new_group(list(range(first, first + context_parallel)))
              for first in range(0, world, context_parallel)]
    return groups[rank // context_parallel]


def context_parallel_strategy(strategy: object, context_parallel: int) -> ContextParallelDDP:
    """The trainer's strategy for a context-parallel model: ``ddp`` (or ``auto``) becomes ContextParallelDDP;
    anything else is a one-line ConfigError."""
    if isinstance(strategy, ContextParallelDDP):
        return strategy
    if strategy not in (None, "auto", "ddp"):
        raise ConfigError(f"trainer.strategy: a context-parallel model (model.context_parallel={context_parallel}) "
                          f"trains with ddp, got {strategy!r}")
    return ContextParallelDDP(context_parallel)


def requested_processes(devices: object, num_nodes: int | str | None) -> int | None:
    """Processes a trainer's ``devices`` x ``num_nodes`` asks for; None when only the machine can tell (auto, -1)."""
    if isinstance(devices, (list, tuple)):
        count = len(devices)
    elif isinstance(devices, int) or (isinstance(devices, str) and devices.isdigit()):
        count = int(devices)
    else:
        return None
    return count * int(num_nodes or 1) if count > 0 else None
