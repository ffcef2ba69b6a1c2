"""Ph2_ACF's console stream, line by line, as events (no Tango, no process).

Ph2_ACF logs through easylogging++: ``DD.MM.YYYY HH:MM:SS: |<thread>|I| message``
with ANSI colours; a few lines (HW summary, "Supervisor Sending Stop!!!",
"elapsed time") are plain. OT calibrations print no percentage: progress is the
step markers (research ph2acf.md §1.6)::

    Run 500749 started
    Starting OTVTRxLightYieldScan measurement.   /  Starting Pedestal Equalization  /  Starting noise measurement
    Done with OTVTRxLightYieldScan.              /  Done with Pedestal Equalization  /  Done with noise
    Closing result file: Results/Run_500749/Results.root
    Run 500749 stopped
    Halted
    elapsed time: 293.01 seconds
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
LINE = re.compile(r"^(?P<date>\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d): \|(?P<thread>\d+)\|(?P<level>[IWEFD])\| ?(?P<text>.*)$")

# steps whose markers are not "<Name> measurement" (research §1.6)
_NAMED_STEPS = {"Pedestal Equalization": "PedestalEqualization", "noise measurement": "PedeNoise", "noise": "PedeNoise"}
_STARTING = re.compile(r"^Starting (?:(?P<named>Pedestal Equalization|noise measurement)|(?P<step>\w+) measurement\.?)$")
_DONE = re.compile(r"^Done with (?:(?P<named>Pedestal Equalization|noise)|(?P<step>\w+)\.?)$")

# what wrappers look for when a run fails (research §1.6, Pisa's shellCommands.py)
FAILURE_SIGNATURES = {
    "ControlHub returned error code 3": "the FC7 does not answer (ControlHub error 3: board off or unreachable)",
    "Host not found": "the FC7's host name is unknown (/etc/hosts)",
    "No object enabled in fDetectorContainer": "no module answers (unpowered, no light, or wrong firmware)",
    "does not exist": "unknown calibration tag",
}


@dataclass(frozen=True)
class LogEvent:
    kind: str  # run_started, step_started, step_done, result_file, run_stopped, halted, elapsed, warning, error, failure, line
    text: str
    value: str | int | float | None = None
    level: str = "I"


def parse_line(raw: str) -> LogEvent:
    line = ANSI.sub("", raw).rstrip("\r\n")
    match = LINE.match(line)
    level, text = (match["level"], match["text"].strip()) if match else ("", line.strip())
    if level == "I" or not match:
        if m := re.fullmatch(r"Run (\d+) started", text):
            return LogEvent("run_started", text, int(m[1]))
        if m := _STARTING.match(text):
            return LogEvent("step_started", text, m["step"] or _NAMED_STEPS[m["named"]])
        if m := _DONE.match(text):
            return LogEvent("step_done", text, m["step"] or _NAMED_STEPS[m["named"]])
        if m := re.fullmatch(r"Closing result file: (\S+)", text):
            return LogEvent("result_file", text, m[1])
        if m := re.fullmatch(r"Run (\d+) stopped", text):
            return LogEvent("run_stopped", text, int(m[1]))
        if text == "Halted":
            return LogEvent("halted", text)
        if m := re.search(r"elapsed time: ([0-9.]+) seconds", text):
            return LogEvent("elapsed", text, float(m[1]))
    for signature, meaning in FAILURE_SIGNATURES.items():
        if signature in text:
            return LogEvent("failure", text, meaning, level or "E")
    if level == "W":
        return LogEvent("warning", text, None, level)
    if level in ("E", "F"):
        return LogEvent("error", text, None, level)
    return LogEvent("line", text, None, level)
