"""Ph2_ACF's Results.root into run-store documents, with uproot (no Tango, no ROOT install).

Table-driven over the names Ph2_ACF writes (research ph2acf.md §1.8): per chip
``ChannelNoise``, ``ChannelPedestal`` (CBC) or ``ChannelPulseHeight`` (SSA,
MPA) and ``ChannelOffsetValues``; the hybrid number in the file is global
(2 x optical group + local hybrid). A channel whose noise is 0 is one Ph2_ACF
could not fit ("forcing it to 0"): a dead channel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devices.daq.calibrations import CBC, MPA, SSA

_CHIPS = {"Chip": CBC, "SSA": SSA, "MPA": MPA}
_DIR = re.compile(r"^Detector/Board_(?P<b>\d+)/OpticalGroup_(?P<o>\d+)/Hybrid_(?P<h>\d+)/(?P<f>Chip|SSA|MPA)_(?P<c>\d+)$")


@dataclass(frozen=True)
class Grading:
    noise_min: float = 0.0
    noise_max: float = 8.0  # VcTh: a chip's mean noise above this fails
    max_dead: int = 5  # dead channels per module

    def grade(self, chips: list[dict], dead: int) -> tuple[str, list[str]]:
        reasons = [f"hybrid {c['hybrid']} {c['type']} chip {c['chip']}: mean noise {c['mean_noise']:.2f} outside "
                   f"[{self.noise_min:g}, {self.noise_max:g}]"
                   for c in chips if not self.noise_min <= c["mean_noise"] <= self.noise_max]
        if dead > self.max_dead:
            reasons.append(f"{dead} dead channels (at most {self.max_dead})")
        return ("fail" if reasons else "pass"), reasons


def _text(file, key: str) -> str | None:
    try:
        return str(file[key])
    except KeyError:  # uproot's KeyInFileError is one
        return None


def read_metadata(path: Path) -> dict:
    import uproot  # 0.2 s: imported by the run's ingest, not by every CLI command and server

    with uproot.open(path) as f:
        names = ("CalibrationName", "CalibrationStartTimestamp", "CalibrationStopTimestamp", "GitTag",
                 "GitCommitHash", "HostName", "Username")
        return {n: _text(f, f"Detector/{n}_Detector") for n in names}


def ingest(path: Path, modules: list[str], calibration: str, t_start, grading: Grading = Grading()
           ) -> tuple[list[dict], list[dict]]:
    """(module_results, chip_data) of one result file; ``modules[g]`` is the module on optical group g."""
    import uproot

    chips: dict[str, list[dict]] = {}
    with uproot.open(path) as f:
        for key in f.keys(cycle=False, recursive=True):
            match = _DIR.match(key)
            if not match:
                continue
            b, o, h, c = (int(match[x]) for x in "bohc")
            chip = _CHIPS[match["f"]]
            prefix = f"{key}/D_B({b})_O({o})_H({h})_"
            suffix = f"_Chip({c})"
            noise = _values(f, f"{prefix}ChannelNoise{suffix}")
            if noise is None:
                continue
            pedestal_name = "ChannelPedestal" if chip is CBC else "ChannelPulseHeight"
            pedestal = _values(f, f"{prefix}{pedestal_name}{suffix}")
            offset = _values(f, f"{prefix}ChannelOffsetValues{suffix}")
            module = modules[o] if o < len(modules) else f"og{o}"
            dead = [int(i) for i in np.flatnonzero(noise == 0)]
            live = noise[noise > 0]
            doc = {"module": module, "optical_group": o, "hybrid": h, "chip": c, "type": chip.kind,
                   "calibration": calibration, "t_start": t_start, "n_channels": int(noise.size),
                   "shape": chip.shape,
                   "noise": noise.reshape(chip.shape).tolist(),
                   "pedestal": None if pedestal is None else pedestal.reshape(chip.shape).tolist(),
                   "offset": None if offset is None else offset.reshape(chip.shape).tolist(),
                   "dead": dead,
                   "units": {"noise": "VcTh", "pedestal": "VcTh", "electrons_per_unit": chip.electrons_per_unit},
                   "source": {"file": str(path), "object": f"{prefix}ChannelNoise{suffix}"},
                   "summary": {"mean_noise": float(live.mean()) if live.size else 0.0,
                               "rms_noise": float(live.std()) if live.size else 0.0,
                               "mean_pedestal": None if pedestal is None else float(pedestal.mean()),
                               "n_dead": len(dead)}}
            chips.setdefault(module, []).append(doc)
    results = []
    for module, docs in chips.items():
        docs.sort(key=lambda d: (d["hybrid"], d["chip"]))
        summaries = [{"hybrid": d["hybrid"], "chip": d["chip"], "type": d["type"], **d["summary"]} for d in docs]
        dead = sum(d["summary"]["n_dead"] for d in docs)
        grade, reasons = grading.grade(summaries, dead)
        hybrids = sorted({d["hybrid"] for d in docs})
        results.append({
            "module": module, "calibration": calibration, "t_start": t_start,
            "optical_group": docs[0]["optical_group"],
            "summary": {"hybrids": [_hybrid(h, [s for s in summaries if s["hybrid"] == h]) for h in hybrids],
                        "n_dead": dead, "grade": grade, "reasons": reasons,
                        "grading": {"noise_min": grading.noise_min, "noise_max": grading.noise_max,
                                    "max_dead": grading.max_dead}},
            "chips": summaries,
        })
    return results, [d for docs in chips.values() for d in docs]


def _hybrid(hybrid: int, chips: list[dict]) -> dict:
    noise = [c["mean_noise"] for c in chips]
    return {"hybrid": hybrid, "mean_noise": float(np.mean(noise)), "n_dead": sum(c["n_dead"] for c in chips)}


def _values(f, key: str) -> np.ndarray | None:
    try:
        return np.asarray(f[key].values(), dtype=np.float64)
    except KeyError:  # uproot's KeyInFileError is one
        return None
