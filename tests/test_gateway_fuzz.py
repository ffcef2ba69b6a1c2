"""The gateway in-process against a real Tango device: the requests that killed its thread,
retained and busy requests, and a seeded property-based fuzz (bench/fuzz_gateway.py runs 10,000+)."""

from __future__ import annotations

import json
import random

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device_process import DeviceProcess
from gateway_fuzz import DEVICE, PREFIX, Tally, Target, judge, make_gateway, random_request

SET = f"{PREFIX}/{DEVICE}/setpoint/set"


@pytest.fixture(scope="module")
def target():
    with DeviceProcess(Target, device_name=DEVICE) as proxy:
        yield proxy


@pytest.fixture
def gateway(target, tmp_path):
    gateway, connection = make_gateway(target, tmp_path)
    return gateway, connection, target


def replies(connection) -> list[dict]:
    return [json.loads(payload) for _, payload in connection.posted]


KILLERS = [
    ("65,535-char topic", f"{PREFIX}/demo/hv/{'m' * 65535}/x/set", b"1", "topic too long"),
    ("JSON 2,000 deep as the value", SET, b"[" * 2000 + b"1" + b"]" * 2000, "nested too deeply"),
    ("JSON 2,000 deep as the id", SET, b'{"value": 1, "id": ' + b"[" * 2000 + b"]" * 2000 + b"}", "nested too deeply"),
    ("4,000-digit setpoint", SET, b"1" * 4000, "number too large"),
    ("euro sign to Reset", f"{PREFIX}/{DEVICE}/cmd/Reset", json.dumps("€").encode(), "Latin-1"),
    ("U+0100 to Reset", f"{PREFIX}/{DEVICE}/cmd/Reset", b'"\\u0100"', "Latin-1"),
    ("emoji to Reset", f"{PREFIX}/{DEVICE}/cmd/Reset", json.dumps("\U0001f600").encode(), "Latin-1"),
    ("U+202E to Reset", f"{PREFIX}/{DEVICE}/cmd/Reset", json.dumps("\u202e").encode(), "Latin-1"),
    ("id 1e400", SET, b'{"value": 1, "id": 1e400}', "number out of range"),
]


@pytest.mark.parametrize("name, topic, payload, error", KILLERS, ids=[k[0] for k in KILLERS])
def test_each_killer_gets_one_clear_refusal_and_the_gateway_goes_on(gateway, name, topic, payload, error):
    gw, connection, device = gateway
    gw.handle(topic, payload)
    assert gw.errors == 0
    assert len(connection.posted) == 1
    reply_topic, text = connection.posted[0]
    body = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the reply"))
    assert body["ok"] is False and error in body["error"], body
    assert reply_topic in (f"{topic}/reply", f"{PREFIX}/$bridge/rejected")
    gw.handle(SET, b'{"value": 2.5, "id": "after"}')
    assert replies(connection)[-1] == {"ok": True, "id": "after"}
    assert device.setpoint == 2.5


def test_deep_json_is_refused_before_parsing_whatever_the_payload_limit(target, tmp_path):
    gw, connection = make_gateway(target, tmp_path)
    gw.max_payload = 1_000_000
    gw.handle(SET, b"[" * 400_000 + b"1" + b"]" * 400_000)
    assert gw.errors == 0 and "nested too deeply" in replies(connection)[-1]["error"]


def test_a_refusal_echoes_the_id_when_it_can_be_read(gateway):
    gw, connection, _ = gateway
    gw.handle(SET, b'{"value": ' + b"9" * 4000 + b', "id": 17}')
    gw.handle(SET, b'{"value": 99, "id": "too-high"}')
    gw.handle(f"{PREFIX}/{DEVICE}/cmd/Reset", '{"value": "€", "id": 3.5}'.encode())
    assert [r.get("id") for r in replies(connection)] == [17, "too-high", 3.5]
    assert all(r["ok"] is False for r in replies(connection))


def _message(topic: str, payload: bytes, retain: bool) -> mqtt.MQTTMessage:
    message = mqtt.MQTTMessage(topic=topic.encode())
    message.payload, message.retain = payload, retain
    return message


def test_a_retained_request_is_refused_and_never_acts(gateway):
    gw, connection, device = gateway
    device.setpoint = 1.0
    gw.on_message(None, None, _message(SET, b'{"value": 7.5, "id": "old"}', retain=True))
    assert gw.requests.empty(), "a retained request must not be queued"
    body = replies(connection)[-1]
    assert body["ok"] is False and body["id"] == "old" and "retained request ignored" in body["error"]
    assert device.setpoint == 1.0


def test_busy_replies_carry_the_id(target, tmp_path):
    gw, connection = make_gateway(target, tmp_path)
    gw.requests.maxsize = 1  # not started: the queue fills at once
    for i in range(3):
        gw.on_message(None, None, _message(SET, json.dumps({"value": 1, "id": i}).encode(), retain=False))
    assert replies(connection) == [{"ok": False, "error": "the gateway is busy; request dropped, retry later", "id": i}
                                   for i in (1, 2)]


@settings(derandomize=True, max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_fuzzed_requests_never_crash_hang_or_get_a_wrong_acceptance(gateway, seed):
    gw, connection, device = gateway
    tally = Tally()
    topic, payload = random_request(random.Random(seed))
    judge(gw, connection, device, tally, topic, payload)
    assert tally.failures() == 0, tally.examples


@settings(derandomize=True, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(topic=st.text(max_size=80), payload=st.binary(max_size=300))
def test_arbitrary_topics_and_bytes_get_one_valid_reply(gateway, topic, payload):
    gw, connection, device = gateway
    tally = Tally()
    judge(gw, connection, device, tally, f"{PREFIX}/{topic}", payload)
    assert tally.failures() == 0, tally.examples
