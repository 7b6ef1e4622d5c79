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
    "benchmarks/cross_genome/quickstart/quickstart.ckpt":
        (-5.392568349838257, [[1.16942, -1.27326], [1.16792, -1.23208], [1.30791, -1.14072]]),
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
    assert set(net.config) == {"num_classes", "task", "pooling", "tie_weights", *EncoderConfig.__dataclass_fields__}
    assert GenomeTransformer(**net.config).config == net.config
    with pytest.raises(TypeError, match="d_modle"):
        GenomeTransformer(d_modle=16)
