"""Which tokens each rank of a context-parallel group holds: ``Shards``, contiguous and in rank order."""

from __future__ import annotations

from dataclasses import dataclass

import torch.distributed as dist

from genoattn.errors import InputError


@dataclass(frozen=True)
class Shards:
    """A sequence of ``length`` tokens split over the ranks of ``group`` (None: the default group).

    ``bounds[r]`` is rank r's token range [start, end) (group ranks, ascending and contiguous; uneven splits are
    fine, empty ones are not); ``rank`` is this process's rank in the group.
    """

    bounds: tuple[tuple[int, int], ...]
    rank: int
    group: dist.ProcessGroup | None = None

    def __post_init__(self) -> None:
        edge = 0
        for start, end in self.bounds:
            if start != edge or end <= start:
                raise InputError(f"context parallel: shards must be contiguous and non-empty, got {self.bounds}")
            edge = end
        if not 0 <= self.rank < len(self.bounds):
            raise InputError(f"context parallel: rank {self.rank} outside {len(self.bounds)} shards")

    @classmethod
    def even(cls, length: int, world: int, rank: int, group: dist.ProcessGroup | None = None) -> Shards:
        """``length`` tokens in ``world`` near-equal shards (the first ``length % world`` one token longer)."""
        if length < world:
            raise InputError(f"context parallel: {length} tokens cannot be split over {world} ranks")
        bounds = tuple((length * r // world, length * (r + 1) // world) for r in range(world))
        return cls(bounds, rank, group)

    @classmethod
    def for_group(cls, length: int, group: dist.ProcessGroup | None = None) -> Shards:
        """Even shards over the ranks of ``group`` (this process's rank from torch.distributed)."""
        return cls.even(length, dist.get_world_size(group), dist.get_rank(group), group)

    @property
    def world(self) -> int:
        return len(self.bounds)

    @property
    def length(self) -> int:
        """Tokens of the whole sequence."""
        return self.bounds[-1][1]

    @property
    def start(self) -> int:
        return self.bounds[self.rank][0]

    @property
    def end(self) -> int:
        return self.bounds[self.rank][1]

    @property
    def size(self) -> int:
        return self.end - self.start

    def global_rank(self, rank: int) -> int:
        """The default group's rank of group rank ``rank`` (what send/recv take)."""
        return rank if self.group is None else dist.get_global_rank(self.group, rank)
