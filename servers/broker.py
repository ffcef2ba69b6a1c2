"""The embedded MQTT broker a station runs when its file names no broker:
mosquitto when installed, else amqtt (pure Python, MQTT 3.1.1). Loopback only."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def mosquitto_config(host: str, port: int) -> str:
    lines = [
        f"listener {port} {host}",
        "allow_anonymous true",
        "persistence false",
        "max_queued_messages 0",  # never drop QoS>0 messages to a slow subscriber
        "set_tcp_nodelay true",  # no Nagle delay (up to 40 ms with delayed ACKs) to subscribers
        "log_dest stdout",
    ]
    if os.geteuid() == 0:
        lines.append("user root")
    return "\n".join(lines) + "\n"


def amqtt_config(host: str, port: int) -> str:
    return (
        "listeners:\n"
        "  default:\n"
        "    type: tcp\n"
        f"    bind: {host}:{port}\n"
        "plugins:\n"
        "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
        "    allow_anonymous: true\n"
        "  amqtt.plugins.sys.broker.BrokerSysPlugin:\n"
        "    sys_interval: 0\n"
    )


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)


_FIND = object()


def broker_command(host: str, port: int, run_dir: Path, mosquitto=_FIND) -> tuple[str, list[str]]:
    """(which broker, argv) for an embedded broker on host:port; mosquitto=None forces amqtt."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if mosquitto is _FIND:
        mosquitto = find_mosquitto()
    if mosquitto:
        conf = run_dir / "mosquitto.conf"
        conf.write_text(mosquitto_config(host, port))
        return "mosquitto", [mosquitto, "-c", str(conf)]
    conf = run_dir / "amqtt.yaml"
    conf.write_text(amqtt_config(host, port))
    amqtt = shutil.which("amqtt") or str(Path(sys.executable).with_name("amqtt"))
    return "amqtt", [amqtt, "-c", str(conf)]
