"""PNG plots of runs (matplotlib, headless)."""

from __future__ import annotations

import datetime as dt


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_conditions(series: dict[str, list[dict]], title: str, path: str) -> None:
    numeric = {k: v for k, v in series.items()
               if any(isinstance(p["v"], (int, float)) and not isinstance(p["v"], bool) for p in v)}
    if not numeric:
        raise ValueError("no numeric archived values over the run")
    plt = _pyplot()
    fig, axes = plt.subplots(len(numeric), 1, figsize=(9, 1.8 * len(numeric) + 0.6), sharex=True, squeeze=False)
    for ax, (name, points) in zip(axes[:, 0], sorted(numeric.items()), strict=True):
        ax.step([dt.datetime.fromtimestamp(p["t"], dt.UTC) for p in points], [p["v"] for p in points], where="post")
        ax.set_ylabel(name.rsplit("/", 2)[-2] + "/" + name.rsplit("/", 1)[-1], fontsize=7)
    axes[0, 0].set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_iv(curves: list[tuple[str, list[float], list[float]]], title: str, path: str) -> None:
    """IV curves overlaid: |I| in nA against |V|."""
    if not any(v for _, v, _ in curves):
        raise ValueError("no IV points")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, volts, amps in curves:
        ax.plot([abs(v) for v in volts], [abs(i) * 1e9 for i in amps], marker="o", markersize=3, label=label)
    ax.set_xlabel("|bias| (V)")
    ax.set_ylabel("|leakage current| (nA)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
