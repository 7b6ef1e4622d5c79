"""Reverse-complement helpers: RC of token ids, re-alignment of outputs/labels, and RC-averaged prediction.

Complementing maps A<->T and C<->G; N and the special tokens are kept. Reversing flips the length axis.
A model output on the RC strand is brought back to forward coordinates by flipping token-level outputs
along L and, for strand-aware classes, permuting the class axis: ``aligned[..., c] = out[..., perm[c]]``
where ``perm[c]`` is the class that c becomes on the other strand (e.g. [0, 2, 1] for
non-coding / coding+ / coding-). For the masked-LM task the class axis is the vocabulary, so the
default permutation is the complement table.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from genoattn.data.vocab import IGNORE_INDEX, VOCAB_SIZE, A, C, G, T
from genoattn.errors import InputError
from genoattn.tasks import TOKEN_LEVEL_TASKS


def complement_table(vocab_size: int = VOCAB_SIZE, device: torch.device | str | None = None) -> Tensor:
    """int64 [V]: the complement id of every token id (A<->T, C<->G, everything else unchanged)."""
    table = torch.arange(vocab_size, device=device)
    for x, y in ((A, T), (C, G)):
        if max(x, y) < vocab_size:
            table[x], table[y] = y, x
    return table


def reverse_complement_ids(input_ids: Tensor) -> Tensor:
    """Reverse complement of token ids [..., L] (complement each id, then flip the last axis)."""
    if input_ids.is_floating_point() or (
        input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= VOCAB_SIZE)
    ):
        raise InputError(f"reverse_complement_ids expects integer token ids in [0, {VOCAB_SIZE})")
    return complement_table(VOCAB_SIZE, input_ids.device)[input_ids].flip(-1)


def _permutation(class_permutation: Sequence[int] | Tensor | None, num_classes: int, device) -> Tensor | None:
    if class_permutation is None:
        return None
    perm = torch.as_tensor(class_permutation, dtype=torch.long, device=device)
    expected = torch.arange(num_classes, device=device)
    if perm.dim() != 1 or len(perm) != num_classes or not torch.equal(perm.sort().values, expected):
        raise InputError(
            f"class_permutation must be a permutation of 0..{num_classes - 1}, got {perm.tolist()}"
        )
    return perm


def align_reverse_output(
    output: Tensor, token_level: bool, class_permutation: Sequence[int] | Tensor | None = None
) -> Tensor:
    """Bring an output computed on RC input back to forward coordinates.

    token_level outputs are [B, L, C] (flipped along L); others are [B, C] or [B] (not flipped).
    ``class_permutation`` permutes the last (class) axis; it must be None for outputs without one ([B]).
    """
    if token_level:
        if output.dim() < 2:
            raise InputError(f"a token-level output needs a length axis [B, L, ...], got {tuple(output.shape)}")
        output = output.flip(1)
    has_classes = output.dim() == (3 if token_level else 2)
    if class_permutation is not None and not has_classes:
        raise InputError(f"class_permutation given, but the output {tuple(output.shape)} has no class axis")
    perm = _permutation(class_permutation, output.shape[-1], output.device) if has_classes else None
    return output.index_select(-1, perm) if perm is not None else output


def reverse_labels(
    labels: Tensor, token_level: bool, class_permutation: Sequence[int] | Tensor | None = None
) -> Tensor:
    """Labels of the RC strand (for RC augmentation): flip [B, L] labels along L; map class ids by
    ``class_permutation`` (IGNORE_INDEX kept). Regression targets pass unchanged unless token-level."""
    out = labels.flip(1) if token_level else labels
    if class_permutation is None:
        return out
    if out.is_floating_point():
        raise InputError("class_permutation applies to integer class labels, got floating-point labels")
    perm = torch.as_tensor(class_permutation, dtype=torch.long, device=labels.device)
    _permutation(perm, len(perm), labels.device)
    keep = out == IGNORE_INDEX
    # a class c on the forward strand is class perm[c] on the reverse strand
    return torch.where(keep, out, perm[out.clamp(min=0)])


@torch.no_grad()
def rc_average(
    model: nn.Module,
    input_ids: Tensor,
    task: str | None = None,
    class_permutation: Sequence[int] | Tensor | None = None,
) -> Tensor:
    """Mean of the model's output on ``input_ids`` [B, L] and its re-aligned output on their reverse complement.

    Whether outputs are token-level comes from ``task`` (token_classification / mlm), else from the model's
    ``token_level`` attribute. For the mlm task the default class permutation is the complement table. Both
    strands run as one batch of 2B. Gradients are not tracked.
    """
    if task is not None:
        token_level = task in TOKEN_LEVEL_TASKS
    elif hasattr(model, "task"):
        task = str(model.task)
        token_level = task in TOKEN_LEVEL_TASKS
    elif hasattr(model, "token_level"):
        token_level = bool(model.token_level)
    else:
        raise InputError("rc_average needs task=... for a model without a 'task' or 'token_level' attribute")
    if class_permutation is None and task == "mlm":
        class_permutation = complement_table(getattr(model, "num_classes", VOCAB_SIZE), input_ids.device)
    both = model(torch.cat([input_ids, reverse_complement_ids(input_ids)], dim=0))  # [2B, ...]
    forward, reverse = both.chunk(2, dim=0)
    return (forward + align_reverse_output(reverse, token_level, class_permutation)) / 2
