"""PNG plots of benchmark samples: latency CDFs, throughput over time, failover timelines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on CI machines

import matplotlib.pyplot as plt


def plot_result(name: str, samples: dict[str, Any], out_dir: Path) -> list[Path]:
    """Draw whatever `samples` holds; returns the files written.

    `throughput` {label: [[second, count], ...]} and `timeline` [[second, label], ...] (with optional
    `timeline_series`) have their own plots; any other `{label: [number, ...]}` (e.g. `latency_ms`,
    `lateness_ms`) is drawn as a CDF.
    """
    written = []
    for key, value in samples.items():
        if key == "throughput" and value:
            written.append(_throughput(name, value, out_dir / f"{name}_throughput.png"))
        elif key == "timeline" and value:
            written.append(
                _timeline(name, value, samples.get("timeline_series"), out_dir / f"{name}_timeline.png")
            )
        elif key == "timeline_series":
            continue  # drawn in the timeline
        elif isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
            suffix = "latency_cdf" if key == "latency_ms" else f"{key}_cdf"
            written.append(_cdf(name, value, out_dir / f"{name}_{suffix}.png", unit=key))
    return written


def _cdf(name: str, latencies: dict[str, list[float]], path: Path, unit: str = "latency_ms") -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, values in latencies.items():
        if not values:
            continue
        ordered = sorted(values)
        n = len(ordered)
        ax.plot(ordered, [(i + 1) / n for i in range(n)], label=f"{label} (n={n})")
    ax.set_xscale("log")
    ax.set_xlabel(f"{unit.replace('_ms', '')} (ms, log scale)")
    ax.set_ylabel("fraction ≤ latency")
    ax.set_title(f"{name}: {unit.replace('_ms', '')} CDF")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _throughput(name: str, series: dict[str, list[list[float]]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, points in series.items():
        if points:
            xs, ys = zip(*points, strict=False)
            ax.step(xs, ys, where="post", label=label)
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("completed per second")
    ax.set_title(f"{name}: throughput over time")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _timeline(
    name: str, marks: list[list[Any]], series: dict[str, list[list[float]]] | None, path: Path
) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4))
    for label, points in (series or {}).items():
        if points:
            xs, ys = zip(*points, strict=False)
            ax.step(xs, ys, where="post", label=label)
    for at, label in marks:
        ax.axvline(float(at), color="red", linestyle="--", alpha=0.7)
        ax.annotate(str(label), (float(at), 0), rotation=90, va="bottom", ha="right", fontsize=8)
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("completed per second")
    ax.set_title(f"{name}: failover timeline")
    ax.grid(True, alpha=0.3)
    if series:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
