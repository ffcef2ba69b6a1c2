"""MQTT command gateway: ``dcs/<device>/<attribute>/set`` and ``dcs/<device>/cmd/<Command>``
become Tango writes and commands, for what the station file allows and nothing else.

Request payload: a JSON value, or ``{"value": ..., "id": ..., "client": ...}``.
Reply on ``<request topic>/reply``: ``{"ok": true|false, "error"?: str, "id"?: ...}``.
Every request is checked before any Tango call (size, JSON, NaN/inf, known
device, allow-list, type, range); a Tango refusal comes back as the error.
No shell, no eval: a request can only pick an allowed name and carry a value.
Accepted requests and their results are appended to the audit log (JSON lines).
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import tango

log = logging.getLogger("trackerdcs.bridge.gateway")

_NUMERIC = {tango.CmdArgType.DevDouble, tango.CmdArgType.DevFloat}
_INTEGER = {tango.CmdArgType.DevShort, tango.CmdArgType.DevLong, tango.CmdArgType.DevLong64,
            tango.CmdArgType.DevUShort, tango.CmdArgType.DevULong, tango.CmdArgType.DevULong64,
            tango.CmdArgType.DevUChar}


class RequestError(ValueError):
    """A request refused before (or by) Tango; the message goes back to the requester."""


@dataclass(frozen=True)
class Permissions:
    write: frozenset[str]
    commands: frozenset[str]
    limits: dict  # attribute -> (min, max) from the station file


def _reject_constant(name: str):
    raise RequestError(f"malformed JSON: {name} is not a number JSON allows")


def _check_type(what: str, data_type, value):
    if data_type == tango.CmdArgType.DevBoolean:
        if not isinstance(value, bool):
            raise RequestError(f"{what} expects true or false, got {type(value).__name__} {value!r}")
        return value
    if data_type in _NUMERIC:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RequestError(f"{what} expects a number, got {type(value).__name__} {value!r}")
        if not math.isfinite(value):
            raise RequestError(f"{what} expects a finite number")
        return float(value)
    if data_type in _INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RequestError(f"{what} expects an integer, got {type(value).__name__} {value!r}")
        return value
    if data_type == tango.CmdArgType.DevString:
        if not isinstance(value, str):
            raise RequestError(f"{what} expects a string, got {type(value).__name__} {value!r}")
        return value
    raise RequestError(f"{what} has a type the gateway does not accept over MQTT ({data_type})")


def _limit(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None  # "Not specified"


class CommandGateway:
    def __init__(self, connection, prefix: str, tango_host: str, permissions: dict[str, Permissions],
                 audit_file: Path, max_payload: int = 4096, timeout_ms: int = 3000):
        self.connection = connection
        self.prefix = prefix
        self.tango_host = tango_host
        self.permissions = permissions
        self.audit_file = Path(audit_file)
        self.max_payload = max_payload
        self.timeout_ms = timeout_ms
        self.requests: queue.Queue = queue.Queue(maxsize=1000)
        self._proxies: dict[str, tango.DeviceProxy] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.handled = 0

    # ---------------------------------------------------------------- wiring
    def subscriptions(self) -> list[str]:
        return [f"{self.prefix}/+/+/+/+/set", f"{self.prefix}/+/+/+/cmd/+"]

    def subscribe(self) -> None:
        """Called on (re)connect, on the connection's owner thread."""
        for topic in self.subscriptions():
            self.connection.client.subscribe(topic, qos=1)

    def on_message(self, client, userdata, message) -> None:  # network loop thread: enqueue only
        try:
            self.requests.put_nowait((message.topic, bytes(message.payload)))
        except queue.Full:
            self._reply(message.topic, None, "the gateway is busy; request dropped, retry later")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mqtt-gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                topic, payload = self.requests.get(timeout=0.2)
            except queue.Empty:
                continue
            self.handle(topic, payload)

    # -------------------------------------------------------------- handling
    def handle(self, topic: str, payload: bytes) -> None:
        request_id = None
        try:
            kind, device, name = self._parse_topic(topic)
            value, request_id, client = self._parse_payload(payload)
            allowed = self.permissions.get(device)
            if allowed is None:
                raise RequestError(f"unknown device {device!r}")
            if kind == "set":
                if name not in allowed.write:
                    raise RequestError(f"writing {device}/{name} is not allowed over MQTT "
                                       f"(allowed: {', '.join(sorted(allowed.write)) or 'nothing'})")
                self._write(device, name, value, client)
            else:
                if name not in allowed.commands:
                    raise RequestError(f"command {device}/{name} is not allowed over MQTT "
                                       f"(allowed: {', '.join(sorted(allowed.commands)) or 'none'})")
                self._command(device, name, value, client)
        except RequestError as exc:
            self._reply(topic, request_id, str(exc))
        else:
            self._reply(topic, request_id, None)
        finally:
            self.handled += 1

    def _parse_topic(self, topic: str) -> tuple[str, str, str]:
        parts = topic.split("/")
        if len(parts) == 6 and parts[0] == self.prefix and parts[5] == "set":
            return "set", "/".join(parts[1:4]).lower(), parts[4]
        if len(parts) == 6 and parts[0] == self.prefix and parts[4] == "cmd":
            return "cmd", "/".join(parts[1:4]).lower(), parts[5]
        raise RequestError(f"not a request topic: {topic}")

    def _parse_payload(self, payload: bytes):
        if len(payload) > self.max_payload:
            raise RequestError(f"payload too large: {len(payload)} bytes (limit {self.max_payload})")
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError("payload is not UTF-8 text") from None
        if not text.strip():
            return None, None, None
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise RequestError(f"malformed JSON: {exc.msg} at position {exc.pos}") from None
        if isinstance(data, dict):
            unknown = set(data) - {"value", "id", "client"}
            if unknown:
                raise RequestError(f"unknown request keys: {', '.join(sorted(unknown))} (use value, id, client)")
            client = data.get("client")
            return data.get("value"), data.get("id"), str(client)[:100] if client is not None else None
        return data, None, None

    def _proxy(self, device: str) -> tango.DeviceProxy:
        proxy = self._proxies.get(device)
        if proxy is None:
            try:
                proxy = tango.DeviceProxy(f"tango://{self.tango_host}/{device}")
                proxy.set_timeout_millis(self.timeout_ms)
            except tango.DevFailed as exc:
                raise RequestError(f"device {device} unreachable: {exc.args[0].desc.strip()}") from None
            self._proxies[device] = proxy
        return proxy

    def _write(self, device: str, attribute: str, value, client) -> None:
        proxy = self._proxy(device)
        target = f"{device}/{attribute}"
        try:
            config = proxy.get_attribute_config(attribute)
        except tango.DevFailed as exc:
            raise RequestError(f"{target}: {exc.args[0].desc.strip()}") from None
        if value is None:
            raise RequestError(f"{target} needs a value")
        value = _check_type(target, config.data_type, value)
        if not isinstance(value, (bool, str)):
            low, high = self.permissions[device].limits.get(attribute, (None, None))
            if low is not None and not low <= value <= high:
                raise RequestError(f"{target}: {value} is outside the range allowed over MQTT [{low}, {high}]")
            low, high = _limit(config.min_value), _limit(config.max_value)
            if low is not None and value < low:
                raise RequestError(f"{target}: {value} is below min_value {config.min_value}")
            if high is not None and value > high:
                raise RequestError(f"{target}: {value} is above max_value {config.max_value}")
        try:
            old = proxy.read_attribute(attribute).value
            old = old.item() if hasattr(old, "item") else old
        except tango.DevFailed:
            old = None
        try:
            proxy.write_attribute(attribute, value)
        except tango.DevFailed as exc:
            error = exc.args[0].desc.strip()
            self._audit(client, target, "write", old, value, f"refused: {error}")
            raise RequestError(f"{target}: {error}") from None
        self._audit(client, target, "write", old, value, "ok")

    def _command(self, device: str, command: str, argument, client) -> None:
        proxy = self._proxy(device)
        target = f"{device}/{command}"
        try:
            info = proxy.command_query(command)
        except tango.DevFailed as exc:
            raise RequestError(f"{target}: {exc.args[0].desc.strip()}") from None
        if info.in_type == tango.CmdArgType.DevVoid:
            if argument is not None:
                raise RequestError(f"{target} takes no argument")
            args = ()
        else:
            if argument is None:
                raise RequestError(f"{target} needs an argument")
            args = (_check_type(target, info.in_type, argument),)
        try:
            proxy.command_inout(command, *args)
        except tango.DevFailed as exc:
            error = exc.args[0].desc.strip()
            self._audit(client, target, "command", None, argument, f"refused: {error}")
            raise RequestError(f"{target}: {error}") from None
        self._audit(client, target, "command", None, argument, "ok")

    def _reply(self, topic: str, request_id, error: str | None) -> None:
        body = {"ok": error is None}
        if error is not None:
            body["error"] = error
        if request_id is not None:
            body["id"] = request_id
        try:
            payload = json.dumps(body)
        except (TypeError, ValueError):
            body["id"] = str(request_id)
            payload = json.dumps(body)
        self.connection.post(f"{topic}/reply", payload, qos=1, retain=False)

    def _audit(self, client, target: str, action: str, old, new, result: str) -> None:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z",
                 "client": client, "action": action, "target": target, "old": old, "new": new, "result": result}
        self.audit_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.audit_file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, default=str) + "\n")
        log.info("audit: %s %s %s -> %s: %s", client or "?", action, target, new, result)
