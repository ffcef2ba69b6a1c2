"""Fuzz the station-file loader and checks with mutants of stations/demo.yaml; print the counts.

    .venv/bin/python bench/fuzz_station_file.py [--cases 2000] [--seed 1]

Mutants: a leaf replaced by an odd value (NaN, infinities, huge or negative numbers, strings,
lists, None), the text cut short or overwritten with random bytes. Counts: tried / refused
with named problems / accepted / traceback / hang (> 1 s) / wrong acceptance (an accepted file
with a non-finite number or a property its device would refuse at start).
"""

from __future__ import annotations

import argparse
import copy
import math
import random
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from db.config.validation import StationFileError, load_station  # noqa: E402
from devices.property_checks import property_problems  # noqa: E402

from testkit import leaves  # noqa: E402

DEMO = (ROOT / "stations" / "demo.yaml").read_bytes()
ODD = [math.nan, math.inf, -math.inf, 0, -1, -1e300, 1e300, 10**40, "", "x" * 300, None, [], {}, True, [math.nan], 0.0]


def mutant(rng: random.Random, raw: dict, paths: list) -> bytes:
    if rng.random() < 0.3:
        cut = rng.randrange(len(DEMO))
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12)))
        return DEMO[:cut] + noise + (DEMO[cut + len(noise):] if rng.random() < 0.5 else b"")
    data = copy.deepcopy(raw)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(paths)
        node = data
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = rng.choice(ODD) if rng.random() < 0.7 else rng.uniform(-1000, 1000)
        except (KeyError, IndexError, TypeError):
            continue
    return yaml.safe_dump(data, sort_keys=False).encode()


def finite(node) -> bool:
    if isinstance(node, float):
        return math.isfinite(node)
    if isinstance(node, dict):
        return all(finite(v) for v in node.values())
    if isinstance(node, list):
        return all(finite(v) for v in node)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    raw = yaml.safe_load(DEMO)
    paths = list(leaves(raw))
    counts = dict.fromkeys(("tried", "refused_named", "accepted", "traceback", "hang", "wrong_acceptance"), 0)
    examples = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "station.yaml"
        for _ in range(args.cases):
            content = mutant(rng, raw, paths)
            path.write_bytes(content)
            counts["tried"] += 1
            started = time.monotonic()
            try:
                loaded = load_station(path)
            except StationFileError as exc:
                ok = all(p.line for p in exc.problems) and str(exc).startswith("station.yaml:")
                counts["refused_named" if ok else "traceback"] += 1
                if not ok and len(examples) < 5:
                    examples.append(f"unnamed: {str(exc)[:120]}")
            except Exception as exc:  # noqa: BLE001 - what the fuzz is looking for
                counts["traceback"] += 1
                if len(examples) < 5:
                    examples.append(f"{type(exc).__name__}: {exc}"[:160])
            else:
                counts["accepted"] += 1
                doc = yaml.safe_load(content)
                bad = not finite(doc) or any(property_problems(d.class_, dict(d.properties))
                                             for _, d in loaded.station.devices())
                if bad:
                    counts["wrong_acceptance"] += 1
                    if len(examples) < 5:
                        examples.append("accepted: " + content[:120].decode(errors="replace"))
            if time.monotonic() - started > 1.0:
                counts["hang"] += 1
    print(f"station-file fuzz, seed {args.seed}:")
    for name, value in counts.items():
        print(f"  {name:<17} {value}")
    for example in examples:
        print("  e.g.", example)
    return 1 if counts["traceback"] or counts["hang"] or counts["wrong_acceptance"] else 0


if __name__ == "__main__":
    sys.exit(main())
