"""``python -m benchmarks plot``: W2 drain rates and W3 latencies across systems, as one PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from benchmarks.harness import RESULTS_DIR, ROOT

OUTPUT: Final = ROOT.parent / "docs" / "benchmarks.png"
KMSG_COLOUR: Final = "#d62728"
PEER_COLOUR: Final = "#7f7f7f"


def latest_results() -> Path:
    """The newest results file."""
    files = sorted(RESULTS_DIR.glob("*.json"))
    if not files:
        raise SystemExit("no results yet: run `python -m benchmarks run` first")
    return files[-1]


def _series(rows: list[dict[str, Any]], workload: str, metric: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["workload"] == workload and r["metric"] == metric and r["values"]]


def _bars(axis: Any, rows: list[dict[str, Any]], title: str, unit: str, log: bool) -> None:
    """One horizontal bar per system, the best at the top (latency panels are the log ones)."""
    axis.set_title(title)
    if not rows:
        axis.text(0.5, 0.5, "no data in this run", ha="center", transform=axis.transAxes)
        return
    rows = sorted(rows, key=lambda r: -r["median"] if log else r["median"])
    names = [r["system"] for r in rows]
    medians = [r["median"] for r in rows]
    errors = [
        [m - r["min"] for m, r in zip(medians, rows, strict=True)],
        [r["max"] - m for m, r in zip(medians, rows, strict=True)],
    ]
    colours = [KMSG_COLOUR if n.startswith("kmsg") else PEER_COLOUR for n in names]
    axis.barh(names, medians, xerr=errors, color=colours, capsize=3)
    axis.set_xlabel(unit)
    if log:
        axis.set_xscale("log")
    for y, (value, row) in enumerate(zip(medians, rows, strict=True)):
        label = f"  {value:,.0f}" if value >= 10 else f"  {value:.2g}"
        axis.text(row["max"], y, label, va="center", fontsize=8)


def plot(results: Path | None = None) -> Path:
    """Draw W2 (drain, jobs/s) and W3 (p50 and p99, ms) into docs/benchmarks.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = results or latest_results()
    rows = json.loads(path.read_text())["rows"]
    panels = [
        (
            "W2",
            "drain 1 proc",
            "W2: drain 10,000 jobs, 1 worker process",
            "jobs/s (more is better)",
            False,
        ),
        (
            "W2p",
            "drain 2 procs",
            "W2p: drain, 2 worker processes",
            "jobs/s (more is better)",
            False,
        ),
        (
            "W3",
            "latency p50",
            "W3: enqueue-to-start p50 at 200 jobs/s",
            "ms, log scale (less is better)",
            True,
        ),
        (
            "W3",
            "latency p99",
            "W3: enqueue-to-start p99 at 200 jobs/s",
            "ms, log scale (less is better)",
            True,
        ),
    ]
    figure, axes = plt.subplots(2, 2, figsize=(13, 8))
    for axis, (workload, metric, title, unit, log) in zip(axes.flat, panels, strict=True):
        _bars(axis, _series(rows, workload, metric), title, unit, log)
    figure.suptitle(
        f"kmsg vs peer job queues (median of repetitions; bars span min-max) - {path.name}"
    )
    figure.tight_layout()
    OUTPUT.parent.mkdir(exist_ok=True)
    figure.savefig(OUTPUT, dpi=110)
    plt.close(figure)
    return OUTPUT
