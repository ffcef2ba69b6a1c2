"""Ph2_ACF's Results.root, written with uproot: the real directory and histogram names.

Names follow Ph2_ACF's RootContainerFactory (research ph2acf.md §1.8)::

    Detector/CalibrationName_Detector                         TObjString
    Detector/Board_0/OpticalGroup_0/D_B(0)_LpGBTFuseId_OpticalGroup(0)
    Detector/Board_0/OpticalGroup_0/Hybrid_<h>/<Chip|SSA|MPA>_<c>/D_B(0)_O(0)_H(<h>)_<Name>_Chip(<c>)

The hybrid number is global (2 x optical group + local hybrid). Histograms are
TH1F/TH2F as Ph2_ACF writes them: ChannelNoise, ChannelPedestal (CBC) or
ChannelPulseHeight (SSA, MPA), NoiseDistribution (200 bins 0-20),
ChannelOffsetValues and the chip SCurve (channel x threshold).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import uproot
from uproot.writing.identify import to_TAxis, to_TH1x, to_TH2x

from devices.daq.calibrations import Chip


def chip_dir(board: int, group: int, hybrid: int, chip_id: int, chip: Chip) -> str:
    return f"Detector/Board_{board}/OpticalGroup_{group}/Hybrid_{hybrid}/{chip.folder}_{chip_id}"


def chip_name(board: int, group: int, hybrid: int, chip_id: int, what: str) -> str:
    return f"D_B({board})_O({group})_H({hybrid})_{what}_Chip({chip_id})"


def pedestal_name(chip: Chip) -> str:
    return "ChannelPedestal" if chip.kind == "CBC3" else "ChannelPulseHeight"


def th1f(name: str, values: np.ndarray, low: float | None = None, high: float | None = None):
    values = np.asarray(values, dtype=np.float32).ravel()
    n = len(values)
    low = -0.5 if low is None else low
    high = n - 0.5 if high is None else high
    data = np.zeros(n + 2, dtype=np.float32)
    data[1:-1] = values
    centres = low + (np.arange(n) + 0.5) * (high - low) / n
    total = float(values.sum())
    return to_TH1x(name, name, data, float(n), total, float((values ** 2).sum()), float((values * centres).sum()),
                   float((values * centres ** 2).sum()), None, to_TAxis("xaxis", "", n, low, high))


def th2f(name: str, values: np.ndarray, y_low: float, y_high: float):
    values = np.asarray(values, dtype=np.float32)
    nx, ny = values.shape
    data = np.zeros((ny + 2, nx + 2), dtype=np.float32)  # ROOT's layout: x runs fastest
    data[1:-1, 1:-1] = values.T
    total = float(values.sum())
    return to_TH2x(name, name, data.ravel(), float(values.size), total, total, 0.0, 0.0, 0.0, 0.0, 0.0, None,
                   to_TAxis("xaxis", "", nx, -0.5, nx - 0.5), to_TAxis("yaxis", "", ny, y_low, y_high))


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf."""
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152073 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


def write_results(path: Path, metadata: dict[str, str], chips: list[dict], scurves: bool = True) -> None:
    """``chips``: dicts with board, group, hybrid, id, chip (a Chip), pedestal, noise, offset (arrays)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with uproot.recreate(path) as out:
        for key, value in metadata.items():
            out[key] = str(value)
        for c in chips:
            chip: Chip = c["chip"]
            where = chip_dir(c["board"], c["group"], c["hybrid"], c["id"], chip)

            def name(what, c=c):
                return chip_name(c["board"], c["group"], c["hybrid"], c["id"], what)

            noise, pedestal = np.ravel(c["noise"]), np.ravel(c["pedestal"])
            out[f"{where}/{name('ChannelNoise')}"] = th1f(name("ChannelNoise"), noise)
            out[f"{where}/{name(pedestal_name(chip))}"] = th1f(name(pedestal_name(chip)), pedestal)
            out[f"{where}/{name('NoiseDistribution')}"] = th1f(
                name("NoiseDistribution"), np.histogram(noise, bins=200, range=(0, 20))[0], 0.0, 20.0)
            out[f"{where}/{name('ChannelOffsetValues')}"] = th1f(name("ChannelOffsetValues"), np.ravel(c["offset"]))
            if scurves:
                thresholds = 1024 if chip.kind == "CBC3" else 255
                grid = np.arange(thresholds, dtype=np.float32)
                width = np.where(noise > 0, noise, 1e-3)[:, None] * np.sqrt(2)
                # CBC: higher VcTh = lower threshold (occupancy rises with VcTh); SSA/MPA the other way
                sign = 1.0 if chip.kind == "CBC3" else -1.0
                curve = 0.5 * (1 + _erf(sign * (grid[None, :] - pedestal[:, None]) / width))
                out[f"{where}/{name('SCurve')}"] = th2f(name("SCurve"), curve, -0.5, thresholds - 0.5)
