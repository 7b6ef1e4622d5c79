"""The three overlapping stages of a prediction run: a producer thread (reads, tiles, fills token batches), the
calling thread (runs the model), a writer thread (stitches and writes). Queues of ``prefetch`` batches bound
the memory in flight; an error in any stage stops the others and is raised in the calling thread."""

from __future__ import annotations

import enum
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

import numpy as np
import torch

from genoattn.inference.runner import PendingScores


class Batch(Protocol):
    tokens: torch.Tensor | None  # [rows, T] token ids (None: no real row, nothing to compute)
    segments: list


class _End(enum.Enum):
    """The marker a stage puts on its queue after the last item."""

    END = enum.auto()


_END = _End.END
_Item = TypeVar("_Item")


class _Stage(threading.Thread):
    """A daemon thread running ``body``; its exception is kept and stops the pipeline."""

    def __init__(self, name: str, body: Callable[[], None], stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.body, self.stop = body, stop
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.body()
        except BaseException as exc:  # noqa: BLE001  (re-raised by the main thread)
            self.error = exc
            self.stop.set()


def _put(q: queue.Queue[_Item], item: _Item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue[_Item | _End], stop: threading.Event) -> _Item | _End:
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
    return _END


def run_pipeline(batches: Iterator[Batch], runner: Callable[[torch.Tensor], PendingScores],
                 writer: Callable[[np.ndarray | None, list], None], prefetch: int = 2) -> dict[str, float]:
    """Producer thread -> model (this thread) -> writer thread; returns seconds spent in the model calls."""
    stop = threading.Event()
    to_model: queue.Queue[Batch | _End] = queue.Queue(maxsize=prefetch)
    to_writer: queue.Queue[tuple[PendingScores | None, list] | _End] = queue.Queue(maxsize=prefetch)

    def produce() -> None:
        for batch in batches:
            if not _put(to_model, batch, stop):
                return
        _put(to_model, _END, stop)

    def write() -> None:
        while True:
            item = _get(to_writer, stop)
            if item is _END:
                return
            pending, segments = item
            writer(pending.get() if pending is not None else None, segments)

    producer = _Stage("genoattn-predict-read", produce, stop)
    consumer = _Stage("genoattn-predict-write", write, stop)
    producer.start()
    consumer.start()
    model_seconds = 0.0
    try:
        while True:
            batch = _get(to_model, stop)
            if batch is _END:
                break
            t0 = time.perf_counter()
            pending = runner(batch.tokens) if batch.tokens is not None else None
            model_seconds += time.perf_counter() - t0
            if not _put(to_writer, (pending, batch.segments), stop):
                break
        if not stop.is_set() and _put(to_writer, _END, stop):
            consumer.join()
    except BaseException:
        stop.set()
        raise
    finally:
        producer.join(timeout=5 if stop.is_set() else None)
        consumer.join(timeout=5)
    for stage in (consumer, producer):
        if stage.error is not None:
            raise stage.error
    return {"model_call_s": model_seconds}
