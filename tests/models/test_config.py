"""The model's init arguments parse from YAML through jsonargparse (as LightningCLI will do)."""

from __future__ import annotations

import pytest
import yaml as pyyaml
from jsonargparse import ArgumentParser
from torch import nn

from genoattn.attention.patterns import Full, SlidingWindow
from genoattn.models import GenomeTransformer, PerformerSpec, RoutingSpec

from .conftest import PATTERN_EXAMPLES, exported_patterns, make_pattern


def _parse(yaml: str):
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(GenomeTransformer, "model")
    cfg = parser.parse_string(yaml)
    return parser, cfg, parser.instantiate(cfg).model


def test_yaml_single_pattern():
    _, cfg, model = _parse(
        """
model:
  d_model: 16
  num_layers: 2
  num_heads: 2
  backend: reference
  positions: alibi
  patch_size: 4
  attention:
    class_path: genoattn.attention.patterns.SlidingWindow
    init_args: {window: 128}
"""
    )
    assert isinstance(model, GenomeTransformer)
    assert [b.attn.spec for b in model.encoder.blocks] == [SlidingWindow(window=128)] * 2
    assert model.encoder.patch_size == 4 and model.encoder.blocks[0].attn.backend == "reference"
    assert model.encoder.blocks[0].attn.alibi_slopes is not None


@pytest.mark.parametrize("name", exported_patterns())
def test_yaml_every_pattern(name):
    init_args = {k: list(v) if isinstance(v, tuple) else v for k, v in PATTERN_EXAMPLES[name].items()}
    text = pyyaml.safe_dump(
        {"model": {"attention": {"class_path": f"genoattn.attention.patterns.{name}", "init_args": init_args}}}
    )
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(GenomeTransformer, "model")
    spec = parser.instantiate(parser.parse_string(text), instantiate_groups=False).model.attention
    assert spec == make_pattern(name)


def test_yaml_per_layer_list_and_performer():
    _, _, model = _parse(
        """
model:
  d_model: 16
  num_layers: 3
  num_heads: 2
  attention:
  - class_path: genoattn.attention.patterns.SlidingWindow
    init_args: {window: 8}
  - class_path: genoattn.models.PerformerSpec
    init_args: {num_features: 32, seed: 1}
  - class_path: genoattn.attention.patterns.Full
"""
    )
    specs = [b.attn.spec for b in model.encoder.blocks]
    assert specs == [SlidingWindow(window=8), PerformerSpec(num_features=32, seed=1), Full()]
    assert model.encoder.blocks[1].attn.attention_module.num_features == 32


def test_yaml_routing_spec():
    _, _, model = _parse(
        "model:\n  d_model: 16\n  num_heads: 2\n  num_layers: 1\n"
        "  attention:\n    class_path: genoattn.models.RoutingSpec\n"
        "    init_args: {num_clusters: 2, window: 16, seed: 0}\n"
    )
    assert model.encoder.blocks[0].attn.spec == RoutingSpec(num_clusters=2, window=16, seed=0)
    assert model.encoder.blocks[0].attn.attention_module.num_clusters == 2


def test_yaml_defaults_dump_and_reparse():
    parser, cfg, model = _parse("model: {task: mlm, d_model: 16, num_heads: 2, num_layers: 1}\n")
    assert model.task == "mlm" and model.encoder.blocks[0].attn.spec == Full()  # the default
    dumped = parser.dump(cfg)
    assert "class_path: genoattn.attention.patterns.Full" in dumped and "backend: auto" in dumped
    assert parser.parse_string(dumped) == cfg


def test_yaml_nested_as_a_subclass_of_module():
    """LightningCLI passes the model as ``net: nn.Module`` with class_path/init_args."""
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--net", type=nn.Module)
    cfg = parser.parse_string(
        """
net:
  class_path: genoattn.models.GenomeTransformer
  init_args:
    d_model: 16
    num_heads: 2
    num_layers: 1
    attention:
      class_path: genoattn.attention.patterns.SlidingWindow
      init_args: {window: 4}
"""
    )
    net = parser.instantiate(cfg).net
    assert isinstance(net, GenomeTransformer)
    assert net.encoder.blocks[0].attn.spec == SlidingWindow(window=4)


@pytest.mark.parametrize(
    "yaml, fragment",
    [
        ("model:\n  attention:\n    class_path: genoattn.attention.patterns.SlidingWindow\n"
         "    init_args: {windw: 4}\n", "windw"),
        ("model:\n  d_model: sixteen\n", "model.d_model"),
        ("model:\n  attention:\n    class_path: genoattn.attention.patterns.NoSuchPattern\n", "NoSuchPattern"),
    ],
)
def test_yaml_errors_name_the_key(yaml, fragment):
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(GenomeTransformer, "model")
    with pytest.raises(Exception, match=fragment):
        parser.parse_string(yaml)
