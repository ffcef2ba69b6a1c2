"""Emulated Ph2_ACF executables, for tests and the demo station:

    python -m devices.sim.ph2acf runCalibration -b -f settings/fc7.xml -c 2SquickTest
    python -m devices.sim.ph2acf fpgaconfig -c settings/fc7.xml -l

Same command line, run numbers from ``RunNumbers.dat`` in the working
directory, the real log format and step sequence of each tag, and
``Results/Run_<N>/Results.root`` with the real names (root_file.py). Real
stdio behaviour too: stdout is block-buffered unless it is a terminal, and
SIGINT aborts the run (the process ends by SIGABRT, as runCalibration's
watchdog does). What the emulated world is, and which faults to inject, is
read from ``$PH2ACF_BASE_DIR/emulator.json`` (emulator.py).
"""

from __future__ import annotations

import argparse
import sys

from devices.sim.ph2acf.emulator import fpgaconfig, run_calibration


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("runCalibration", "fpgaconfig"):
        print("usage: python -m devices.sim.ph2acf runCalibration|fpgaconfig [options]", file=sys.stderr)
        return 2
    program, rest = args[0], args[1:]
    if program == "runCalibration":
        parser = argparse.ArgumentParser(prog="runCalibration")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("-f", "--file", help="hardware description XML")
        source.add_argument("-l", "--last", action="store_true", help="reuse the last run's Configuration.xml")
        source.add_argument("-r", "--run", type=int, help="reuse Results/Run_<N>/Configuration.xml")
        parser.add_argument("-c", "--calibration", required=True, help="calibration tag")
        parser.add_argument("-b", "--batch", action="store_true", help="ROOT batch mode")
        return run_calibration(parser.parse_args(rest))
    parser = argparse.ArgumentParser(prog="fpgaconfig")
    parser.add_argument("-c", "--config", required=True, help="hardware description XML")
    parser.add_argument("-l", "--list", action="store_true", help="list the images on the SD card")
    parser.add_argument("-i", "--image", help="load this image into the FPGA")
    return fpgaconfig(parser.parse_args(rest))


if __name__ == "__main__":
    sys.exit(main())
