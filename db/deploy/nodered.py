"""Node-RED flows generated from the station file (``trackerdcs nodered export``), on FlowFuse
Dashboard 2.0 (``@flowfuse/node-red-dashboard``).

One dashboard page per module (its LV channels and HV: state, readbacks, On/Off and the
setpoints MQTT may write), one for the cold box (sensors and chiller) and one for the
alarms (the bridge's ``<prefix>/$alarms/...`` records, with Acknowledge). The flows talk
MQTT only, through the bridge's gateway: every request carries an id, and a refused
reply (``ok: false``) is shown to the operator as a notification with the gateway's words.

Every generated node's id starts with ``tdcs.``: a re-export replaces those and keeps
every other node of the flows file, so a flow a lab adds beside them survives.

For a broker with TLS and accounts (the compose stack), the broker node gets a TLS
configuration (the lab CA) and its credentials are written to ``flows_cred.json``, encrypted
as Node-RED encrypts it (AES-256-CTR, the key the SHA-256 of the ``credentialSecret``). They
hold ``${MQTT_USER}`` and ``${MQTT_PASSWORD}``, which Node-RED substitutes from its own
environment: no password is written into the flows.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from db.config.classes import known_classes
from db.config.station import DeviceConfig, LoadedStation

PREFIX = "tdcs."
BASE, THEME, BROKER, TLS = f"{PREFIX}ui-base", f"{PREFIX}ui-theme", f"{PREFIX}broker", f"{PREFIX}tls"
BROKER_CREDENTIALS = {"user": "${MQTT_USER}", "password": "${MQTT_PASSWORD}"}
POWER_COMMANDS = ("On", "Off", "Reset")

REQUEST_JS = """// An operator action -> a gateway request with an id; the reply comes back on <topic>/reply.
const id = 'nr-' + Date.now() + '-' + Math.floor(Math.random() * 1e6);
const body = {id: id, client: 'node-red'};
if (msg.write !== undefined) {
    const value = Number(msg.payload);
    if (msg.payload === '' || !Number.isFinite(value)) {
        return [null, {payload: 'Not sent: ' + msg.label + ' must be a number', topic: msg.label}];
    }
    body.value = value;
}
return [{topic: msg.request, payload: JSON.stringify(body)}, null];
"""

READINGS_JS = """// dcs/<device>/<attribute> -> the widget of that attribute (outputs in the order of 'names').
const names = %s;
const leaf = msg.topic.split('/').pop();
const index = names.indexOf(leaf);
if (index < 0) { return null; }
let value = (msg.payload !== null && typeof msg.payload === 'object' && 'value' in msg.payload) ? msg.payload.value : msg.payload;
if (typeof value === 'number' && !Number.isInteger(value)) { value = Number(value.toPrecision(4)); }
const out = names.map(() => null);
out[index] = {payload: String(value)};
return out;
"""

REPLY_JS = """// A gateway reply: a refusal goes to the operator with the gateway's words.
const reply = msg.payload || {};
const request = msg.topic.replace(/\\/reply$/, '');
node.status(reply.ok ? {fill: 'green', shape: 'dot', text: 'ok'} : {fill: 'red', shape: 'ring', text: String(reply.error)});
const text = reply.ok ? 'ok: ' + request : 'Refused: ' + request + ': ' + reply.error;
return [{payload: text}, reply.ok ? null : {payload: text, topic: 'gateway'}];
"""

ALARMS_JS = """// The latest record of every alarm (retained on <prefix>/$alarms/<source>/<id>), newest first.
const alarms = flow.get('alarms') || {};
const r = msg.payload || {};
if (!r.id) { return null; }
const when = t => t ? new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 19) : '';
alarms[r.source + '/' + r.id] = {alarm: r.id, source: r.source, active: r.active ? 'yes' : 'no',
    raised: when(r.raised), acknowledged: when(r.acknowledged), cleared: when(r.cleared), message: r.message || ''};
flow.set('alarms', alarms);
return {payload: Object.values(alarms).sort((a, b) => (a.raised < b.raised ? 1 : -1))};
"""


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


class _Flow:
    def __init__(self, loaded: LoadedStation, tls_ca: str | None):
        self.loaded = loaded
        self.tls_ca = tls_ca
        self.prefix = loaded.station.bridge.mqtt.topic_prefix
        self.nodes: list[dict] = []
        self.y = 40

    def add(self, node: dict) -> dict:
        self.nodes.append(node)
        return node

    def place(self, tab: str, x: int) -> dict:
        return {"z": tab, "x": x, "y": self.y}

    def config(self) -> None:
        self.add({"id": BASE, "type": "ui-base", "name": f"{self.loaded.name} DCS", "path": "/dashboard",
                  "includeClientData": True, "acceptsClientConfig": ["ui-notification", "ui-control"],
                  "showPathInSidebar": False, "navigationStyle": "default", "titleBarStyle": "default",
                  "showReconnectNotification": True, "notificationDisplayTime": 1,
                  "showDisconnectNotification": True})
        self.add({"id": THEME, "type": "ui-theme", "name": "tracker-dcs",
                  "colors": {"surface": "#1f3a5f", "primary": "#0d74ce", "bgPage": "#f9f9fb", "groupBg": "#ffffff",
                             "groupOutline": "#d9d9e0"},
                  "sizes": {"density": "default", "pagePadding": "12px", "groupGap": "12px",
                            "groupBorderRadius": "4px", "widgetGap": "12px"}})
        self.add({"id": BROKER, "type": "mqtt-broker", "name": "tracker-dcs broker", "broker": "${MQTT_HOST}",
                  "port": "${MQTT_PORT}", "clientid": "", "autoConnect": True, "usetls": self.tls_ca is not None,
                  **({"tls": TLS} if self.tls_ca else {}), "protocolVersion": "4",
                  "keepalive": "30", "cleansession": True, "autoUnsubscribe": True, "birthTopic": "", "closeTopic": "",
                  "willTopic": "", "userProps": "", "sessionExpiry": ""})
        if self.tls_ca:
            self.add({"id": TLS, "type": "tls-config", "name": "lab CA", "cert": "", "key": "", "ca": self.tls_ca,
                      "certname": "", "keyname": "", "caname": "", "servername": "", "verifyservercert": True,
                      "alpnprotocol": ""})

    def page(self, key: str, name: str, order: int, info: str) -> tuple[str, str]:
        tab, page = f"{PREFIX}tab.{key}", f"{PREFIX}page.{key}"
        self.add({"id": tab, "type": "tab", "label": f"tracker-dcs: {name}", "disabled": False,
                  "info": f"{info}\n\nGenerated by `trackerdcs nodered export` from the station file: a re-export "
                          "replaces this tab. Add your own flows on other tabs."})
        self.add({"id": page, "type": "ui-page", "name": name, "ui": BASE, "path": f"/{key}", "icon": "home",
                  "layout": "grid", "theme": THEME, "order": order, "className": "", "visible": "true",
                  "disabled": "false", "breakpoints": [{"name": "Default", "px": 0, "cols": 3},
                                                     {"name": "Tablet", "px": 576, "cols": 6},
                                                     {"name": "Desktop", "px": 1024, "cols": 12}]})
        self.y = 40
        return tab, page

    def group(self, page: str, key: str, name: str, order: int, width: int = 4) -> str:
        group = f"{PREFIX}group.{key}"
        self.add({"id": group, "type": "ui-group", "name": name, "page": page, "width": str(width), "height": "1",
                  "order": order, "showTitle": True, "className": "", "visible": "true", "disabled": "false",
                  "groupType": "default"})
        return group

    def notifier(self, tab: str, key: str) -> str:
        node = f"{PREFIX}{key}.notify"
        self.add({"id": node, "type": "ui-notification", "ui": BASE, "position": "top right", "colorDefault": False,
                  "color": "#c62828", "displayTime": "8", "showCountdown": True, "outputs": 0, "allowDismiss": True,
                  "dismissText": "Close", "allowConfirm": False, "confirmText": "Confirm", "raw": False,
                  "className": "", "name": "gateway refusals", **self.place(tab, 900), "wires": []})
        return node

    def text(self, tab: str, group: str, node_id: str, label: str, order: int) -> str:
        self.add({"id": node_id, "type": "ui-text", "group": group, "order": order, "width": 0, "height": 0,
                  "name": "", "label": label, "format": "{{msg.payload}}", "layout": "row-spread", "style": False,
                  "font": "", "fontSize": 16, "color": "#000000", "wrapText": False, "className": "",
                  "value": "payload", "valueType": "msg", **self.place(tab, 700), "wires": []})
        self.y += 40
        return node_id

    def device(self, tab: str, page: str, device: DeviceConfig, order: int, notify: str) -> None:
        key = _slug(device.name)
        name = device.name
        group = self.group(page, key, name, order)
        info = known_classes().get(device.class_)
        topic = f"{self.prefix}/{name}"
        shown = ["state"] + [a for a, c in device.attributes.items() if c.publish]
        widgets = []
        for index, attribute in enumerate(shown):
            unit = ""
            if attribute != "state":
                config = device.attributes[attribute]
                unit = config.unit or (info.attributes[attribute].unit if info and attribute in info.attributes else "")
                label = config.label or attribute
            else:
                label = "State"
            widgets.append(self.text(tab, group, f"{PREFIX}{key}.show.{attribute}",
                                     f"{label} ({unit})" if unit else label, index + 1))
        route = f"{PREFIX}{key}.route"
        self.add({"id": route, "type": "function", "name": f"{name} readings", "func": READINGS_JS % json.dumps(shown),
                  "outputs": len(shown), "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": [],
                  **self.place(tab, 420), "wires": [[w] for w in widgets]})
        self.add({"id": f"{PREFIX}{key}.in", "type": "mqtt in", "name": f"{topic}/+", "topic": f"{topic}/+",
                  "qos": "1", "datatype": "auto-detect", "broker": BROKER, "nl": False, "rap": True, "rh": 0,
                  "inputs": 0, **self.place(tab, 160), "wires": [[route]]})
        self.y += 60
        request, out = f"{PREFIX}{key}.request", f"{PREFIX}{key}.out"
        order_next = len(shown) + 1
        for command in [c for c in device.mqtt.commands if c in POWER_COMMANDS or not device.class_.startswith("Power")]:
            button = f"{PREFIX}{key}.cmd.{command}"
            self.add({"id": button, "type": "ui-button", "group": group, "name": "", "label": command,
                      "order": order_next, "width": 0, "height": 0, "emulateClick": False, "tooltip": f"{name} {command}",
                      "color": "", "bgcolor": "", "className": f"tdcs-{key}-{command.lower()}", "icon": "",
                      "iconPosition": "left", "payload": "", "payloadType": "str", "topic": "topic",
                      "topicType": "msg", "buttonColor": "", "textColor": "", "iconColor": "", "enableClick": True,
                      "enablePointerdown": False, "pointerdownPayload": "", "pointerdownPayloadType": "str",
                      "enablePointerup": False, "pointerupPayload": "", "pointerupPayloadType": "str",
                      **self.place(tab, 160), "wires": [[f"{button}.to"]]})
            self.add({"id": f"{button}.to", "type": "change", "name": f"cmd/{command}", "rules": [
                {"t": "set", "p": "request", "pt": "msg", "to": f"{topic}/cmd/{command}", "tot": "str"}],
                **self.place(tab, 420), "wires": [[request]]})
            order_next += 1
            self.y += 40
        for attribute in device.mqtt.write:
            field = f"{PREFIX}{key}.set.{attribute}"
            low, high = device.mqtt.limits.get(attribute, (None, None))
            limits = f" [{low:g} to {high:g}]" if low is not None else ""
            label = f"{attribute}{limits}"
            self.add({"id": field, "type": "ui-text-input", "group": group, "name": "", "label": label,
                      "order": order_next, "width": 0, "height": 0, "topic": "topic", "topicType": "msg",
                      "mode": "number", "tooltip": f"Enter sends it to {topic}/{attribute}/set", "passthru": False,
                      "sendOnDelay": False, "sendOnBlur": False, "sendOnEnter": True,
                      "className": f"tdcs-{key}-set-{attribute}", "clearable": False, "sendOnClear": False,
                      "icon": "", "iconPosition": "left", "iconInnerPosition": "inside",
                      **self.place(tab, 160), "wires": [[f"{field}.to"]]})
            self.add({"id": f"{field}.to", "type": "change", "name": f"{attribute}/set", "rules": [
                {"t": "set", "p": "request", "pt": "msg", "to": f"{topic}/{attribute}/set", "tot": "str"},
                {"t": "set", "p": "write", "pt": "msg", "to": attribute, "tot": "str"},
                {"t": "set", "p": "label", "pt": "msg", "to": attribute, "tot": "str"}],
                **self.place(tab, 420), "wires": [[request]]})
            order_next += 1
            self.y += 40
        if not device.mqtt.commands and not device.mqtt.write:
            return
        self.add({"id": request, "type": "function", "name": f"{name} request", "func": REQUEST_JS, "outputs": 2,
                  "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": [], **self.place(tab, 640),
                  "wires": [[out], [notify]]})
        self.add({"id": out, "type": "mqtt out", "name": "to the gateway", "topic": "", "qos": "1", "retain": "false",
                  "respTopic": "", "contentType": "", "userProps": "", "correl": "", "expiry": "", "broker": BROKER,
                  **self.place(tab, 880), "wires": []})
        last = self.text(tab, group, f"{PREFIX}{key}.reply", "Last reply", order_next)
        reply = f"{PREFIX}{key}.reply-fn"
        self.add({"id": reply, "type": "function", "name": f"{name} replies", "func": REPLY_JS, "outputs": 2,
                  "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": [], **self.place(tab, 420),
                  "wires": [[last], [notify]]})
        for suffix in ("+/set/reply", "cmd/+/reply"):
            self.add({"id": f"{PREFIX}{key}.replies.{suffix.split('/')[0].replace('+', 'set')}", "type": "mqtt in",
                      "name": f"{topic}/{suffix}", "topic": f"{topic}/{suffix}", "qos": "1", "datatype": "json",
                      "broker": BROKER, "nl": False, "rap": True, "rh": 0, "inputs": 0, **self.place(tab, 160),
                      "wires": [[reply]]})
            self.y += 40
        self.y += 40

    def alarms(self, order: int) -> None:
        tab, page = self.page("alarms", "Alarms", order, "The station's alarms, as the bridge publishes them.")
        notify = self.notifier(tab, "alarms")
        group = self.group(page, "alarms", "Alarms (latest record of each)", 1, 12)
        table = f"{PREFIX}alarms.table"
        self.add({"id": table, "type": "ui-table", "group": group, "name": "", "label": "", "order": 1, "width": 0,
                  "height": 0, "maxrows": 0, "passthru": False, "autocols": True, "showSearch": True,
                  "deselect": True, "selectionType": "none", "mobileBreakpoint": "sm",
                  "mobileBreakpointType": "defaults", "action": "replace", "className": "tdcs-alarms",
                  **self.place(tab, 700), "wires": []})
        fold = f"{PREFIX}alarms.fold"
        self.add({"id": fold, "type": "function", "name": "alarm records", "func": ALARMS_JS, "outputs": 1,
                  "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": [], **self.place(tab, 420),
                  "wires": [[table]]})
        self.add({"id": f"{PREFIX}alarms.in", "type": "mqtt in", "name": f"{self.prefix}/$alarms/#",
                  "topic": f"{self.prefix}/$alarms/#", "qos": "1", "datatype": "json", "broker": BROKER, "nl": False,
                  "rap": True, "rh": 0, "inputs": 0, **self.place(tab, 160), "wires": [[fold]]})
        self.y += 80
        safety = self.loaded.station.safety
        if safety is not None:
            device = next((d for _, d in self.loaded.station.devices() if d.name == safety.device), None)
            if device is not None:
                self.device(tab, page, device, 2, notify)


def flows(loaded: LoadedStation, tls_ca: str | None = None) -> list[dict]:
    """The generated nodes (ids starting with ``tdcs.``); with ``tls_ca`` (a path in Node-RED's
    file system, or ``${VAR}``) the broker is reached over TLS, its server certificate checked."""
    flow = _Flow(loaded, tls_ca)
    flow.config()
    by_name = {d.name: d for _, d in loaded.station.devices()}
    order = 1
    for module in loaded.station.modules:
        tab, page = flow.page(_slug(module.name), f"Module {module.name}", order,
                              f"Module {module.name} ({module.type}): LV first, then HV.")
        notify = flow.notifier(tab, _slug(module.name))
        for index, name in enumerate([*module.lv, module.hv]):
            if name in by_name:
                flow.device(tab, page, by_name[name], index + 1, notify)
        order += 1
    environment = [d for d in by_name.values() if d.class_ in ("EnvironmentSensor", "Chiller")]
    if environment:
        tab, page = flow.page("coldbox", "Cold box", order, "The cold box: sensors and chiller.")
        notify = flow.notifier(tab, "coldbox")
        for index, device in enumerate(environment):
            flow.device(tab, page, device, index + 1, notify)
        order += 1
    flow.alarms(order)
    ids = [n["id"] for n in flow.nodes]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"generated Node-RED node ids collide: {duplicates}")
    return flow.nodes


def _key(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def encrypt_credentials(secret: str, credentials: dict) -> dict:
    """``flows_cred.json`` as Node-RED writes it: ``{"$": hex(iv) + base64(AES-256-CTR(json))}``."""
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(_key(secret)), modes.CTR(iv)).encryptor()
    data = encryptor.update(json.dumps(credentials).encode()) + encryptor.finalize()
    return {"$": iv.hex() + base64.b64encode(data).decode()}


def decrypt_credentials(secret: str, stored: dict) -> dict:
    """The credentials of a ``flows_cred.json``; ValueError when the secret is not the one it was
    written with."""
    text = stored.get("$") if isinstance(stored, dict) else None
    if not isinstance(text, str) or len(text) < 32:
        raise ValueError("not an encrypted Node-RED credentials file (no '$')")
    decryptor = Cipher(algorithms.AES(_key(secret)), modes.CTR(bytes.fromhex(text[:32]))).decryptor()
    plain = decryptor.update(base64.b64decode(text[32:])) + decryptor.finalize()
    try:
        return json.loads(plain.decode())
    except (UnicodeDecodeError, ValueError):
        raise ValueError("it was encrypted with another credential secret") from None


def _write_credentials(path: Path, secret: str) -> None:
    """Set the generated broker's credentials in ``path`` (flows_cred.json), keeping every other
    node's (a lab's own flows)."""
    credentials: dict = {}
    if path.exists():
        try:
            credentials = decrypt_credentials(secret, json.loads(path.read_text()))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    credentials = {k: v for k, v in credentials.items() if not k.startswith(PREFIX)}
    credentials[BROKER] = BROKER_CREDENTIALS
    path.write_text(json.dumps(encrypt_credentials(secret, credentials)) + "\n")


def export(loaded: LoadedStation, out: Path, tls_ca: str | None = None,
           credential_secret: str | None = None) -> tuple[Path, int, int]:
    """Write ``out``/flows.json: the generated nodes, and every node of an existing flows file that
    is not generated (a lab's own flows). With ``credential_secret`` (Node-RED's
    ``credentialSecret``) the broker's account goes to ``out``/flows_cred.json as
    ``${MQTT_USER}``/``${MQTT_PASSWORD}``. Returns (path, generated, kept)."""
    path = Path(out) / "flows.json"
    kept: list[dict] = []
    if path.exists():
        try:
            existing = json.loads(path.read_text())
        except ValueError as exc:
            raise ValueError(f"{path} is not a Node-RED flows file: {exc}") from None
        if not isinstance(existing, list):
            raise ValueError(f"{path} is not a Node-RED flows file (not a list of nodes)")
        kept = [n for n in existing if not str(n.get("id", "")).startswith(PREFIX)]
    generated = flows(loaded, tls_ca)
    path.parent.mkdir(parents=True, exist_ok=True)
    if credential_secret is not None:
        _write_credentials(path.with_name("flows_cred.json"), credential_secret)
    path.write_text(json.dumps(kept + generated, indent=1) + "\n")
    return path, len(generated), len(kept)
