"""The Triton launch helpers' host-side logic (CPU, no kernel runs): the signature that says when a launch can go
straight to an already compiled binary."""

from __future__ import annotations

import torch

from genoattn.attention.kernels import launch


class FakeKernel:
    """Stands in for a Triton JIT function: only ``arg_names`` matters to ``_signature``."""

    arg_names = ["A", "B", "stride", "BLOCK"]


def signature(*values, **kwargs):
    return launch._signature(FakeKernel, list(values), kwargs)


def test_signature_equal_for_new_tensors_of_the_same_kind():
    launch._tensor_prefix.pop(id(FakeKernel), None)
    first = signature(torch.zeros(8, 4), torch.zeros(4), 4, 64, num_warps=4)
    assert launch._tensor_prefix[id(FakeKernel)] == 2  # the leading tensors
    assert signature(torch.ones(8, 4), torch.ones(4), 4, 64, num_warps=4) == first
    hash(first)


def test_signature_tells_apart_what_changes_the_binary():
    launch._tensor_prefix.pop(id(FakeKernel), None)
    base = torch.zeros(64)
    first = signature(base, base, 4, 64, num_warps=4)
    assert signature(base.double(), base, 4, 64, num_warps=4) != first  # dtype
    assert signature(base[1:], base, 4, 64, num_warps=4) != first  # 16-byte alignment
    assert signature(base, base, 8, 64, num_warps=4) != first  # an int argument (a stride)
    assert signature(base, base, 4, 32, num_warps=4) != first  # a compile-time constant
    assert signature(base, base, 4, 64, num_warps=8) != first  # a launch option


def test_signature_falls_back_when_a_prefix_argument_is_not_a_tensor():
    launch._tensor_prefix.pop(id(FakeKernel), None)
    signature(torch.zeros(4), torch.zeros(4), 4, 64)
    assert signature(None, torch.zeros(4), 4, 64)[1] is None  # converted one by one, None kept as is


def test_signature_of_a_kernel_with_tensors_after_other_arguments():
    launch._tensor_prefix.pop(id(FakeKernel), None)
    first = signature(torch.zeros(4), 3, torch.zeros(4), 64)
    assert launch._tensor_prefix[id(FakeKernel)] is None
    assert signature(torch.ones(4), 3, torch.ones(4), 64) == first


def test_tuning_hooks_zero_and_restore_what_the_launch_names():
    """Before a timed run: zero the buffers the kernel adds into, copy those it rewrites; after it: put them back.
    Before the final run (reset_only): only zero."""
    hooks = launch.TuningHooks(lambda args: (("ADD",), ("REWRITE",) if args["CHAINED"] else ()))
    args = {"ADD": torch.ones(3), "REWRITE": torch.arange(3.0), "CHAINED": True}
    hooks.pre_hook(args)
    assert args["ADD"].eq(0).all()
    args["ADD"] += 2
    args["REWRITE"] += 5  # a timed run
    hooks.post_hook(args, None)
    assert args["REWRITE"].tolist() == [0.0, 1.0, 2.0] and args["ADD"].eq(2).all()
    hooks.pre_hook(args, reset_only=True)
    assert args["ADD"].eq(0).all() and hooks.saved == {}
    unchained = {"ADD": torch.ones(1), "REWRITE": torch.ones(1), "CHAINED": False}
    hooks.pre_hook(unchained)
    assert list(hooks.saved) == []
