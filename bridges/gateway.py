"""MQTT command gateway: ``dcs/<device>/<attribute>/set`` and ``dcs/<device>/cmd/<Command>``
become Tango writes and commands, for what the station file allows and nothing else.

Request payload: a JSON value, or ``{"value": ..., "id": ..., "client": ...}``.
Reply on ``<request topic>/reply``: ``{"ok": true|false, "error"?: str, "id"?: ..., "result"?: ...}``
(``result``: what a command returned, e.g. the run number of a Ph2AcfRunner's Start).
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
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tango

from bridges.requests import MAX_STRING, Request, RequestError, check_string, parse_request, peek_id, reply_payload

log = logging.getLogger("trackerdcs.bridge.gateway")

_NUMERIC = {tango.CmdArgType.DevDouble: 1.7976931348623157e308, tango.CmdArgType.DevFloat: 3.4028234663852886e38}
_INTEGER = {  # type -> (lowest, highest)
    tango.CmdArgType.DevShort: (-2**15, 2**15 - 1), tango.CmdArgType.DevUShort: (0, 2**16 - 1),
    tango.CmdArgType.DevLong: (-2**31, 2**31 - 1), tango.CmdArgType.DevULong: (0, 2**32 - 1),
    tango.CmdArgType.DevLong64: (-2**63, 2**63 - 1), tango.CmdArgType.DevULong64: (0, 2**64 - 1),
    tango.CmdArgType.DevUChar: (0, 255),
}
MQTT_TOPIC_MAX = 65535  # bytes (MQTT 3.1.1, 1.5.3)


@dataclass(frozen=True)
class Permissions:
    write: frozenset[str]
    commands: frozenset[str]
    limits: dict  # attribute -> (min, max) from the station file


def _brief(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


def _check_type(what: str, data_type, value):
    """The value converted for Tango, or a RequestError naming what was expected."""
    got = f"{type(value).__name__} {_brief(value)}"
    if data_type == tango.CmdArgType.DevBoolean:
        if not isinstance(value, bool):
            raise RequestError(f"{what} expects true or false, got {got}")
        return value
    if data_type in _NUMERIC:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RequestError(f"{what} expects a number, got {got}")
        value = float(value)
        if not math.isfinite(value) or abs(value) > _NUMERIC[data_type]:
            raise RequestError(f"{what} expects a finite number within the range of a {data_type}")
        return value
    if data_type in _INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RequestError(f"{what} expects an integer, got {got}")
        low, high = _INTEGER[data_type]
        if not low <= value <= high:
            raise RequestError(f"{what} expects an integer in [{low}, {high}] ({data_type}), got {value}")
        return value
    if data_type == tango.CmdArgType.DevString:
        if not isinstance(value, str):
            raise RequestError(f"{what} expects a string, got {got}")
        return check_string(what, value, MAX_STRING)
    raise RequestError(f"{what} has a type the gateway does not accept over MQTT ({data_type})")


def _limit(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None  # "Not specified"


class CommandGateway:
    """Requests are queued by the network thread and handled one at a time on the gateway thread.
    A request never kills that thread: a failure is refused, counted in ``errors`` and logged
    (the first time with its traceback)."""

    def __init__(self, outbox, prefix: str, tango_host: str, permissions: dict[str, Permissions],
                 audit_file: Path, max_payload: int = 4096, timeout_ms: int = 3000,
                 proxy_factory: Callable[[str], tango.DeviceProxy] | None = None, max_queue: int = 1000):
        self.outbox = outbox  # where replies go (the MQTT connection's Outbox): anything with post()
        self.prefix = prefix
        self.tango_host = tango_host
        self.permissions = permissions
        self.audit_file = Path(audit_file)
        self.max_payload = max_payload
        self.timeout_ms = timeout_ms
        self._make_proxy = proxy_factory or (lambda device: tango.DeviceProxy(f"tango://{tango_host}/{device}"))
        self.requests: queue.Queue = queue.Queue(maxsize=max_queue)
        self._proxies: dict[str, tango.DeviceProxy] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.handled = 0
        self.errors = 0  # requests that failed inside the gateway (a bug), not refusals
        self._logged: set[tuple] = set()

    # ---------------------------------------------------------------- wiring
    def subscriptions(self) -> list[str]:
        return [f"{self.prefix}/+/+/+/+/set", f"{self.prefix}/+/+/+/cmd/+"]

    def on_message(self, client, userdata, message) -> None:  # network loop thread: enqueue only
        topic, payload = message.topic, bytes(message.payload)
        if message.retain:
            # a retained request was stored by the broker and is replayed to every new subscription:
            # acting on it would undo what happened since (a bridge restart would set an old setpoint again)
            self._reply(topic, peek_id(payload, self.max_payload),
                        "retained request ignored: a request acts only when it is fresh "
                        "(publish requests without the retain flag; clear this one with an empty retained message)")
            return
        try:
            self.requests.put_nowait((topic, payload))
        except queue.Full:
            self._reply(topic, peek_id(payload, self.max_payload), "the gateway is busy; request dropped, retry later")

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mqtt-gateway", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

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
        """Handle one request and reply to it, whatever it holds."""
        request_id = None
        result = None
        try:
            request = parse_request(self.prefix, topic, payload, self.max_payload)
            request_id = request.id
            result = self._authorised(request)
        except RequestError as exc:
            self._reply(topic, request_id if request_id is not None else peek_id(payload, self.max_payload), str(exc))
        except Exception as exc:  # a bug: refuse, count, log; the thread goes on
            self._internal_error(topic, peek_id(payload, self.max_payload), exc)
        else:
            self._reply(topic, request_id, None, result)
        finally:
            self.handled += 1

    def _authorised(self, request: Request):
        """Carry the request out when it is allowed; return what a command returned."""
        device, name = request.device, request.name
        allowed = self.permissions.get(device)
        if allowed is None:
            raise RequestError(f"unknown device {device!r}")
        if request.kind == "set":
            if name not in allowed.write:
                raise RequestError(f"writing {device}/{name} is not allowed over MQTT "
                                   f"(allowed: {', '.join(sorted(allowed.write)) or 'nothing'})")
            self._write(device, name, request.value, request.client)
            return None
        else:
            if name not in allowed.commands:
                raise RequestError(f"command {device}/{name} is not allowed over MQTT "
                                   f"(allowed: {', '.join(sorted(allowed.commands)) or 'none'})")
            return self._command(device, name, request.value, request.client)

    def _internal_error(self, topic: str, request_id, exc: Exception) -> None:
        self.errors += 1
        where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        signature = (type(exc).__name__, *(f"{f.filename}:{f.lineno}" for f in where))
        if signature not in self._logged:  # each kind of failure once with its traceback, then only counted
            self._logged.add(signature)
            log.error("request on %.200s failed inside the gateway", topic, exc_info=exc)
        self._reply(topic, request_id, f"internal error of the gateway ({type(exc).__name__}); the request was not carried out")

    def _proxy(self, device: str) -> tango.DeviceProxy:
        proxy = self._proxies.get(device)
        if proxy is None:
            try:
                proxy = self._make_proxy(device)
                proxy.set_timeout_millis(self.timeout_ms)
            except tango.DevFailed as exc:
                raise RequestError(f"device {device} unreachable: {exc.args[0].desc.strip()}") from None
            self._proxies[device] = proxy
        return proxy

    def _audited(self, call, client, target: str, action: str, old, new):
        """Run the Tango call; its outcome goes to the audit log, a refusal back to the requester."""
        try:
            result = call()
        except tango.DevFailed as exc:
            error = exc.args[0].desc.strip()
            self._audit(client, target, action, old, new, f"refused: {error}")
            raise RequestError(f"{target}: {error}") from None
        self._audit(client, target, action, old, new, "ok")
        return result

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
        self._audited(lambda: proxy.write_attribute(attribute, value), client, target, "write", old, value)

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
        result = self._audited(lambda: proxy.command_inout(command, *args), client, target, "command", None, argument)
        result = result.item() if hasattr(result, "item") else result
        return result if isinstance(result, (bool, int, float, str)) else None

    def _reply(self, topic: str, request_id, error: str | None, result=None) -> None:
        payload = reply_payload(error, request_id, result)
        reply_topic = f"{topic}/reply"
        if len(reply_topic.encode("utf-8", "surrogatepass")) > MQTT_TOPIC_MAX:
            # no reply topic can be made of it: say so on the bridge's own topic instead
            reply_topic = f"{self.prefix}/$bridge/rejected"
            payload = json.dumps({**json.loads(payload), "topic": topic[:200]}, ensure_ascii=True)
        self.outbox.post(reply_topic, payload, qos=1, retain=False)

    def _audit(self, client, target: str, action: str, old, new, result: str) -> None:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z",
                 "client": client, "action": action, "target": target, "old": old, "new": new, "result": result}
        self.audit_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.audit_file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, default=str) + "\n")
        log.info("audit: %s %s %s -> %s: %s", client or "?", action, target, new, result)
