"""The dilated CNN baseline: shapes, locality (its receptive field is exact), size, and a checkpoint that predicts."""

from __future__ import annotations

import pytest
import torch

from genoattn.baselines.cnn import DilatedCNN
from genoattn.data.vocab import A, N, T
from genoattn.errors import ConfigError
from genoattn.inference.model import load_model

from .conftest import save_cnn


def test_default_size_and_receptive_field():
    net = DilatedCNN()
    assert 150_000 < net.num_parameters() < 170_000  # "about 158k" in the shared data notes
    assert net.receptive_field == 4 + (1 + 2 + 4 + 8 + 16 + 32 + 64 + 128 + 256 + 512)


def test_outputs_depend_on_the_receptive_field_only():
    net = DilatedCNN(channels=8, num_blocks=3).eval()  # radius 4 + 1 + 2 + 4 = 11
    ids = torch.randint(A, T + 1, (1, 80))
    with torch.no_grad():
        out = net(ids)
        assert out.shape == (1, 80, 2)
        changed = ids.clone()
        changed[0, 40] = N
        diff = (net(changed) - out).abs().sum(-1)[0]
    moved = torch.nonzero(diff > 0).flatten()
    assert moved.min() == 40 - 11 and moved.max() == 40 + 11


def test_bad_arguments():
    with pytest.raises(ConfigError, match="token_classification"):
        DilatedCNN(task="regression")
    with pytest.raises(ConfigError, match="odd"):
        DilatedCNN(kernel_size=4)


def test_checkpoint_loads_for_prediction(tmp_path):
    net = DilatedCNN(channels=8, num_blocks=2).eval()
    loaded, info = load_model(save_cnn(tmp_path / "cnn.ckpt", net))
    ids = torch.randint(A, T + 1, (2, 64))
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids), net(ids))
    assert info.receptive_field == net.receptive_field and info.window == 64 and info.patch_size == 1
