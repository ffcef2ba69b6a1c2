"""Fuzzing the MQTT command gateway in-process, against a real Tango device.

Shared by tests/test_gateway_fuzz.py (hypothesis, seeded) and bench/fuzz_gateway.py
(>= 10,000 cases with counts). ``Target`` is a Tango device with one writable
attribute or command per argument type the gateway accepts; it runs in a
``DeviceProcess`` (tests/device_process.py). The gateway's MQTT connection is a recorder
of what it would publish (no broker is involved in this layer).

Each case is judged: exactly one reply, valid JSON (no NaN/Infinity), ``ok``
a bool, the request's ``id`` echoed whenever it was a readable scalar, no
internal error, and nothing accepted outside the limits of the permissions.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from tango import AttrWriteType
from tango.server import Device, attribute, command

from bridges.gateway import CommandGateway, Permissions
from bridges.requests import MAX_JSON_DEPTH, json_depth_within

DEVICE = "test/fuzz/target"
PREFIX = "dcs"
LIMITS = {"setpoint": (-10.0, 10.0)}
PERMISSIONS = {DEVICE: Permissions(frozenset({"setpoint", "count", "flag", "label"}),
                                   frozenset({"On", "Reset", "Scale"}), dict(LIMITS))}
MAX_PAYLOAD = 4096
HANG_S = 2.0  # a request the gateway takes longer than this over is a hang


class Target(Device):
    """Every type the gateway accepts over MQTT."""

    def init_device(self):
        super().init_device()
        self._setpoint, self._count, self._flag, self._label, self._scale = 0.0, 0, False, "", 1.0

    @attribute(dtype=float, access=AttrWriteType.READ_WRITE)
    def setpoint(self):
        return self._setpoint

    @setpoint.write
    def setpoint(self, value):
        self._setpoint = value

    @attribute(dtype=int, access=AttrWriteType.READ_WRITE)
    def count(self):
        return self._count

    @count.write
    def count(self, value):
        self._count = value

    @attribute(dtype=bool, access=AttrWriteType.READ_WRITE)
    def flag(self):
        return self._flag

    @flag.write
    def flag(self, value):
        self._flag = value

    @attribute(dtype=str, access=AttrWriteType.READ_WRITE)
    def label(self):
        return self._label

    @label.write
    def label(self, value):
        self._label = value

    @command
    def On(self):
        pass

    @command(dtype_in=str)
    def Reset(self, reason):
        self._label = reason

    @command(dtype_in=float)
    def Scale(self, factor):
        self._scale = factor


class RecordingConnection:
    """What the gateway hands to its MQTT connection, recorded."""

    def __init__(self):
        self.posted: list[tuple[str, str]] = []

    def post(self, topic, payload, qos=0, retain=False):
        self.posted.append((topic, payload if isinstance(payload, str) else payload.decode()))


def make_gateway(proxy, folder: Path) -> tuple[CommandGateway, RecordingConnection]:
    connection = RecordingConnection()
    gateway = CommandGateway(connection, PREFIX, "unused:0", PERMISSIONS, folder / "audit.jsonl", MAX_PAYLOAD,
                             proxy_factory=lambda device: proxy)
    return gateway, connection


# ------------------------------------------------------------------ cases
NASTY_STRINGS = ["", "€", "\u0100", "\U0001f600", "\u202e", "\x00", "\x1b[2J", "a" * 5000, "é", "ok", "\ud800"]
NASTY_NUMBERS = ["1e400", "-1e400", "1" * 4000, "-" + "9" * 30, "1e308", "5e-324", "0", "-0.0", "9.5", "11", "-10",
                 "2147483648", "9223372036854775808", "NaN", "Infinity", "-Infinity", "1.0e+2", "0x10", "01"]
NAMES = ["setpoint", "count", "flag", "label", "On", "Reset", "Scale", "Init", "nosuch", "", "a" * 300, "x/y", "€"]


def _scalar(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return rng.choice(NASTY_NUMBERS)
    if kind == 1:
        return json.dumps(rng.choice(NASTY_STRINGS))
    if kind == 2:
        return rng.choice(["true", "false", "null"])
    if kind == 3:
        return repr(rng.uniform(-20, 20))
    return str(rng.randint(-5, 5))


def _value(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if roll < 0.1 and depth < 6:
        return "[" + ", ".join(_value(rng, depth + 1) for _ in range(rng.randrange(3))) + "]"
    if roll < 0.15:
        return "[" * rng.choice([5, 50, 4000]) + "1" + "]" * rng.choice([0, 5, 4000])
    if roll < 0.2:
        return '{"value": ' * rng.choice([3, 4000]) + "1"
    return _scalar(rng)


def random_request(rng: random.Random) -> tuple[str, bytes]:
    """A request topic (mostly well-formed, sometimes hostile) and payload."""
    name = rng.choice(NAMES)
    device = DEVICE if rng.random() < 0.85 else rng.choice(["test/fuzz/other", "m" * 65535 + "/x/y", "a/b", "A/B/C"])
    topic = f"{PREFIX}/{device}/{name}/set" if rng.random() < 0.5 else f"{PREFIX}/{device}/cmd/{name}"
    shape = rng.randrange(6)
    if shape == 0:
        payload = _value(rng)
    elif shape == 1:
        ident = rng.choice(["1", '"req-1"', "1e400", "[1]", '{"a": 1}', "null", json.dumps("x" * 500), "true", "1" * 40])
        payload = '{"value": ' + _value(rng) + ', "id": ' + ident + "}"
    elif shape == 2:
        payload = '{"value": ' + _value(rng) + ', "client": ' + _scalar(rng) + "}"
    elif shape == 3:
        payload = rng.choice(['{"exec": "rm"}', "{", "", " ", '{"value": 1,}', '"\\ud800"', "\xff"])
    elif shape == 4:
        payload = '{"id": ' + str(rng.randint(0, 99)) + "}"
    else:
        payload = _value(rng) + " " * rng.choice([0, 5000])
    data = payload.encode("utf-8", "surrogatepass") if rng.random() < 0.95 else bytes(rng.randrange(256) for _ in range(8))
    return topic, data


# ----------------------------------------------------------------- judging
@dataclass
class Tally:
    tried: int = 0
    accepted: int = 0
    clear_error: int = 0
    traceback: int = 0
    hang: int = 0
    wrong_acceptance: int = 0
    missing_reply: int = 0
    bad_reply: int = 0
    examples: list[str] = field(default_factory=list)

    def failures(self) -> int:
        return self.traceback + self.hang + self.wrong_acceptance + self.missing_reply + self.bad_reply

    def note(self, what: str, topic: str, payload: bytes, detail: str) -> None:
        if len(self.examples) < 10:
            self.examples.append(f"{what}: {topic[:80]!r} {payload[:80]!r}: {detail}")


def _strict_json(text: str):
    def refuse(name):
        raise ValueError(f"{name} in a reply")
    return json.loads(text, parse_constant=refuse)


def expected_id(payload: bytes):
    """The id a reply must echo: a scalar the request carried, read independently of the gateway,
    from any payload within the request bounds (size, depth)."""
    if len(payload) > MAX_PAYLOAD:
        return None
    try:
        text = payload.decode("utf-8")
        if not json_depth_within(text, MAX_JSON_DEPTH):
            return None
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or "id" not in data:
        return None
    rid = data["id"]
    if isinstance(rid, bool) or rid is None:
        return rid
    if isinstance(rid, int) and abs(rid) < 2**63:
        return rid
    if isinstance(rid, float) and math.isfinite(rid):
        return rid
    if isinstance(rid, str) and len(rid) <= 128:
        return rid
    return None


def judge(gateway: CommandGateway, connection: RecordingConnection, proxy, tally: Tally, topic: str, payload: bytes) -> None:
    tally.tried += 1
    before_errors, before_posts = gateway.errors, len(connection.posted)
    started = time.monotonic()
    gateway.handle(topic, payload)
    took = time.monotonic() - started
    if took > HANG_S:
        tally.hang += 1
        tally.note("hang", topic, payload, f"{took:.1f} s")
    replies = connection.posted[before_posts:]
    if gateway.errors != before_errors:
        tally.traceback += 1
        tally.note("internal error", topic, payload, replies[-1][1] if replies else "")
        return
    if len(replies) != 1:
        tally.missing_reply += 1
        tally.note("replies", topic, payload, str(len(replies)))
        return
    reply_topic, text = replies[0]
    try:
        body = _strict_json(text)
        assert isinstance(body, dict) and isinstance(body.get("ok"), bool)
        assert reply_topic in (f"{topic}/reply", f"{PREFIX}/$bridge/rejected")
        rid = expected_id(payload)
        if rid is not None and "id" not in body:
            raise AssertionError(f"id {rid!r} not echoed")
        if "id" in body and rid is not None:
            assert body["id"] == rid, f"id {body['id']!r} is not {rid!r}"
    except (ValueError, AssertionError) as exc:
        tally.bad_reply += 1
        tally.note("bad reply", topic, payload, f"{text[:120]} ({exc})")
        return
    if not body["ok"]:
        tally.clear_error += 1
        return
    tally.accepted += 1
    if topic.endswith("/setpoint/set"):
        value = proxy.setpoint
        low, high = LIMITS["setpoint"]
        if not (math.isfinite(value) and low <= value <= high):
            tally.wrong_acceptance += 1
            tally.note("wrong acceptance", topic, payload, f"setpoint now {value}")
