"""The interlock rules without Tango: parsing, debounce, latching, permits, and a replayed time series."""

from __future__ import annotations

import pytest

from devices.drivers.environment import dew_point
from devices.safety.rules import Engine, RuleError, Sample, parse_rules

pytestmark = pytest.mark.unit  # in-process: no service, no child process

SENSOR = "demo/env/coldbox"
HV, LV = "demo/hv/module1", "demo/lv/module1-ch1"
SAFETY = {
    "rules": [
        {"name": "dew-point", "when": {"difference": [f"{SENSOR}/temperature", f"{SENSOR}/dew_point"], "below": 3.0},
         "readings": 3, "actions": [{"device": HV, "command": "Off"}]},
        {"name": "sensor-fault", "when": {"state": SENSOR, "in": ["FAULT", "UNREACHABLE"]},
         "actions": [{"device": HV, "command": "Off"}]},
        {"name": "lv-lost", "when": {"all": [{"state": LV, "in": ["OFF", "FAULT", "UNREACHABLE"]},
                                             {"state": HV, "in": ["ON", "MOVING"]}]},
         "actions": [{"device": HV, "command": "Off"}]},
    ],
    "permits": [{"device": HV, "command": "On", "requires": [{"state": LV, "in": ["ON"]}],
                 "rules_clear": ["dew-point", "sensor-fault"]}],
}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def engine(grace=0.0, clock=None):
    rules, permits = parse_rules(SAFETY, "demo/safety/interlock")
    return Engine(rules, permits, grace, clock or Clock())


def feed(e, t, temperature, humidity, valid=True):
    td = dew_point(temperature, humidity)
    trips = e.update(("attr", f"{SENSOR}/temperature"), Sample(temperature, valid, t))
    trips += e.update(("attr", f"{SENSOR}/dew_point"), Sample(td, valid, t))
    return trips


def test_replayed_series_trips_at_the_third_unsafe_reading():
    """A cold box at -20 C whose humidity rises 1 %/reading: the margin crosses 3 K at a known reading."""
    e = engine()
    trips = []
    for i in range(80):
        t = 1000.0 + i  # one reading a second
        humidity = 40.0 + i
        for trip in feed(e, t, -20.0, min(humidity, 100.0)):
            trips.append((t, trip))
    margins = [-20.0 - dew_point(-20.0, min(40.0 + i, 100.0)) for i in range(80)]
    first_unsafe = next(i for i, m in enumerate(margins) if m < 3.0)
    assert len(trips) == 1
    t, trip = trips[0]
    assert t == 1000.0 + first_unsafe + 2  # debounce: the third consecutive unsafe reading
    assert trip.rule == "dew-point" and [a.command for a in trip.actions] == ["Off"]
    assert trip.values[f"attr:{SENSOR}/temperature"] == -20.0


def test_one_noisy_spike_does_not_trip():
    e = engine()
    assert not feed(e, 1, 20.0, 10.0)
    assert not feed(e, 2, 20.0, 95.0)  # spike
    assert not feed(e, 3, 20.0, 10.0)
    assert not feed(e, 4, 20.0, 95.0)
    assert not feed(e, 5, 20.0, 95.0)
    assert [t.rule for t in feed(e, 6, 20.0, 95.0)] == ["dew-point"]


def test_invalid_readings_are_unsafe_and_stale_sensor_trips():
    e = engine()
    for t in (1, 2, 3):
        trips = feed(e, t, 20.0, 10.0, valid=False)
    assert [t.rule for t in trips] == ["dew-point"]
    assert [t.rule for t in e.update(("state", SENSOR), Sample("FAULT", True, 4))] == ["sensor-fault"]


def test_latched_until_acknowledged_and_clear():
    e = engine()
    for t in (1, 2, 3):
        feed(e, t, 20.0, 95.0)
    assert e.latched == ["dew-point"]
    with pytest.raises(ValueError, match="not acknowledged"):
        e.reset("dew-point")
    e.acknowledge("dew-point")
    with pytest.raises(ValueError, match="still unsafe"):
        e.reset("dew-point")
    feed(e, 4, 20.0, 10.0)
    e.reset("dew-point")
    assert e.latched == []
    assert not feed(e, 5, 20.0, 95.0)  # counting starts again


def test_grace_period_suppresses_trips():
    clock = Clock()
    e = engine(grace=10.0, clock=clock)
    for t in (1, 2, 3, 4):
        assert not feed(e, t, 20.0, 95.0)
    clock.now += 11
    assert [t.rule for t in feed(e, 5, 20.0, 95.0)] == ["dew-point"]


def test_lv_lost_only_matters_while_hv_is_on():
    e = engine()
    assert not e.update(("state", HV), Sample("OFF", True, 1))
    assert not e.update(("state", LV), Sample("OFF", True, 1))
    e.update(("state", LV), Sample("ON", True, 2))
    e.update(("state", HV), Sample("ON", True, 3))
    assert [t.rule for t in e.update(("state", LV), Sample("FAULT", True, 4))] == ["lv-lost"]


def test_permit_names_the_reason():
    e = engine()
    assert "no reading yet" in e.permit(HV, "On")
    e.update(("state", LV), Sample("OFF", True, 1))
    assert e.permit(HV, "On") == "On refused: demo/lv/module1-ch1 is OFF, needs ON"
    e.update(("state", LV), Sample("ON", True, 2))
    assert e.permit(HV, "On") is None
    for t in (3, 4, 5):
        feed(e, t, 20.0, 95.0)
    assert "interlock rule 'dew-point' is TRIPPED" in e.permit(HV, "On")
    assert e.permit(HV, "Off") is None


@pytest.mark.parametrize("change, message", [
    (lambda s: s["rules"][0].update(when={"attribute": "demo/env/coldbox", "below": 1}), "expected an attribute"),
    (lambda s: s["rules"][0].update(when={"state": SENSOR, "in": ["WET"]}), "unknown Tango state"),
    (lambda s: s["rules"][0].update(when={"attribute": f"{SENSOR}/humidity", "below": "high"}), "expected a number"),
    (lambda s: s["rules"][0].update(readings=0), "expected a whole number >= 1"),
    (lambda s: s["rules"][1].update(name="dew-point"), "duplicate rule name"),
    (lambda s: s["rules"][0].update(actions=[{"device": "demo/safety/interlock", "command": "Reset"}]), "circular action"),
    (lambda s: s["rules"].append({"name": "hv-on-means-lv-off", "when": {"state": HV, "in": ["ON"]},
                                  "actions": [{"device": LV, "command": "Off"}]}), "circular actions: hv-on-means-lv-off -> lv-lost"),
    (lambda s: s["rules"][0].update(actions=[{"device": HV, "command": "rm -rf"}]), "not a command name"),
    (lambda s: s["permits"][0].update(rules_clear=["nope"]), "unknown rule 'nope'"),
])
def test_bad_rules_are_refused_with_the_key(change, message):
    import copy

    bad = copy.deepcopy(SAFETY)
    change(bad)
    with pytest.raises(RuleError) as info:
        parse_rules(bad, "demo/safety/interlock")
    assert message in str(info.value) and str(info.value).startswith("safety.")


def test_an_input_never_read_or_unknown_is_unsafe_for_a_rule_and_no_permission():
    e = engine()  # the HV's state never read: it may be on, so LV lost trips (the HV Off is safe)
    assert [t.rule for t in e.update(("state", LV), Sample("OFF", True, 1))] == ["lv-lost"]
    e = engine()
    e.update(("state", HV), Sample("ON", True, 1))
    e.update(("state", LV), Sample("ON", True, 1))
    assert e.permit(HV, "On") is None
    e.update(("state", LV), Sample("UNKNOWN", False, 2))  # its device went silent: not a permission
    assert e.permit(HV, "On") is not None
