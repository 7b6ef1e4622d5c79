"""Reverse-complement ids, output/label re-alignment, and RC-averaged predictions."""

from __future__ import annotations

import pytest
import torch

from genoattn.attention.patterns import SlidingWindow
from genoattn.data.vocab import CLS, IGNORE_INDEX, MASK, PAD, A, C, G, N, T
from genoattn.errors import InputError
from genoattn.models import rc_average, reverse_complement_ids, reverse_labels
from genoattn.models.rc import align_reverse_output, complement_table


def test_reverse_complement_ids():
    ids = torch.tensor([[A, C, G, T, N, PAD], [CLS, A, A, MASK, G, G]])
    expected = torch.tensor([[PAD, N, A, C, G, T], [C, C, MASK, T, T, CLS]])
    assert torch.equal(reverse_complement_ids(ids), expected)
    assert torch.equal(reverse_complement_ids(reverse_complement_ids(ids)), ids)
    assert complement_table().tolist()[A:] == [T, G, C, A, N]


def test_reverse_complement_rejects_bad_ids():
    with pytest.raises(InputError):
        reverse_complement_ids(torch.tensor([[A, 99]]))


def test_reverse_labels_flips_and_permutes():
    labels = torch.tensor([[0, 1, 2, IGNORE_INDEX]])
    assert torch.equal(reverse_labels(labels, token_level=True), torch.tensor([[IGNORE_INDEX, 2, 1, 0]]))
    swapped = reverse_labels(labels, token_level=True, class_permutation=[0, 2, 1])
    assert torch.equal(swapped, torch.tensor([[IGNORE_INDEX, 1, 2, 0]]))
    assert torch.equal(reverse_labels(torch.tensor([1, 2]), False, [0, 2, 1]), torch.tensor([2, 1]))
    with pytest.raises(InputError, match="permutation"):
        reverse_labels(labels, True, [0, 0, 1])


def test_align_reverse_output():
    out = torch.arange(12.0).view(1, 4, 3)  # [B, L, C]
    aligned = align_reverse_output(out, token_level=True, class_permutation=[0, 2, 1])
    assert torch.equal(aligned[0, 0], torch.tensor([9.0, 11.0, 10.0]))
    with pytest.raises(InputError, match="no class axis"):
        align_reverse_output(torch.zeros(3), token_level=False, class_permutation=[0])


def _rc_output(output, task, permutation):
    return align_reverse_output(output, task in ("token_classification", "mlm"), permutation)


@pytest.mark.parametrize(
    "task, num_classes, permutation",
    [
        ("token_classification", 2, None),
        ("token_classification", 3, [0, 2, 1]),  # non-coding, coding +, coding -
        ("sequence_classification", 3, None),
        ("regression", 1, None),
        ("mlm", 2, "complement"),
    ],
)
@pytest.mark.parametrize("patch_size", [1, 4])
def test_rc_average_is_rc_symmetric(tiny, dna, task, num_classes, permutation, patch_size):
    model = tiny(task=task, num_classes=num_classes, patch_size=patch_size, attention=SlidingWindow(window=3)).eval()
    ids = dna(2, 30)
    ids[0, 5] = N
    perm = complement_table() if permutation == "complement" else permutation
    forward = rc_average(model, ids, class_permutation=None if permutation == "complement" else perm)
    reverse = rc_average(model, reverse_complement_ids(ids), task=task,
                         class_permutation=None if permutation == "complement" else perm)
    assert forward.shape == model(ids).shape
    # prediction on the RC strand, brought back to forward coordinates, equals the forward prediction
    assert torch.allclose(_rc_output(reverse, task, perm), forward, atol=1e-5)
    # and a plain (random) model is not symmetric by itself
    with torch.no_grad():
        plain_f, plain_r = model(ids), model(reverse_complement_ids(ids))
    assert not torch.allclose(_rc_output(plain_r, task, perm), plain_f, atol=1e-5)


def test_rc_average_needs_to_know_the_output_kind(dna):
    with pytest.raises(InputError, match="task"):
        rc_average(torch.nn.Identity(), dna(1, 4))
