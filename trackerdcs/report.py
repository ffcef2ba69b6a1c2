"""`trackerdcs report MODULE -o DIR`: one HTML page with a module's whole test history.

Every run of the module from the run store: IV curves overlaid, noise per chip
over the runs, noise per channel of each calibration, dead channels, the
conditions each run was taken under (its snapshots and the archive over its
window) and a pass/fail summary against the station file's ``runs.grading``.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

from db.config.station import LoadedStation
from devices.daq.ingest import Grading


def _when(value) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if isinstance(value, dt.datetime) else "-"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _noise_per_chip(results: list[tuple[dict, dict]], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    for run, result in results:
        chips = result["chips"]
        ax.plot(range(len(chips)), [c["mean_noise"] for c in chips], marker="o", markersize=3,
                label=f"run {run['run_number']} {run.get('calibration', '')}")
    labels = [f"H{c['hybrid']}/{c['chip']}" for c in results[-1][1]["chips"]]
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
    ax.set_ylabel("mean noise (VcTh)")
    ax.set_title("noise per chip")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _noise_per_channel(run: dict, chips: list[dict], path: Path) -> None:
    import numpy as np

    plt = _pyplot()
    hybrids = sorted({c["hybrid"] for c in chips})
    fig, axes = plt.subplots(len(hybrids), 1, figsize=(10, 2.4 * len(hybrids)), squeeze=False)
    for ax, hybrid in zip(axes[:, 0], hybrids, strict=True):
        offset = 0
        for chip in (c for c in chips if c["hybrid"] == hybrid):
            noise = np.ravel(chip["noise"])
            ax.plot(range(offset, offset + noise.size), noise, linewidth=0.5)
            if chip["dead"]:
                ax.plot([offset + i for i in chip["dead"]], [0] * len(chip["dead"]), "rx", markersize=5)
            offset += noise.size
        ax.set_ylabel(f"H{hybrid} noise")
    axes[0, 0].set_title(f"run {run['run_number']}: noise per channel (x: dead channels)")
    axes[-1, 0].set_xlabel("channel (chips in order)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def build_report(station: LoadedStation, store, module: str, out: Path) -> Path:
    """Write ``out/index.html`` and its PNGs; return the page's path."""
    from trackerdcs.run_plots import plot_conditions, plot_iv
    from trackerdcs.runs_cli import conditions_of

    out.mkdir(parents=True, exist_ok=True)
    grading = station.station.runs.grading
    grader = Grading(grading.noise_min, grading.noise_max, grading.max_dead)
    runs = sorted(store.runs(limit=10_000, module=module), key=lambda r: r["t_start"])
    if not runs:
        raise ValueError(f"no run of module {module!r} in the run store")
    rows, sections, calibrated, ivs = [], [], [], []
    verdicts = []
    for run in runs:
        number, kind = run["run_number"], run.get("run_type", "")
        result = next((r for r in store.module_results(run["_id"], module)), None)
        verdict = ""
        if result is not None:
            dead = result["summary"]["n_dead"]
            grade, reasons = grader.grade(result["chips"], dead)
            verdict = grade + (": " + "; ".join(reasons[:3]) if reasons else "")
            verdicts.append(grade)
            calibrated.append((run, result))
        scan = store.iv_scan(run["_id"]) if kind == "iv" else None
        if scan is not None:
            ivs.append((f"run {number} {_when(run['t_start'])}", scan["points"]["V"], scan["points"]["I"]))
            verdict = scan["result"]["status"] + (f" (breakdown {scan['result']['breakdown_v']:g} V)"
                                                  if scan["result"].get("breakdown_v") else "")
            if scan["result"]["status"] in ("compliance", "breakdown"):
                verdicts.append("fail")
        snapshots = store.snapshots(run["_id"])
        conditions = conditions_of(station, run, snapshots)
        plot_name = f"conditions_run{number}_{kind}.png"
        try:
            plot_conditions(conditions["series"], f"run {number}: conditions", str(out / plot_name))
        except ValueError:
            plot_name = ""
        start = next((s for s in snapshots if s["phase"] == "start"), None)
        shown = ""
        if start is not None:
            shown = ", ".join(f"{html.escape(k.rsplit('/', 2)[-2] + '/' + k.rsplit('/', 1)[-1])} "
                              f"{v['v']:.4g}" for k, v in sorted(start["values"].items())
                              if isinstance(v.get("v"), float))
        rows.append(f"<tr><td>{number}</td><td>{html.escape(kind)}</td><td>{html.escape(str(run.get('calibration')))}"
                    f"</td><td>{_when(run['t_start'])}</td><td>{html.escape(str(run.get('status')))}</td>"
                    f"<td>{html.escape(verdict)}</td></tr>")
        body = f"<h3>run {number} ({html.escape(kind)}, {html.escape(str(run.get('calibration')))}, " \
               f"{html.escape(str(run.get('status')))}: {html.escape(str(run.get('reason', '')))})</h3>"
        body += f"<p>conditions at start: {shown or 'none recorded'}</p>"
        if plot_name:
            body += f'<img src="{plot_name}" alt="conditions of run {number}">'
        if result is not None:
            chips = store.chip_data(run["_id"], module)
            channel_plot = f"noise_channels_run{number}.png"
            _noise_per_channel(run, chips, out / channel_plot)
            body += f'<img src="{channel_plot}" alt="noise per channel of run {number}">'
            dead = [f"H{c['hybrid']} {c['type']} chip {c['chip']}: channels {', '.join(map(str, c['dead']))}"
                    for c in chips if c["dead"]]
            body += "<p>dead channels: " + (html.escape("; ".join(dead)) if dead else "none") + "</p>"
        sections.append(body)
    images = []
    if ivs:
        plot_iv(ivs, f"{module}: IV curves", str(out / "iv.png"))
        images.append('<img src="iv.png" alt="IV curves">')
    if calibrated:
        _noise_per_chip(calibrated, out / "noise_chips.png")
        images.append('<img src="noise_chips.png" alt="noise per chip">')
    overall = "FAIL" if "fail" in verdicts else "PASS" if verdicts else "no graded run"
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(module)}: module report</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #bbb;padding:3px 8px}} img{{max-width:100%;display:block;margin:1em 0}}
.pass{{color:#080}} .fail{{color:#b00}}</style></head><body>
<h1>Module {html.escape(module)}</h1>
<p>Station {html.escape(station.name)}; {len(runs)} run(s) from {_when(runs[0]['t_start'])} to
{_when(runs[-1]['t_start'])} UTC. Grading: every chip's mean noise in [{grading.noise_min:g}, {grading.noise_max:g}] VcTh,
at most {grading.max_dead} dead channels; an IV scan stopped by compliance or breakdown fails.</p>
<h2 class="{'fail' if overall == 'FAIL' else 'pass'}">Summary: {overall}</h2>
<table><tr><th>run</th><th>type</th><th>calibration</th><th>start (UTC)</th><th>status</th><th>result</th></tr>
{''.join(rows)}</table>
{''.join(images)}
<h2>Runs</h2>
{''.join(sections)}
</body></html>
"""
    path = out / "index.html"
    path.write_text(page)
    return path
