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
