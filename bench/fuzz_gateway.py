"""Fuzz the MQTT command gateway in-process against a real Tango device and print the counts.

    .venv/bin/python bench/fuzz_gateway.py [--cases 10000] [--seed 1]

Counts: tried / accepted / clear error / traceback / hang / wrong acceptance /
missing reply / bad reply. Everything but tried, accepted and clear error must be 0.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from tango.test_context import DeviceTestContext  # noqa: E402

from gateway_fuzz import DEVICE, Tally, Target, judge, make_gateway, random_request  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tally = Tally()
    with DeviceTestContext(Target, device_name=DEVICE, process=True) as proxy, tempfile.TemporaryDirectory() as tmp:
        gateway, connection = make_gateway(proxy, Path(tmp))
        started = time.monotonic()
        for _ in range(args.cases):
            judge(gateway, connection, proxy, tally, *random_request(rng))
            if len(connection.posted) > 1000:
                del connection.posted[:]
        elapsed = time.monotonic() - started
    print(f"gateway fuzz, seed {args.seed}: {tally.tried} requests in {elapsed:.1f} s ({tally.tried / elapsed:.0f}/s)")
    for name in ("tried", "accepted", "clear_error", "traceback", "hang", "wrong_acceptance", "missing_reply", "bad_reply"):
        print(f"  {name:<17} {getattr(tally, name)}")
    for example in tally.examples:
        print("  e.g.", example)
    return 1 if tally.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
