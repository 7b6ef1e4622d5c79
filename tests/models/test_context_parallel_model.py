"""GenomeTransformer sharded over 2-3 gloo processes equals the single-process model (outputs and gradients)."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from genoattn.attention.patterns import BigBird, Full, Longformer, Neighborhood, SlidingWindow
from genoattn.errors import ConfigError
from genoattn.models import GenomeTransformer

LAYERS = [SlidingWindow(4), Longformer(3, global_tokens=(0, -1)), BigBird(block_size=4, random_blocks=1),
          Neighborhood(3, dilation=2)]
MODELS = {  # name -> GenomeTransformer arguments (dropout 0: the same function on every rank)
    "stem": dict(patch_size=3, stem_kernel_size=7, stem_hidden=16, reading_frames=True, attention=LAYERS),
    "kmer_mlm": dict(task="mlm", patch_size=2, stem_kernel_size=4, stem_kmer=2, attention=SlidingWindow(5),
                     checkpointing=True),  # the exchanges run again in the recomputation
    "alibi": dict(positions="alibi", attention=[SlidingWindow(3), BigBird(block_size=8, random_blocks=1)]),
}


def build(name: str) -> GenomeTransformer:
    torch.manual_seed(0)
    args = dict(d_model=16, num_heads=2, num_layers=len(LAYERS), dropout=0.0, backend="reference",
                context_parallel=dist.get_world_size() if dist.is_initialized() else 2, num_classes=3)
    args.update(MODELS[name])
    if isinstance(args["attention"], list):
        args["num_layers"] = len(args["attention"])
    return GenomeTransformer(**args).double()


def _worker(rank: int, world: int, init_file: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        for name in MODELS:
            ids = torch.randint(4, 9, (2, 121), generator=torch.Generator().manual_seed(1))
            whole = build(name)
            expected = whole(ids)
            weight = torch.randn(expected.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
            (expected * weight).sum().backward()
            sharded = build(name)
            sharded.enable_context_parallel()
            lo, hi = sharded.output_range(ids.shape[1])
            out = sharded(ids)
            (out * weight[:, lo:hi]).sum().backward()
            torch.testing.assert_close(out, expected[:, lo:hi], rtol=0, atol=1e-10, msg=f"{name} rank {rank}")
            for (param, a), b in zip(sharded.named_parameters(), whole.parameters()):
                grad = a.grad.clone()
                dist.all_reduce(grad)  # each rank holds its shard's share of the gradient
                torch.testing.assert_close(grad, b.grad, rtol=0, atol=1e-10, msg=f"{name} rank {rank} {param}")
        dist.barrier()  # no rank tears gloo down while a peer still talks to it (SIGABRT under load)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("world", [2, 3])
def test_sharded_model_equals_single_process(world, tmp_path):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(_worker, args=(world, str(tmp_path / "init")), nprocs=world, join=True)


def test_context_parallel_refusals_are_one_line_config_errors():
    with pytest.raises(ConfigError, match=r"^model.context_parallel: layer 0: Full has no context-parallel form"):
        GenomeTransformer(context_parallel=2, attention=Full())
    with pytest.raises(ConfigError, match="ALiBi"):
        GenomeTransformer(context_parallel=2, positions="alibi", attention=Longformer(4, global_tokens=(0,)))
    with pytest.raises(ConfigError, match="token-level"):
        GenomeTransformer(context_parallel=2, task="sequence_classification", attention=SlidingWindow(4))
    with pytest.raises(ConfigError, match="needs that many processes"):
        GenomeTransformer(context_parallel=2, attention=SlidingWindow(4)).enable_context_parallel()


def test_a_context_parallel_model_runs_whole_sequences_until_enabled():
    model = GenomeTransformer(context_parallel=4, attention=SlidingWindow(4), d_model=8, num_heads=2, num_layers=1)
    assert model(torch.full((1, 10), 4)).shape == (1, 10, 2)
    assert model.output_range(10) == (0, 10)
