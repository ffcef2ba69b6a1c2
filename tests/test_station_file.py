"""Station-file validation: every problem, with file, line and key path."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from db.config.validation import StationFileError, check_text, load_station
from trackerdcs.cli import cli

from testkit import DEMO

pytestmark = pytest.mark.unit  # in-process: no service, no child process

THREE_ERRORS = """\
station: lab
tango:
  database:
    embedded: {port: 10000}
instruments:
  lv: {model: hmp4040, resource: "TCPIP::127.0.0.1::15025::SOCKET", emulated: true}
servers:
  - name: PowerSupply/lab-lv
    devices:
      - name: lab/lv/ch1
        class: PowerSupplyChannel
        instrument: lv
        properties: {channel: "one"}
      - name: lab/lv/ch1
        class: PowerSupplyChannel
        instrument: lv
        properties: {channel: 2}
      - name: lab/lv/ch3
        class: PowerSuply
"""


def messages(text: str) -> list[str]:
    station, problems = check_text(text)
    assert station is None
    return [p.format("s.yaml") for p in problems]


def test_demo_station_is_valid():
    station = load_station(DEMO)
    assert station.name == "demo"
    assert len(station.station.devices()) == 9


def test_three_errors_three_messages_with_lines():
    assert messages(THREE_ERRORS) == [
        "s.yaml:13 servers[0].devices[0].properties.channel: expected an integer, got 'one'",
        "s.yaml:14 servers[0].devices[1].name: duplicate device name 'lab/lv/ch1' (also at servers[0].devices[0].name)",
        "s.yaml:19 servers[0].devices[2].class: unknown device class 'PowerSuply' "
        "(known: BurnInSequencer, Chiller, EnvironmentSensor, IvScanner, Ph2AcfRunner, PowerSupplyChannel, SafetyInterlock)",
    ]


def test_cli_check_exits_1_with_every_message(tmp_path):
    path = tmp_path / "three.yaml"
    path.write_text(THREE_ERRORS)
    result = CliRunner().invoke(cli, ["config", "check", str(path)])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("three.yaml:")]
    assert [line.split()[0] for line in lines] == ["three.yaml:13", "three.yaml:14", "three.yaml:19"]
    assert "3 problem(s)" in result.stderr


def test_yaml_syntax_error_has_its_line():
    [message] = messages("station: lab\nservers:\n  - name: [PowerSupply/x\n")
    assert message.startswith("s.yaml:4") or message.startswith("s.yaml:3")
    assert "YAML syntax error" in message


@pytest.mark.parametrize("snippet, expected", [
    ("        attributes: {bogus: {unit: V}}", "PowerSupplyChannel has no attribute 'bogus'"),
    ("        attributes: {current: {min_alarm: 5, max_alarm: 1}}", "min_alarm = 5 is above max_alarm = 1"),
    ("        attributes: {current: {max_warning: 3, max_alarm: 2}}", "max_warning = 3 is above max_alarm = 2"),
    ("        attributes: {voltage: {unit: 5, abs_change: -1}}", "Input should be greater than 0"),
    ("        properties: {voltage_min: 10.0, voltage_max: 5.0}", "voltage_min = 10.0 is above voltage_max = 5.0"),
    ("        properties: {no_such: 1}", "PowerSupplyChannel has no property 'no_such'"),
    ("        properties: {ramp_required: \"yes\"}", "expected true or false"),
    ("        properties: {voltage_max: high}", "expected a number"),
    ("        properties: {channel: 7}", "a hmp4040 has channels [1, 2, 3, 4], not 7"),
    ("        colour: red", "unknown key 'colour'"),
])
def test_each_kind_of_error_is_named(snippet, expected):
    text = f"""\
station: lab
instruments:
  lv: {{model: hmp4040, resource: "TCPIP::127.0.0.1::15025::SOCKET", emulated: true}}
servers:
  - name: PowerSupply/lab-lv
    devices:
      - name: lab/lv/ch1
        class: PowerSupplyChannel
        instrument: lv
{snippet}
"""
    found = messages(text)
    assert any(expected in m and m.startswith("s.yaml:10") for m in found), found


def test_instrument_and_name_rules():
    text = """\
station: lab
instruments:
  hv: {model: keithley2410, resource: "TCPIP::10.1.2.3::5025::SOCKET", emulated: true}
  psu: {model: hmp9000, resource: "TCPIP::127.0.0.1::15029::SOCKET"}
servers:
  - name: PowerSupply/a
    devices:
      - {name: lab/hv/m1, class: PowerSupplyChannel, instrument: hv}
  - name: PowerSupply/b
    devices:
      - {name: other/hv/m2, class: PowerSupplyChannel, instrument: hv}
      - {name: lab/hv/m3, class: PowerSupplyChannel, instrument: nothere}
"""
    found = "\n".join(messages(text))
    assert "emulators listen on loopback only" in found
    assert "unknown instrument model 'hmp9000'" in found
    assert "must be in the station's domain" in found
    assert "already used by server 'PowerSupply/a'" in found
    assert "unknown instrument 'nothere'" in found


def test_load_station_raises_with_all_problems(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(THREE_ERRORS)
    with pytest.raises(StationFileError) as info:
        load_station(path)
    assert len(info.value.problems) == 3
    with pytest.raises(StationFileError, match="cannot read"):
        load_station(Path(tmp_path / "missing.yaml"))


@pytest.mark.parametrize("edit, expected", [
    (lambda r: r["safety"]["rules"][0]["when"].update(difference=["demo/env/nosuch/temperature", "demo/env/coldbox/dew_point"]),
     "unknown device 'demo/env/nosuch'"),
    (lambda r: r["safety"]["rules"][0]["when"].update(difference=["demo/env/coldbox/wetness", "demo/env/coldbox/dew_point"]),
     "EnvironmentSensor demo/env/coldbox has no attribute 'wetness'"),
    (lambda r: r["safety"]["rules"][0]["when"].update(below="three"), "expected a number, got 'three'"),
    (lambda r: r["safety"]["rules"][0]["actions"].__setitem__(0, {"device": "demo/hv/module1", "command": "Explode"}),
     "PowerSupplyChannel demo/hv/module1 has no command 'Explode'"),
    (lambda r: r["safety"]["rules"].append({"name": "loop", "when": {"state": "demo/hv/module1", "in": ["ON"]},
                                            "actions": [{"device": "demo/lv/module1-ch1", "command": "Off"}]}),
     "circular actions"),
    (lambda r: r["safety"].update(device="demo/hv/module1"), "must be a SafetyInterlock device"),
])
def test_bad_rules_are_refused_at_config_check(tmp_path, edit, expected):
    import yaml

    raw = yaml.safe_load(DEMO.read_text())
    edit(raw)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(StationFileError) as info:
        load_station(path)
    lines = [p.format("rules.yaml") for p in info.value.problems]
    assert any(expected in line and line.startswith("rules.yaml:") and " safety." in line for line in lines), lines


def test_run_devices_name_the_station_modules_and_hv_channels():
    import yaml

    raw = yaml.safe_load(DEMO.read_text())
    for server in raw["servers"]:
        for device in server["devices"]:
            if device["class"] == "Ph2AcfRunner":
                device["properties"]["modules"] = ["nomodule"]
            if device["class"] == "IvScanner":
                device["properties"]["hv_device"] = "demo/env/coldbox"
    raw["instruments"]["fc7-daq"]["resource"] = "TCPIP::127.0.0.1::9::SOCKET"
    _, problems = check_text(yaml.safe_dump(raw, sort_keys=False))
    found = [p.message for p in problems]
    assert "unknown module 'nomodule' (modules: demo-module)" in found
    assert "'demo/env/coldbox' is not a PowerSupplyChannel of this station" in found
    assert any(m.startswith("an fc7 is reached by an IPbus URI such as chtcp-2.0://") for m in found)
