"""The shape of an MQTT request, checked before it costs anything (no Tango here).

Every bound is explicit, so that one hostile or careless message can neither
crash nor stall the gateway: topic length and levels, payload size, JSON
depth, number magnitude, string encoding and length, and the type of ``id``.
A refusal is a ``RequestError`` whose message goes back to the requester,
with the request's ``id`` whenever one could be read.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

MAX_TOPIC_BYTES = 512  # a Tango device name (3 levels), an attribute or command name and the prefix fit many times
MAX_JSON_DEPTH = 4  # {"value": [..]} is 2; deeper has no meaning for a setpoint or a command argument
MAX_INT_DIGITS = 19  # fits a DevLong64
MAX_STRING = 1024  # characters of any string in a request
MAX_ID_STRING = 128
MAX_CLIENT = 100
NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")  # one level of a Tango device name
MEMBER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")  # an attribute or command name
REQUEST_KEYS = ("value", "id", "client")


class RequestError(ValueError):
    """A request refused before (or by) Tango; the message goes back to the requester."""


@dataclass(frozen=True)
class Request:
    kind: str  # "set" or "cmd"
    device: str  # domain/family/member, lower case
    name: str  # attribute or command
    value: object  # None: no value given
    id: object = None  # str, int, float or bool; echoed in the reply
    client: str | None = None


def parse_topic(prefix: str, topic: str) -> tuple[str, str, str]:
    """(kind, device, name) of ``<prefix>/<d>/<f>/<m>/<attribute>/set`` or ``<prefix>/<d>/<f>/<m>/cmd/<Command>``."""
    size = len(topic.encode("utf-8", "surrogatepass"))
    if size > MAX_TOPIC_BYTES:
        raise RequestError(f"topic too long: {size} bytes (limit {MAX_TOPIC_BYTES})")
    parts = topic.split("/")
    if len(parts) != 6 or parts[0] != prefix or not (parts[5] == "set" or parts[4] == "cmd"):
        raise RequestError(f"not a request topic (expected {prefix}/<domain>/<family>/<member>/<attribute>/set "
                           f"or {prefix}/<domain>/<family>/<member>/cmd/<Command>)")
    kind = "set" if parts[5] == "set" else "cmd"
    for level in parts[1:4]:
        if not NAME.match(level):
            raise RequestError(f"not a Tango device name level: {_shown(level)}")
    name = parts[4] if kind == "set" else parts[5]
    if not MEMBER.match(name):
        raise RequestError(f"not an attribute or command name: {_shown(name)}")
    return kind, "/".join(parts[1:4]).lower(), name


def json_depth_within(text: str, limit: int) -> bool:
    """Whether the nesting of arrays and objects in ``text`` stays within ``limit`` (strings skipped).
    Checked before json.loads, whose recursion a deep document would exhaust."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return False
        elif char in "]}":
            depth -= 1
    return True


def _reject_constant(name: str):
    raise RequestError(f"malformed JSON: {name} is not a number JSON allows")


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise RequestError(f"number too large: an integer of {digits} digits (limit {MAX_INT_DIGITS})")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise RequestError(f"number out of range: {text[:40]} is beyond a double")
    return value


def decode_json(payload: bytes, max_payload: int) -> object:
    """The payload as a bounded JSON value; an empty payload is None."""
    if len(payload) > max_payload:
        raise RequestError(f"payload too large: {len(payload)} bytes (limit {max_payload})")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError("payload is not UTF-8 text") from None
    if not text.strip():
        return None
    if not json_depth_within(text, MAX_JSON_DEPTH):
        raise RequestError(f"JSON nested too deeply (limit {MAX_JSON_DEPTH} levels)")
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int, parse_float=_parse_float)
    except json.JSONDecodeError as exc:
        raise RequestError(f"malformed JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:  # defence in depth: json_depth_within already bounds this
        raise RequestError(f"JSON nested too deeply (limit {MAX_JSON_DEPTH} levels)") from None


def check_string(what: str, text: str, limit: int = MAX_STRING) -> str:
    """A string Tango can carry: at most ``limit`` characters of Latin-1 text, no control characters."""
    if len(text) > limit:
        raise RequestError(f"{what} too long: {len(text)} characters (limit {limit})")
    try:
        text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise RequestError(f"{what} has a character Tango strings cannot carry ({text[exc.start]!r} at {exc.start}; "
                           f"Tango strings are Latin-1)") from None
    bad = next((c for c in text if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0), None)
    if bad is not None:
        raise RequestError(f"{what} has a control character ({bad!r})")
    return text


def _check_value(value, depth: int = 0):
    """Every string inside a value is a Tango string; the nesting is bounded already."""
    if isinstance(value, str):
        check_string("string value", value)
    elif isinstance(value, list):
        for item in value:
            _check_value(item, depth + 1)
    elif isinstance(value, dict):
        raise RequestError("a value cannot be a JSON object (send the value itself, or {\"value\": ...})")
    return value


def readable_id(data) -> object:
    """The request id when it is one the reply can echo (a bounded scalar), else None."""
    if isinstance(data, dict):
        rid = data.get("id")
        if isinstance(rid, bool) or rid is None:
            return rid
        if isinstance(rid, int):
            return rid if abs(rid) < 2**63 else None
        if isinstance(rid, float):
            return rid if math.isfinite(rid) else None
        if isinstance(rid, str) and len(rid) <= MAX_ID_STRING:
            return rid
    return None


def parse_payload(payload: bytes, max_payload: int) -> tuple[object, object, str | None]:
    """(value, id, client) of a request payload: a JSON value, or {"value": ..., "id": ..., "client": ...}."""
    data = decode_json(payload, max_payload)
    if not isinstance(data, dict):
        return _check_value(data), None, None
    unknown = set(data) - set(REQUEST_KEYS)
    if unknown:
        names = ", ".join(sorted(k if len(k) <= 40 else k[:40] + "…" for k in unknown))
        raise RequestError(f"unknown request keys: {names} (use {', '.join(REQUEST_KEYS)})")
    rid = data.get("id")
    if rid is not None and (isinstance(rid, (dict, list)) or readable_id(data) is None):
        raise RequestError(f"id must be a string of at most {MAX_ID_STRING} characters or a number, "
                           f"not {type(rid).__name__}")
    client = data.get("client")
    if client is not None:
        if not isinstance(client, str):
            raise RequestError(f"client must be a string, not {type(client).__name__}")
        client = check_string("client", client, MAX_CLIENT)
    return _check_value(data.get("value")), rid, client


def peek_id(payload: bytes, max_payload: int) -> object:
    """The id of a request that is refused or not handled (busy, retained, a bad value), read leniently
    within the size and depth bounds so that the reply can echo it; None when there is none to read."""
    if len(payload) > max_payload:
        return None
    try:
        text = payload.decode("utf-8")
        if not json_depth_within(text, MAX_JSON_DEPTH):
            return None
        data = json.loads(text, parse_constant=lambda _name: None, parse_float=float,
                          parse_int=lambda digits: int(digits) if len(digits) <= MAX_INT_DIGITS + 1 else None)
    except (ValueError, RecursionError):
        return None
    return readable_id(data)


def parse_request(prefix: str, topic: str, payload: bytes, max_payload: int) -> Request:
    kind, device, name = parse_topic(prefix, topic)
    value, rid, client = parse_payload(payload, max_payload)
    return Request(kind, device, name, value, rid, client)


def reply_payload(error: str | None, request_id=None, result=None) -> str:
    """The reply JSON: always valid (no NaN / Infinity; an id or result that cannot be sent is left out)."""
    body: dict = {"ok": error is None}
    if error is not None:
        body["error"] = error
    if request_id is not None:
        body["id"] = request_id
    if result is not None and not (isinstance(result, float) and not math.isfinite(result)):
        body["result"] = result[:MAX_STRING] if isinstance(result, str) else result
    try:
        return json.dumps(body, allow_nan=False)
    except (TypeError, ValueError):
        body.pop("id", None)
        return json.dumps(body, allow_nan=False)


def _shown(text: str, limit: int = 60) -> str:
    """A piece of a request quoted in an error, cut short."""
    return repr(text if len(text) <= limit else text[:limit] + "…")
