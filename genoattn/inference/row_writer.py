"""Window-level outputs of one contig (or region): TSV rows, one per window or one per record."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genoattn.inference.outputs import Write


@dataclass(frozen=True)
class RowSettings:
    """Window-level TSV rows: column names of the values, how to write them, one row per window or per record."""

    columns: tuple[str, ...]
    decimals: int | None = 3  # fixed decimals (probabilities); None: 6 significant digits (regression)
    per_record: bool = False

    def header(self) -> bytes:
        return ("#contig\tstart\tend\tn_fraction\t" + "\t".join(self.columns) + "\n").encode()

    def format_values(self, values: np.ndarray) -> str:
        if self.decimals is None:
            return "\t".join(f"{v:.6g}" for v in values.tolist())
        return "\t".join(f"{v:.{self.decimals}f}" for v in values.tolist())


class ContigRows:
    """TSV rows of bases ``[start, end)`` of one contig: one per scored window, or one per record (mean over its
    windows, weighted by the bases of each window inside the contig; ``NA`` when every window was skipped as N);
    ``masked`` is bool [end - start]."""

    def __init__(self, contig: str, start: int, end: int, masked: np.ndarray, settings: RowSettings,
                 write: Write) -> None:
        self.contig, self.start, self.end, self.masked = contig, start, end, masked
        self.settings, self.write = settings, write
        self._sum: np.ndarray | None = None
        self._weight = 0

    def add_window(self, start: int, stop: int, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if self.settings.per_record:
            self._sum = values * (stop - start) + (0 if self._sum is None else self._sum)
            self._weight += stop - start
            return
        masked = self.masked[start - self.start: stop - self.start]
        n_fraction = float(masked.mean()) if stop > start else 0.0
        line = f"{self.contig}\t{start}\t{stop}\t{n_fraction:.4f}\t{self.settings.format_values(values)}\n"
        self.write("tsv", line.encode())

    def state(self) -> dict:
        """The per-record running sum (JSON-able), for resuming before the next window."""
        return {"sum": None if self._sum is None else self._sum.tolist(), "weight": self._weight}

    def restore(self, state: dict) -> None:
        self._sum = None if state["sum"] is None else np.array(state["sum"], dtype=np.float64)
        self._weight = int(state["weight"])

    def finish(self) -> None:
        if not self.settings.per_record:
            return
        n_fraction = float(self.masked.mean()) if self.end > self.start else 0.0
        if self._sum is None:
            values = "\t".join("NA" for _ in self.settings.columns)
        else:
            values = self.settings.format_values(self._sum / self._weight)
        self.write("tsv", f"{self.contig}\t{self.start}\t{self.end}\t{n_fraction:.4f}\t{values}\n".encode())
