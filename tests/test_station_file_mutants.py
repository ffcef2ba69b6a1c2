"""Station files that are physically meaningless, hostile or broken: each is refused with
``file:line key: message``, quickly, never with a traceback or a hang."""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from db.config.validation import StationFileError, check_text, load_station

from testkit import leaves

pytestmark = pytest.mark.unit  # in-process: no service, no child process

ROOT = Path(__file__).resolve().parent.parent
DEMO = yaml.safe_load((ROOT / "stations" / "demo.yaml").read_text())
HV = ("servers", 1, "devices", 0)
LV = ("servers", 0, "devices", 0)
CHILLER = ("servers", 2, "devices", 1)
SENSOR = ("servers", 2, "devices", 0)


def _set(raw, path, value):
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _problems(raw) -> list[str]:
    _, problems = check_text(yaml.safe_dump(raw, sort_keys=False))
    return [p.format("s.yaml") for p in problems]


MEANINGLESS = [
    ("HV voltage_max inf", HV + ("properties", "voltage_max"), math.inf, "voltage_max: must be a finite number"),
    ("HV voltage_max nan", HV + ("properties", "voltage_max"), math.nan, "voltage_max: must be a finite number"),
    ("current_limit_max nan", HV + ("properties", "current_limit_max"), math.nan, "must be a finite number"),
    ("current_limit_max 0", HV + ("properties", "current_limit_max"), 0.0, "current_limit_max must be above 0"),
    ("current_limit_max -1", HV + ("properties", "current_limit_max"), -1.0, "current_limit_max must be above 0"),
    ("LV voltage_max -12 with the default voltage_min", LV + ("properties", "voltage_max"), -12.0,
     "voltage_min = 0.0 is above voltage_max = -12.0"),
    ("default_ramp_rate above ramp_rate_max", HV + ("properties", "default_ramp_rate"), 500.0,
     "default_ramp_rate = 500 is above ramp_rate_max = 50"),
    ("default_ramp_rate 0 with ramp_required", HV + ("properties", "default_ramp_rate"), 0.0,
     "ramp_required is true, so default_ramp_rate must be above 0"),
    ("poll_period 0", LV + ("properties", "poll_period"), 0.0, "poll_period must be above 0"),
    ("poll_period -1", SENSOR + ("properties", "poll_period"), -1.0, "poll_period must be above 0"),
    ("swapped chiller setpoints", CHILLER + ("properties", "setpoint_min"), 30.0, "setpoint_min = 30.0 is above setpoint_max"),
    ("dew-point rule below nan", ("safety", "rules", 0, "when", "below"), math.nan, "must be a finite number"),
    ("lv_volts above the LV channels' voltage_max", ("modules", 0, "lv_volts"), 50.0, "lv_volts = 50 V is outside [0, 12] V"),
    ("lv_current_limit above current_limit_max", ("modules", 0, "lv_current_limit"), 9.0, "above current_limit_max = 3 A"),
    ("resource port 99999", ("instruments", "hv-k2410", "resource"), "TCPIP::127.0.0.1::99999::SOCKET",
     "port 99999 of 'TCPIP::127.0.0.1::99999::SOCKET' is not a TCP port"),
    ("data_dir placeholder", ("data_dir",), "../var/{nosuch}", "has a placeholder other than {station}"),
    ("MQTT limits inf", HV + ("mqtt", "limits", "voltage_setpoint"), [0, math.inf], "must be a finite number"),
    ("attribute max_alarm nan", HV + ("attributes", "current", "max_alarm"), math.nan, "must be a finite number"),
]


@pytest.mark.parametrize("name, path, value, message", MEANINGLESS, ids=[m[0] for m in MEANINGLESS])
def test_a_physically_meaningless_value_is_refused_with_its_line(name, path, value, message):
    raw = copy.deepcopy(DEMO)
    _set(raw, path, value)
    found = _problems(raw)
    assert any(message in p for p in found), found
    assert all(p.startswith("s.yaml:") and p.split(" ", 1)[0].split(":")[1].isdigit() for p in found), found


def _refused_quickly(tmp_path, content: bytes, expected: str, limit_s: float = 1.0) -> str:
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    started = time.monotonic()
    with pytest.raises(StationFileError) as caught:
        load_station(path)
    elapsed = time.monotonic() - started
    text = str(caught.value)
    assert expected in text, text
    assert elapsed < limit_s, f"took {elapsed:.2f} s"
    assert text.startswith("s.yaml:") and text.split(" ", 1)[0].split(":")[1].isdigit(), text
    return text


BOMB = b"""station: demo
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""

BROKEN = [
    ("billion laughs", BOMB, "an alias bomb"),
    ("recursive alias", b"station: demo\nservers: &s [*s]\n", "recursive alias"),
    ("recursive mapping alias", b"station: demo\nx: &x {y: *x}\n", "recursive alias"),
    ("deep nesting", b"station: demo\nx: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nest"),
    ("deep block nesting", b"station: demo\n" + b"".join(b"  " * i + b"k:\n" for i in range(200)), "nested more than"),
    ("binary", b"station: demo\n\x00\x01\x02\xff\xfe", "not UTF-8 text"),
    ("NUL bytes", b"station: demo\nservers: []\n\x00\x00", "not text"),
    ("UTF-16", "station: demo\n".encode("utf-16"), "UTF-16 text: save it as UTF-8"),
    ("Latin-1", "station: demo\ndescription: caf\xe9\n".encode("latin-1"), "not UTF-8 text: byte 0xe9"),
    ("complex key", b"station: demo\n? [a, b]\n: 1\n", "a key must be a plain value"),
    ("truncated flow", b"station: demo\nservers: [{name: PowerSupply/x, devices: [", "the file ends too early"),
    ("truncated quote", b'station: demo\ndescription: "unfinished\n', "YAML syntax error"),
    ("tab indentation", b"station: demo\nservers:\n\t- name: x\n", "YAML syntax error"),
    ("python tag", b"station: !!python/object/apply:os.system [echo hi]\n", "unsupported YAML tag"),
    ("python scalar tag", b"station: !!python/name:os.system\n", "cannot read the value"),
]


@pytest.mark.parametrize("name, content, expected", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_file_is_refused_in_under_a_second_with_its_line(tmp_path, name, content, expected):
    _refused_quickly(tmp_path, content, expected)


def test_a_50_mb_file_is_refused_at_once(tmp_path):
    _refused_quickly(tmp_path, b"station: demo\n" + b"# padding\n" * 5_000_000, "too large")


def test_the_device_refuses_a_non_finite_limit_at_start_too():
    from devices.property_checks import refuse_bad_properties

    with pytest.raises(ValueError, match="voltage_max must be a finite number"):
        refuse_bad_properties("PowerSupplyChannel", {"voltage_min": 0.0, "voltage_max": math.nan, "current_limit_max": 1e-4})


# ---------------------------------------------------------------- property-based mutants
LEAVES = list(leaves(DEMO))
ODD = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30), st.text(max_size=20),
                st.none(), st.booleans(), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5),
                                                                                               st.integers(), max_size=2))


@settings(derandomize=True, max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.lists(st.sampled_from(LEAVES), min_size=1, max_size=3), values=st.lists(ODD, min_size=3, max_size=3))
def test_mutated_station_files_give_named_problems_or_load(where, values):
    raw = copy.deepcopy(DEMO)
    for path, value in zip(where, values):
        _set(raw, path, value)
    station, problems = check_text(yaml.safe_dump(raw, sort_keys=False))
    assert (station is None) == bool(problems)
    for problem in problems:
        assert problem.line and problem.message
    if station is not None:  # accepted: every number in it is finite
        assert all(not (isinstance(v, float) and not math.isfinite(v)) for v in _values(raw))


def _values(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _values(value)
    elif isinstance(node, list):
        for value in node:
            yield from _values(value)
    else:
        yield node


@settings(derandomize=True, max_examples=150, deadline=None)
@given(cut=st.integers(min_value=0, max_value=10_000), noise=st.binary(max_size=20))
def test_truncated_or_corrupted_files_never_raise_anything_but_a_named_error(tmp_path_factory, cut, noise):
    text = (ROOT / "stations" / "demo.yaml").read_bytes()
    cut = cut % len(text)
    path = tmp_path_factory.mktemp("mutant") / "s.yaml"
    path.write_bytes(text[:cut] + noise + text[cut + len(noise):])
    try:
        load_station(path)
    except StationFileError as exc:
        assert all(p.line for p in exc.problems), str(exc)


def test_a_list_where_a_rule_name_belongs_is_a_named_problem():
    """Found by the mutants above: the cross-checks named the problem with the list in its path,
    and sorting out duplicate problems raised TypeError (unhashable list)."""
    raw = copy.deepcopy(DEMO)
    raw["safety"]["permits"][0]["rules_clear"][0] = []
    station, problems = check_text(yaml.safe_dump(raw))
    assert station is None and problems
    assert any("rules_clear" in str(p.path) for p in problems), problems
