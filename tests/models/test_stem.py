"""The patch stem is a strided Conv1d and the upsampling a ConvTranspose1d, written as linear layers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genoattn.errors import ConfigError
from genoattn.models.stem import PatchStem, PatchUpsample


@pytest.mark.parametrize("patch_size, kernel_size", [(1, 1), (4, 4), (4, 6), (3, 8), (2, 3)])
def test_stem_equals_strided_conv1d(patch_size, kernel_size):
    d, length = 5, 24
    stem = PatchStem(d, patch_size, kernel_size).double()
    x = torch.randn(2, length, d, dtype=torch.float64)
    weight = stem.linear.weight.view(d, kernel_size, d).permute(0, 2, 1)  # [out, in, k]
    left = (kernel_size - patch_size) // 2
    padded = F.pad(x.transpose(1, 2), (left, kernel_size - patch_size - left))  # [B, d, L + k - p]
    expected = F.conv1d(padded, weight, stem.linear.bias, stride=patch_size).transpose(1, 2)
    out = stem(x)
    assert out.shape == (2, length // patch_size, d)
    assert torch.allclose(out, expected, atol=1e-12)


def test_stem_rejects_bad_sizes():
    with pytest.raises(ConfigError, match="stem_kernel_size"):
        PatchStem(4, 4, 3)
    with pytest.raises(ConfigError, match="multiple"):
        PatchStem(4, 4)(torch.zeros(1, 6, 4))


@pytest.mark.parametrize("patch_size", [1, 2, 4])
def test_upsample_is_a_transposed_conv(patch_size):
    d, tokens = 6, 5
    upsample = PatchUpsample(d, patch_size).double()
    hidden = torch.randn(2, tokens, d, dtype=torch.float64)
    with torch.no_grad():
        upsample.up.bias.zero_()
    weight = upsample.up.weight.view(patch_size, d, d).permute(2, 1, 0)  # [in, out, k]
    expected = F.conv_transpose1d(hidden.transpose(1, 2), weight, stride=patch_size).transpose(1, 2)
    assert torch.allclose(upsample.up(hidden).reshape(2, tokens * patch_size, d), expected, atol=1e-12)
    skip = torch.randn(2, tokens * patch_size, d, dtype=torch.float64)
    assert upsample(hidden, skip).shape == (2, tokens * patch_size, d)


def test_upsample_keeps_nucleotide_resolution():
    """Within one patch, different bases give different features (the skip carries base identity)."""
    upsample = PatchUpsample(8, 4)
    hidden = torch.randn(1, 3, 8).expand(1, 3, 8)
    skip = torch.randn(1, 12, 8)
    out = upsample(hidden, skip)
    assert not torch.allclose(out[0, 0], out[0, 1])


@pytest.mark.parametrize("hidden", [0, 32])
@pytest.mark.parametrize(("patch_size", "kernel_size"), [(6, 6), (6, 12), (3, 7)])
def test_stem_from_ids_equals_stem_on_embeddings(patch_size, kernel_size, hidden):
    """The embedding_bag path gives the windowed linear map's outputs and gradients (float64)."""
    torch.manual_seed(0)
    stem = PatchStem(16, patch_size, kernel_size, hidden).double()
    embedding = torch.nn.Parameter(torch.randn(9, 16, dtype=torch.float64))
    ids = torch.randint(0, 9, (3, patch_size * 11))
    expected, got = stem(embedding[ids]), stem.forward_ids(ids, embedding)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    params = [embedding, *stem.parameters()]
    grads_expected = torch.autograd.grad(expected.square().sum(), params)
    for a, b in zip(grads_expected, torch.autograd.grad(got.square().sum(), params)):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-10)


def test_kmer_stem_sums_one_vector_per_offset_and_kmer():
    """kmer=3: token t's first layer is the sum over window offsets o of table[o, codon starting at o] + bias;
    a codon holding N or padding is the 'unknown' row 64."""
    from genoattn.data.vocab import A, C, G, N, T

    torch.manual_seed(0)
    stem = PatchStem(8, patch_size=3, kernel_size=7, hidden=0, kmer=3).double()
    bases = [A, C, G, T]
    ids = torch.tensor([[A, C, G, T, T, A, G, N, C, A, A, T]])  # L = 12 -> 4 tokens
    left = (7 - 3) // 2
    padded = [None] * left + ids[0].tolist() + [None] * (7 - 3 - left)
    expected = []
    for t in range(4):
        window = padded[3 * t: 3 * t + 7]
        total = stem.kmer_bias.clone()
        for o in range(7 - 3 + 1):
            codon = window[o: o + 3]
            if any(x not in bases for x in codon):
                kmer = 64
            else:
                kmer = 16 * bases.index(codon[0]) + 4 * bases.index(codon[1]) + bases.index(codon[2])
            total = total + stem.kmer_table.weight[o * 65 + kmer]
        expected.append(total)
    got = stem.forward_ids(ids, torch.zeros(9, 8, dtype=torch.float64))
    torch.testing.assert_close(got[0], torch.stack(expected), rtol=0, atol=1e-12)


def test_kmer_stem_rejects_bad_k():
    with pytest.raises(ConfigError, match="stem_kmer"):
        PatchStem(4, 3, 4, kmer=5)
    with pytest.raises(ConfigError, match="forward_ids"):
        PatchStem(4, 3, 6, kmer=3)(torch.zeros(1, 6, 4))
