"""The bigWig builder in a child process: the same file as in-process, the child's failures raised in the parent
(OSError as OSError, others as RuntimeError), no file left by abort, a failure or a parent that goes away."""

from __future__ import annotations

import errno
import shutil

import numpy as np
import pytest

from genoattn.inference.bigwig import BigWigBuilder, BigWigValues
from genoattn.inference.builder_process import BuilderProcess
from genoattn.inference.regions import Region

CONTIGS = {"a": 40_000, "b": 5_000}
REGIONS = [Region("a", 0, 40_000, 40_000), Region("b", 1_000, 4_000, 5_000)]


def values_bytes(seed: int = 0) -> bytes:
    """The partial file's bytes of both regions: random scores, an N run in region a."""
    rng = np.random.default_rng(seed)
    total = sum(r.end - r.start for r in REGIONS)
    masked = np.zeros(total, dtype=bool)
    masked[1_000:1_300] = True
    return BigWigValues(3).add(0, rng.random(total).astype(np.float32), masked)


def chunks(data: bytes, sizes: tuple[int, ...]) -> list[bytes]:
    out, start = [], 0
    for size in sizes:
        out.append(data[start:start + size])
        start += size
    return [*out, data[start:]]


def test_child_process_writes_the_in_process_file(tmp_path):
    data = values_bytes()
    direct = BigWigBuilder(REGIONS, CONTIGS, 3)
    direct.open(tmp_path / "direct.bw")
    direct.add(data)
    direct.finish()
    child = BuilderProcess(BigWigBuilder(REGIONS, CONTIGS, 3))
    recorded, *rest = chunks(data, (10_002, 33_334, 2))  # replayed values, then odd-sized writes (2 bytes a base)
    child.open(tmp_path / "child.bw", [recorded])
    for piece in rest:
        child.add(piece)
    child.finish()
    assert (tmp_path / "child.bw").read_bytes() == (tmp_path / "direct.bw").read_bytes()
    assert child._process is None  # joined


def test_open_failure_is_the_childs_oserror(tmp_path):
    child = BuilderProcess(BigWigBuilder(REGIONS, CONTIGS, 3))
    with pytest.raises(OSError) as caught:
        child.open(tmp_path / "missing" / "t.bw")
    assert caught.value.errno == errno.ENOENT and caught.value.filename == str(tmp_path / "missing" / "t.bw")


def test_a_child_that_dies_is_a_one_line_oserror(tmp_path, monkeypatch):
    child = BuilderProcess(BigWigBuilder(REGIONS, CONTIGS, 3))
    child.open(tmp_path / "t.bw")
    child._process.kill()
    child._process.wait()
    with pytest.raises(OSError, match=r"the track writer process stopped \(exit code -9\)"):
        for _ in range(3):  # the first write may still reach the pipe's buffer
            child.add(values_bytes()[:2_000])
        child.finish()


def test_a_bigwig_that_does_not_read_back_is_an_oserror_and_no_file(tmp_path):
    folder = tmp_path / "gone"
    folder.mkdir()
    child = BuilderProcess(BigWigBuilder(REGIONS, CONTIGS, 3))
    child.open(folder / "t.bw")
    child.add(values_bytes())
    shutil.rmtree(folder)  # the child's file disappears under it: the check after closing fails
    with pytest.raises(OSError, match="does not read back"):
        child.finish()
    assert not folder.exists()


def test_other_failures_come_back_as_runtime_errors(tmp_path):
    too_many = BuilderProcess(BigWigBuilder(REGIONS, CONTIGS, 3))
    too_many.open(tmp_path / "many.bw")
    with pytest.raises(RuntimeError, match="more values than the regions hold"):
        too_many.add(values_bytes() + b"\0\0")
        too_many.finish()  # the add's error is raised here at the latest
    assert not (tmp_path / "many.bw").exists()
    too_few = BuilderProcess(BigWigBuilder(REGIONS, CONTIGS, 3))
    too_few.open(tmp_path / "few.bw")
    too_few.add(values_bytes()[:-2])
    with pytest.raises(RuntimeError, match="values end inside region 1 of 2"):
        too_few.finish()
    assert not (tmp_path / "few.bw").exists()


def test_abort_and_a_vanished_parent_leave_no_file(tmp_path):
    aborted = BuilderProcess(BigWigBuilder(REGIONS, CONTIGS, 3))
    aborted.open(tmp_path / "aborted.bw")
    aborted.add(values_bytes()[:5_000])
    aborted.abort()
    aborted.abort()  # twice: still nothing raised
    assert not (tmp_path / "aborted.bw").exists()
    orphan = BuilderProcess(BigWigBuilder(REGIONS, CONTIGS, 3))
    orphan.open(tmp_path / "orphan.bw")
    assert (tmp_path / "orphan.bw").exists()
    process = orphan._process
    orphan._conn.close()  # what the parent's death does to the socket
    assert process.wait(30) == 0 and not (tmp_path / "orphan.bw").exists()
