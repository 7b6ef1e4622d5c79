"""Output shapes of every task, with and without the patch stem, and basic input validation."""

from __future__ import annotations

import pytest
import torch

from genoattn.attention.patterns import Longformer, SlidingWindow
from genoattn.data.vocab import PAD, VOCAB_SIZE
from genoattn.errors import ConfigError, InputError


@pytest.mark.parametrize("patch_size", [1, 4])
@pytest.mark.parametrize(
    "task, num_classes, expected",
    [
        ("token_classification", 3, lambda b, l: (b, l, 3)),
        ("sequence_classification", 3, lambda b, l: (b, 3)),
        ("regression", 1, lambda b, l: (b,)),
        ("regression", 2, lambda b, l: (b, 2)),
        ("mlm", 2, lambda b, l: (b, l, VOCAB_SIZE)),
    ],
)
def test_output_shapes(tiny, dna, task, num_classes, expected, patch_size):
    model = tiny(task=task, num_classes=num_classes, patch_size=patch_size, attention=SlidingWindow(window=2))
    for length in (32, 30):  # 30 is not a multiple of the patch size: padded inside, cropped back
        ids = dna(2, length)
        out = model(ids)
        assert out.shape == expected(2, length)
        assert torch.isfinite(out).all()
    assert model.num_classes == (VOCAB_SIZE if task == "mlm" else num_classes)
    assert model.token_level == (task in ("token_classification", "mlm"))


def test_cls_pooling_uses_a_prepended_token(tiny, dna):
    model = tiny(task="sequence_classification", num_classes=2, pooling="cls",
                 attention=Longformer(window=1, global_tokens=(0,)))
    assert model(dna(3, 16)).shape == (3, 2)
    assert model.cls is not None and model.cls.grad is None
    model(dna(3, 16)).sum().backward()
    assert model.cls.grad is not None and model.cls.grad.abs().sum() > 0


def test_max_pooling_takes_each_features_largest_value():
    from genoattn.models.heads import SequenceHead

    head = SequenceHead(d_model=3, num_outputs=2, pooling="max")
    features = torch.zeros(2, 5, 3)
    features[0, 4] = torch.tensor([1.0, -2.0, 3.0])  # one position decides, wherever it is and however long L
    features[1, 0, 1] = 2.0
    expected = head.linear(torch.tensor([[1.0, 0.0, 3.0], [0.0, 2.0, 0.0]]))
    torch.testing.assert_close(head(features), expected)


def test_mlm_weight_tying(tiny):
    tied = tiny(task="mlm", tie_weights=True)
    untied = tiny(task="mlm", tie_weights=False)
    assert tied.head.decoder.weight is tied.encoder.embedding.weight
    assert untied.head.decoder.weight is not untied.encoder.embedding.weight
    assert untied.num_parameters() - tied.num_parameters() == VOCAB_SIZE * 16


def test_pad_embedding_is_zero(tiny):
    model = tiny()
    assert torch.count_nonzero(model.encoder.embedding.weight[PAD]) == 0


def test_num_parameters_counts_trainable(tiny):
    model = tiny()
    total = model.num_parameters()
    assert total == sum(p.numel() for p in model.parameters())
    model.encoder.embedding.weight.requires_grad_(False)
    assert model.num_parameters(trainable_only=True) == total - model.encoder.embedding.weight.numel()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"d_model": 18, "num_heads": 4}, "divisible"),
        ({"backend": "cuda-magic"}, "model.backend"),
        ({"positions": "absolute"}, "model.positions"),
        ({"task": "segmentation"}, "model.task"),
        ({"norm": "batchnorm"}, "model.norm"),
        ({"attention": [SlidingWindow(window=2)] * 3}, "one spec per layer"),
        ({"attention": "full"}, "model.attention"),
        ({"patch_size": 4, "stem_kernel_size": 2}, "stem_kernel_size"),
        ({"task": "token_classification", "pooling": "cls"}, "pooling"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_configs_raise_config_error(tiny, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        tiny(**kwargs)


@pytest.mark.parametrize(
    "ids",
    [torch.zeros(8, dtype=torch.long), torch.zeros(2, 8), torch.full((2, 8), VOCAB_SIZE), torch.full((2, 8), -1)],
)
def test_bad_input_ids_raise_input_error(tiny, ids):
    with pytest.raises(InputError, match="input_ids"):
        tiny()(ids)


def test_input_id_range_is_read_on_the_host_only():
    """On a device the encoder checks shape and dtype but not the range (reading it would stall the device)."""
    from genoattn.models.encoder import check_input_ids

    check_input_ids(torch.full((2, 8), VOCAB_SIZE, device="meta"), VOCAB_SIZE)  # a device tensor: range not read
    with pytest.raises(InputError, match="integer tensor"):
        check_input_ids(torch.zeros(2, 8, device="meta"), VOCAB_SIZE)
    with pytest.raises(InputError, match="must lie in"):
        check_input_ids(torch.full((2, 8), VOCAB_SIZE), VOCAB_SIZE)


def test_config_rebuilds_the_same_network(tiny, dna):
    model = tiny(task="mlm", patch_size=2, attention=[SlidingWindow(window=2), Longformer(window=1)])
    clone = type(model)(**model.config)
    clone.load_state_dict(model.state_dict())
    ids = dna(2, 16)
    assert torch.equal(model.eval()(ids), clone.eval()(ids))


def test_site_head_gives_per_token_logits_and_patch_targets(tiny, dna):
    from genoattn.errors import ConfigError

    model = tiny(task="sequence_classification", num_classes=2, patch_size=4, site_classes=3, pooling="max")
    ids = dna(2, 30)
    out, sites = model(ids, with_sites=True)
    assert out.shape == (2, 2) and sites.shape == (2, 8, 3)  # 30 nt -> 8 tokens of 4
    assert torch.equal(model(ids), out)
    labels = torch.zeros(2, 30, dtype=torch.long)
    labels[0, 5:9] = 1  # an A site over tokens 1 and 2
    labels[1, 28:30] = 2  # a B site in the last, padded token
    expected = torch.zeros(2, 8, dtype=torch.long)
    expected[0, 1:3], expected[1, 7] = 1, 2
    assert torch.equal(model.site_targets(labels), expected)
    with pytest.raises(ConfigError, match="no per-base site head"):
        tiny(task="sequence_classification", num_classes=2)(dna(1, 8), with_sites=True)
    with pytest.raises(ConfigError, match="site_classes"):
        tiny(task="token_classification", site_classes=3)
