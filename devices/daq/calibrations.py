"""Ph2_ACF's calibration tags and the module layouts they run on (no Tango, no process).

The step chains are those of Ph2_ACF's CombinedCalibrationFactory (2025) as
listed in ../shared/research/ph2acf.md §1.4; the runner counts steps_total from
them and the emulator runs them. Channel counts are Ph2_ACF's Definition.h:
a CBC reads 254 strips, an SSA 120, an MPA 16 rows x 120 columns.
"""

from __future__ import annotations

from dataclasses import dataclass

_ALIGNMENT = ("OTalignLpGBTinputs", "OTalignBoardDataWord", "OTverifyBoardDataWord", "OTCICphaseAlignment",
              "OTCICwordAlignment", "OTCICBX0Alignment", "OTalignStubPackage", "OTverifyCICdataWord")
_PEDENOISE_ALIGNMENT = ("OTalignLpGBTinputs", "OTalignBoardDataWord", "OTCICphaseAlignment", "OTCICwordAlignment",
                        "OTCICBX0Alignment", "OTalignStubPackage")
_OPTICAL = ("TuneLpGBTVref", "OTVTRxLightYieldScan", "OTLpGBTEyeOpeningTest")

STEPS: dict[str, tuple[str, ...]] = {
    "tunelpgbtvref": ("TuneLpGBTVref",),
    "configureonly": ("TuneLpGBTVref", "ConfigureOnly"),
    "noiseOT": ("PedeNoise",),
    "alignment": ("TuneLpGBTVref", *_ALIGNMENT),
    "calibration": ("TuneLpGBTVref", *_ALIGNMENT, "PedestalEqualization"),
    "pedenoise": (*_PEDENOISE_ALIGNMENT, "PedeNoise"),
    "calibrationandpedenoise": (*_PEDENOISE_ALIGNMENT, "PedestalEqualization", "PedeNoise"),
    "2SquickTest": (*_OPTICAL, *_ALIGNMENT, "PedestalEqualization", "PedeNoise"),
    "2SfullTest": (*_OPTICAL, *_ALIGNMENT, "PedestalEqualization", "PedeNoise", "OTCMNoise",
                   "OTinjectionDelayOptimization", "OTinjectionOccupancyScan", "OTRegisterTester",
                   "OTBitErrorRateTest"),
    "PSquickTest": (*_OPTICAL, *_ALIGNMENT, "OTverifyMPASSAdataWord", "PSringOscillator", "PedestalEqualization",
                    "PedeNoise"),
    "PSfullTest": (*_OPTICAL, *_ALIGNMENT, "OTverifyMPASSAdataWord", "PSringOscillator", "PedestalEqualization",
                   "PedeNoise", "OTCMNoise", "OTinjectionDelayOptimization", "OTinjectionOccupancyScan",
                   "OTRegisterTester", "OTBitErrorRateTest"),
}

# seconds each step takes on real hardware (Pisa's PS quick test, research §1.5); others 5 s
STEP_SECONDS = {"OTLpGBTEyeOpeningTest": 83, "OTalignLpGBTinputs": 12, "OTverifyBoardDataWord": 7,
                "OTCICphaseAlignment": 4, "OTCICBX0Alignment": 3, "OTverifyCICdataWord": 25,
                "OTverifyMPASSAdataWord": 67, "PedestalEqualization": 45, "PedeNoise": 22,
                "OTBitErrorRateTest": 600, "OTinjectionOccupancyScan": 300, "OTCMNoise": 60}
CONFIGURE_SECONDS = 9.0
SHUTDOWN_SECONDS = 8.0


def steps(tag: str) -> tuple[str, ...]:
    if tag not in STEPS:
        raise ValueError(f"calibration tag {tag} does not exist (known: {', '.join(STEPS)})")
    return STEPS[tag]


def expected_seconds(tag: str) -> float:
    """How long a run of ``tag`` takes on real hardware, for the ETA before the first step ends."""
    return CONFIGURE_SECONDS + SHUTDOWN_SECONDS + sum(STEP_SECONDS.get(s, 5.0) for s in steps(tag))


@dataclass(frozen=True)
class Chip:
    kind: str  # CBC3, SSA2, MPA2
    folder: str  # Chip, SSA, MPA: the ROOT folder prefix
    rows: int
    columns: int
    electrons_per_unit: float

    @property
    def channels(self) -> int:
        return self.rows * self.columns

    @property
    def shape(self) -> list[int]:
        return [self.columns] if self.rows == 1 else [self.rows, self.columns]


CBC = Chip("CBC3", "Chip", 1, 254, 156.0)
SSA = Chip("SSA2", "SSA", 1, 120, 250.0)
MPA = Chip("MPA2", "MPA", 16, 120, 94.0)

HYBRIDS_PER_MODULE = 2


def module_chips(module_type: str) -> list[tuple[int, Chip]]:
    """(chip id, chip) of one hybrid: 2S has CBC 0-7; PS has SSA 0-7 and MPA 8-15."""
    if module_type == "2S":
        return [(i, CBC) for i in range(8)]
    if module_type == "PS":
        return [(i, SSA) for i in range(8)] + [(8 + i, MPA) for i in range(8)]
    raise ValueError(f"unknown module type {module_type!r} (2S or PS)")


def tags_for(module_type: str) -> tuple[str, ...]:
    other = "PS" if module_type == "2S" else "2S"
    return tuple(tag for tag in STEPS if not tag.startswith(other))
