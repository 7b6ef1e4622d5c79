"""Markdown summary of a model benchmark run: step cost per configuration, the step modes side by side, the
issue 16 targets as measured (nothing is claimed for a cell that did not run)."""

from __future__ import annotations

from genoattn.bench.model_cost import StepCost
from genoattn.bench.model_grid import BAND_PATTERNS, LONG_WINDOW, MFU_WINDOW

MFU_TARGET = 0.40  # band patterns, d_model >= 512, at the MFU window
LONG_STEP_TARGET_MS = 1000.0  # SlidingWindow, 6 layers d=256, at the long window


def _ms(row: StepCost) -> float:
    """ms/step of a row that ran (status ok)."""
    assert row.ms_per_step is not None, row.status
    return row.ms_per_step


def _label(row: StepCost) -> str:
    return f"{row.pattern} ({row.sdpa_backend})" if row.sdpa_backend else row.pattern


def _cell(row: StepCost) -> str:
    if row.status != "ok":
        return row.status.split(":")[0]
    assert row.tokens_per_s is not None  # measured with ms_per_step
    mfu = "" if row.mfu is None else f", MFU {100 * row.mfu:.0f}%"
    peak = "" if row.peak_gib is None else f", {row.peak_gib:.1f} GiB"
    return f"{row.ms_per_step:.0f} ms, {row.tokens_per_s / 1e6:.2f} Mtok/s{peak}{mfu}"


def cost_tables(rows: list[StepCost]) -> list[str]:
    """Per configuration and step mode: pattern x window, ms/step, tokens/s, peak GiB, MFU."""
    lines: list[str] = []
    windows = sorted({r.window_nt for r in rows})
    for config, mode in sorted({(r.config, r.step_mode) for r in rows}):
        mine = [r for r in rows if (r.config, r.step_mode) == (config, mode)]
        lines += [f"### {config or 'model'}, {mode}: ms/step, tokens/s, peak memory, MFU", "",
                  "| pattern | " + " | ".join(f"{w:,} nt" for w in windows) + " |", "|---|" + "---|" * len(windows)]
        for label in sorted({_label(r) for r in mine}):
            cells = []
            for w in windows:
                match = [r for r in mine if _label(r) == label and r.window_nt == w]
                cells.append(_cell(match[-1]) if match else "")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def mode_gains(rows: list[StepCost]) -> list[str]:
    """ms/step of each other step mode beside eager's for the same model and window, and the speed-up."""
    eager = {(r.config, _label(r), r.window_nt): r for r in rows if r.step_mode == "eager" and r.status == "ok"}
    lines = ["### Step modes: ms/step against eager (speed-up)", "",
             "| config | pattern | window | mode | eager ms | ms | speed-up |", "|---|---|---|---|---|---|---|"]
    found = False
    for r in rows:
        base = eager.get((r.config, _label(r), r.window_nt))
        if r.step_mode == "eager" or base is None:
            continue
        found = True
        ms = f"{r.ms_per_step:.1f}" if r.status == "ok" else r.status[:60]
        gain = f"{_ms(base) / _ms(r):.2f}x" if r.status == "ok" else ""
        lines.append(f"| {r.config} | {_label(r)} | {r.window_nt:,} | {r.step_mode} | {base.ms_per_step:.1f} | {ms} "
                     f"| {gain} |")
    return [*lines, ""] if found else []


def targets(rows: list[StepCost], mfu_window: int = MFU_WINDOW, long_window: int = LONG_WINDOW) -> list[str]:
    """The issue's two model targets, each with the rows that decide it (``not measured`` when none ran)."""
    lines = ["### Targets", ""]
    band = [r for r in rows if r.status == "ok" and r.step_mode == "eager" and r.config == "d512"
            and r.pattern in BAND_PATTERNS and r.window_nt == mfu_window and r.mfu is not None]
    for pattern in BAND_PATTERNS:
        mfu = next((r.mfu for r in band if r.pattern == pattern), None)  # band rows have an MFU
        verdict = ("not measured" if mfu is None else
                   f"MFU {100 * mfu:.0f}% ({'meets' if mfu >= MFU_TARGET else 'below'} {100 * MFU_TARGET:.0f}%)")
        lines.append(f"- d512 {pattern} at {mfu_window:,} nt: {verdict}")
    long = [r for r in rows if r.status == "ok" and r.step_mode == "eager" and r.config == "gpu"
            and r.pattern == "sliding_window" and r.window_nt == long_window]
    verdict = ("not measured" if not long else
               f"{long[0].ms_per_step:.0f} ms/step ({'meets' if _ms(long[0]) < LONG_STEP_TARGET_MS else 'over'}"
               f" {LONG_STEP_TARGET_MS:.0f} ms)")
    lines += [f"- gpu sliding_window at {long_window:,} nt: {verdict}", ""]
    return lines


def summary_markdown(rows: list[StepCost], meta: dict) -> str:
    peak = meta.get("matmul_peak_tflops")
    head = [f"Device: {meta.get('device', '?')}; torch {meta.get('torch', '?')}; bf16 matmul peak "
            f"{'not measured' if peak is None else f'{peak:.0f} TFLOP/s'} (the MFU denominator); batch "
            f"{meta.get('batch')}; dense model: {meta.get('dense_kernels', {})}", ""]
    return "\n".join(head + targets(rows) + cost_tables(rows) + mode_gains(rows))
