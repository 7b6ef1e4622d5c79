"""The checkpoints committed with the benchmarks still load and predict what they did when they were saved
(their init args predate ``EncoderConfig``: flat keys, rebuilt through ``GenomeTransformer(**init_args)``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genoattn.lit.checkpoint import load_for_inference
from genoattn.models import EncoderConfig, GenomeTransformer

REPO = Path(__file__).resolve().parents[2]
# checkpoint -> (sum of the logits, first three rows of sample 0) for torch.randint(0, 5, (2, 700)) after seed 0,
# recorded with the code that saved them
SAVED = {
    "models/coding_quickstart.ckpt":
        (-36.72436475753784, [[0.86178, -0.85790], [0.77321, -0.79805], [0.81662, -0.88206]]),  # reading frames
    "benchmarks/cross_genome/baselines/cnn.ckpt":
        (927.7197338715196, [[1.33840, -0.77065], [1.24410, -0.79391], [1.27801, -0.79152]]),
}


@pytest.mark.parametrize("path", sorted(SAVED))
def test_saved_checkpoint_predicts_as_saved(path):
    net, record = load_for_inference(REPO / path)
    torch.manual_seed(0)
    ids = torch.randint(0, 5, (2, 700))
    with torch.no_grad():
        logits = net(ids).double()
    total, first = SAVED[path]
    assert logits.shape == (2, 700, 2)
    assert abs(float(logits.sum()) - total) < 1e-3 * max(1.0, abs(total))
    torch.testing.assert_close(logits[0, :3], torch.tensor(first, dtype=torch.float64), atol=1e-4, rtol=0)


def test_transformer_config_is_its_init_args():
    """The saved config is the head's arguments and every EncoderConfig field; it rebuilds the same network."""
    net = GenomeTransformer(num_classes=3, d_model=16, num_layers=1, num_heads=2, patch_size=3)
    assert set(net.config) == {"num_classes", "task", "pooling", "tie_weights", "site_classes",
                               *EncoderConfig.__dataclass_fields__}
    assert GenomeTransformer(**net.config).config == net.config
    with pytest.raises(TypeError, match="d_modle"):
        GenomeTransformer(d_modle=16)


def test_state_saved_under_the_old_kernel_name_loads(tmp_path):
    """Performer/Routing modules were ``attn.kernel`` before they were ``attn.attention_module``."""
    from genoattn.lit.checkpoint import _with_current_names
    from genoattn.models import PerformerSpec, RoutingSpec

    net = GenomeTransformer(d_model=16, num_layers=2, num_heads=2,
                            attention=[PerformerSpec(num_features=8, seed=1), RoutingSpec(num_clusters=2, seed=2)])
    old = {k.replace(".attn.attention_module.", ".attn.kernel."): v for k, v in net.state_dict().items()}
    assert any(".attn.kernel." in k for k in old)
    fresh = GenomeTransformer(d_model=16, num_layers=2, num_heads=2,
                              attention=[PerformerSpec(num_features=8, seed=5), RoutingSpec(num_clusters=2, seed=6)])
    fresh.load_state_dict(old)
    loaded = fresh.state_dict()
    for key, value in net.state_dict().items():  # tensors, and the modules' extra state (dicts)
        assert torch.equal(loaded[key], value) if torch.is_tensor(value) else loaded[key] == value, key
    assert set(_with_current_names(old, fresh)) == set(fresh.state_dict())
