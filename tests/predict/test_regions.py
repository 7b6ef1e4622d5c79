"""--regions (strings and BED files) and predict_genome: region outputs equal the whole-contig run on their bases."""

from __future__ import annotations

import numpy as np
import pytest

from genoattn.data.genome import Genome
from genoattn.errors import ConfigError, InputError
from genoattn.inference import ModelInfo, PredictOptions, predict_files, predict_genome, receptive_field
from genoattn.inference.model import patch_size
from genoattn.inference.regions import parse_regions, regions_per_input

from .conftest import ToyConv, random_sequence, read_bedgraph, tiny_transformer, write_fasta


@pytest.fixture
def genome(tmp_path, genome_records):
    return write_fasta(tmp_path / "g.fa", genome_records)


def info_for(net, window=256) -> ModelInfo:
    return ModelInfo("token_classification", 2, window, patch_size=patch_size(net),
                     receptive_field=receptive_field(net), feature_types=("CDS",))


def test_region_strings_and_bed_lines_are_merged_in_file_order(tmp_path, genome):
    bed = tmp_path / "r.bed"
    bed.write_text("track name=x\n# comment\nsoft\t10\t20\nchrA\t1500\t1600\n")
    specs = parse_regions(["gappy", "chrA:1,001-1,550", str(bed), "soft:15-30", "chrA:1,990"])
    [regions] = regions_per_input(specs, [Genome(genome, cache_dir=tmp_path / "c")])
    assert [(r.contig, r.start, r.end) for r in regions] == [
        ("chrA", 1000, 1600), ("chrA", 1989, 2000), ("soft", 10, 30), ("gappy", 0, 700)]
    assert [r.name for r in regions] == ["chrA:1001-1600", "chrA:1990-2000", "soft:11-30", "gappy"]


@pytest.mark.parametrize("value,expected", [
    ("chrZ:1-10", "--regions chrZ:1-10: no contig named 'chrZ' in"),
    ("chrA:1-2001", "chrA is 2,000 bp in"),
    ("chrA:2500", "ends past it"),
    ("chrA:10-5", "expected 1 <= START <= END"),
    ("chrA:0-5", "expected 1 <= START <= END"),
    ("chrA:ten-20", "expected CONTIG:START-END"),
])
def test_region_errors_name_the_region(tmp_path, genome, value, expected):
    with pytest.raises(InputError, match=expected):
        regions_per_input(parse_regions([value]), [Genome(genome, cache_dir=tmp_path / "c")])


@pytest.mark.parametrize("line,expected", [("chrA\t5\n", "r.bed:2: expected 'contig start end'"),
                                           ("chrA\tx\t9\n", "r.bed:2: BED start and end must be integers"),
                                           ("chrA\t9\t9\n", "r.bed:2: expected 0 <= start < end")])
def test_bad_bed_lines_name_the_line(tmp_path, line, expected):
    bed = tmp_path / "r.bed"
    bed.write_text("chrA\t0\t5\n" + line)
    with pytest.raises(InputError, match=expected):
        parse_regions([str(bed)])


def test_regions_give_the_whole_contig_values_on_their_bases(tmp_path, genome, genome_records):
    net = ToyConv(6).double()
    lengths = {k: len(v) for k, v in genome_records.items()}
    options = dict(batch_size=3, decimals=6, bed=False, progress=False, track="bedgraph")
    predict_files(net, info_for(net), [genome], tmp_path / "all", PredictOptions(**options))
    full = read_bedgraph(tmp_path / "all" / "g.bedGraph", lengths)
    regions = ("chrA:3-700", "chrA:1201-1710", "gappy:150-560", "short")
    predict_files(net, info_for(net), [genome], tmp_path / "some", PredictOptions(**options, regions=regions))
    part = read_bedgraph(tmp_path / "some" / "g.bedGraph", lengths)
    chosen = {name: np.zeros(n, dtype=bool) for name, n in lengths.items()}
    chosen["chrA"][2:700] = chosen["chrA"][1200:1710] = chosen["gappy"][149:560] = chosen["short"][:] = True
    for name in lengths:
        expected = np.where(chosen[name], full[name], np.nan)
        np.testing.assert_allclose(part[name], expected, atol=2e-6, equal_nan=True, err_msg=name)

    arrays = predict_genome((net, info_for(net)), genome, list(regions), PredictOptions(batch_size=5, progress=False))
    assert [(a.contig, a.start, a.end) for a in arrays] == [("chrA", 2, 700), ("chrA", 1200, 1710),
                                                           ("short", 0, 37), ("gappy", 149, 560)]
    for a in arrays:
        assert a.values.shape == (a.end - a.start, 1) and a.columns == ("CDS",)
        np.testing.assert_allclose(a.values[:, 0], full[a.contig][a.start: a.end], atol=6e-6, equal_nan=True)
    assert np.isnan(arrays[3].values[200 - 149: 500 - 149]).all()  # the N run


def test_predict_genome_from_a_checkpoint_and_its_errors(tmp_path, genome):
    from .conftest import save_checkpoint

    ckpt = save_checkpoint(tmp_path / "m.ckpt", tiny_transformer(), window=256)
    [whole] = predict_genome(ckpt, genome, "chrA")
    assert whole.values.shape == (2000, 1) and np.isfinite(whole.values).all()
    with pytest.raises(InputError, match="no contig named 'chrQ'"):
        predict_genome(ckpt, genome, "chrQ:1-5")
    net = tiny_transformer(task="regression", num_classes=1)
    info = ModelInfo("regression", 1, 256, patch_size=patch_size(net))
    with pytest.raises(ConfigError, match="per-nucleotide arrays"):
        predict_genome((net, info), genome)


def test_regions_through_the_lightning_path(tmp_path, genome):
    """The multi-device path plans the same windows for regions: same files as the single-process path."""
    from genoattn.inference.distributed import predict_files_lightning

    net = tiny_transformer()
    options = PredictOptions(batch_size=2, progress=False, device="cpu", regions=("chrA:700-1900", "soft"),
                             track="bedgraph")
    predict_files(net, info_for(net), [genome], tmp_path / "one", options)
    predict_files_lightning(net, info_for(net), [genome], tmp_path / "pl", options)
    for name in ("g.bedGraph", "g.bed"):
        assert (tmp_path / "pl" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
    assert (tmp_path / "one" / "g.bedGraph").read_text().splitlines()[1].startswith("chrA\t699\t")


def test_a_second_genome_without_the_region_contig_is_fine(tmp_path, genome):
    other = write_fasta(tmp_path / "other.fa", {"x": random_sequence(300, 9)})
    specs = parse_regions(["x:1-50", "chrA"])
    per_input = regions_per_input(specs, [Genome(genome, cache_dir=tmp_path / "c"),
                                          Genome(other, cache_dir=tmp_path / "c")])
    assert [[r.name for r in regions] for regions in per_input] == [["chrA"], ["x:1-50"]]
