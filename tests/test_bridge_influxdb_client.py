"""influxdb-client's write path (/api/v2/write) against a real VictoriaMetrics, and the embedded store."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import pytest
import tango

from db.archive.embedded import EmbeddedArchive

import services
from conftest import bridge_station, start_station
from testkit import wait_for

LV1 = "demo/lv/module1-ch1"


def export(port: int, metric: str) -> list[dict]:
    urllib.request.urlopen(f"http://127.0.0.1:{port}/internal/force_flush", timeout=10).read()
    query = urllib.parse.urlencode({"match[]": f'{{__name__="{metric}"}}'})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/export?{query}", timeout=10) as reply:
        return [json.loads(line) for line in reply.read().decode().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def vm_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vm")
    broker = services.mosquitto(tmp / "mosquitto")
    vm = services.victoria_metrics(tmp / "vm")
    token = tmp / "influx.token"
    token.write_text("not-checked-by-victoria-metrics\n")
    path = bridge_station(tmp, broker.port, {"backend": "influxdb2", "url": f"http://127.0.0.1:{vm.port}",
                                              "org": "lab", "bucket": "dcs", "token_file": str(token),
                                              "flush_interval": 0.1})
    launcher = start_station(path)
    yield {"vm": vm, "host": launcher.station.tango_host, "path": path}
    launcher.stop()
    broker.stop()
    vm.stop()


def test_influxdb_client_write_path_lands_in_victoria_metrics(vm_env):
    lv = tango.DeviceProxy(f"tango://{vm_env['host']}/{LV1}")
    lv.current_limit = 1.0
    lv.voltage_setpoint = 3.3
    lv.On()
    try:
        def arrived():
            series = [s for s in export(vm_env["vm"].port, "lv_value")
                      if s["metric"].get("device") == LV1 and s["metric"].get("attribute") == "voltage"]
            return series if series and any(abs(v - 3.3) < 0.01 for v in series[0]["values"]) else None

        series = wait_for(arrived, timeout_s=20, interval_s=0.5, what="3.3 V in VictoriaMetrics")
        labels = series[0]["metric"]
        assert labels["station"] == "demo" and labels["unit"] == "V"
        stamps = series[0]["timestamps"]  # ms: VictoriaMetrics cuts ns to ms
        assert all(abs(ts / 1e3 - time.time()) < 120 for ts in stamps)
    finally:
        lv.Off()


def test_embedded_store_is_idempotent(tmp_path):
    from db.archive.reading import Reading

    store = EmbeddedArchive(tmp_path / "a.sqlite", "demo")
    points = [Reading("demo/hv/m1", "voltage", float(i), "VALID", "V", 1_000 + i) for i in range(100)]
    store.write(points)
    store.write(points[:50])  # a replayed spool segment
    assert store.count() == 100
    history = store.history("demo/hv/m1", "voltage", 1_000, 1_049, 1000)
    assert [p.value for p in history] == [float(i) for i in range(50)]
    store.write([Reading("demo/hv/m1", "State", "ON", "VALID", "", 5_000)])
    assert store.history("demo/hv/m1", "State", 0, 10_000, 10)[0].value == "ON"
    store.close()
