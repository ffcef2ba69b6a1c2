"""InfluxDB backends: 1.x through ``/write`` and InfluxQL ``/query``; 2.x/3.x through
influxdb-client's write API, read back through InfluxQL (a DBRP mapping on 2.x).

Lines are formatted by hand (``line_protocol``): building influxdb_client
Point objects costs ~10 us each, too much on the bridge's hot path.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import urlencode

import urllib3

from db.archive.base import ArchiveRejected, ArchiveUnavailable, HistoryPoint
from db.archive.reading import Reading, line_protocol

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[A-Za-z0-9_.\-/]+$")


def _lines(readings: list[Reading], station: str) -> bytes:
    return "\n".join(line for r in readings if (line := line_protocol(r, station))).encode()


class InfluxDB1Writer:
    def __init__(self, url: str, database: str, station: str, credentials: str | None = None, timeout_s: float = 5.0):
        self.url = url.rstrip("/")
        self.database = database
        self.station = station
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(total=timeout_s), retries=False)
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if credentials:
            self._headers.update(urllib3.make_headers(basic_auth=credentials.strip()))
        self._created = False

    def _request(self, method: str, path: str, **kwargs):
        try:
            return self._http.request(method, f"{self.url}{path}", headers=self._headers, **kwargs)
        except urllib3.exceptions.HTTPError as exc:
            raise ArchiveUnavailable(f"InfluxDB {self.url} unreachable: {exc}") from exc

    def ensure_database(self) -> None:
        reply = self._request("POST", "/query?" + urlencode({"q": f'CREATE DATABASE "{self.database}"'}))
        if reply.status >= 300:
            raise ArchiveUnavailable(f"InfluxDB {self.url}: CREATE DATABASE answered {reply.status}")
        self._created = True

    def write(self, readings: list[Reading]) -> None:
        if not self._created:
            self.ensure_database()
        body = _lines(readings, self.station)
        if not body:
            return
        reply = self._request("POST", "/write?" + urlencode({"db": self.database, "precision": "ns"}), body=body)
        if reply.status == 204:
            return
        text = reply.data.decode(errors="replace")[:300]
        if reply.status in (400, 413, 422):
            raise ArchiveRejected(f"InfluxDB refused the batch ({reply.status}): {text}")
        raise ArchiveUnavailable(f"InfluxDB write answered {reply.status}: {text}")

    def close(self) -> None:
        self._http.clear()


class InfluxDB2Writer:
    """InfluxDB 2.x/3.x (or anything speaking /api/v2/write) through influxdb-client."""

    def __init__(self, url: str, org: str, bucket: str, token: str, station: str, timeout_s: float = 5.0):
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.url, self.org, self.bucket, self.station = url, org, bucket, station
        self._client = InfluxDBClient(url=url, token=token, org=org, timeout=int(timeout_s * 1000), retries=False)
        self._write = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, readings: list[Reading]) -> None:
        from influxdb_client import WritePrecision
        from influxdb_client.rest import ApiException

        body = _lines(readings, self.station)
        if not body:
            return
        try:
            self._write.write(bucket=self.bucket, org=self.org, record=body, write_precision=WritePrecision.NS)
        except ApiException as exc:
            if exc.status in (400, 413, 422):
                raise ArchiveRejected(f"InfluxDB refused the batch ({exc.status}): {exc.body}") from exc
            raise ArchiveUnavailable(f"InfluxDB write answered {exc.status}: {exc.reason}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ArchiveUnavailable(f"InfluxDB {self.url} unreachable: {exc}") from exc

    def close(self) -> None:
        self._write.close()
        self._client.close()


class InfluxQLReader:
    """History through InfluxQL ``/query`` (1.x; 2.x/3.x with a DBRP mapping and a token)."""

    def __init__(self, url: str, database: str, token: str | None = None, credentials: str | None = None,
                 timeout_s: float = 30.0):
        self.url = url.rstrip("/")
        self.database = database
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(total=timeout_s), retries=False)
        self._headers = {}
        if token:
            self._headers["Authorization"] = f"Token {token.strip()}"
        elif credentials:
            self._headers.update(urllib3.make_headers(basic_auth=credentials.strip()))

    def history(self, device: str, attribute: str, since_ns: int, until_ns: int, limit: int = 100_000) -> list[HistoryPoint]:
        if not (_NAME.match(device) and _NAME.match(attribute)):
            raise ValueError(f"not a device/attribute name: {device}/{attribute}")
        if until_ns <= since_ns:
            raise ValueError("the time range is empty: --until must be after --since")
        family = device.split("/")[1]
        query = (f"SELECT \"value\", \"text\", \"quality\" FROM \"{family}\" WHERE \"device\" = '{device}' "
                 f"AND \"attribute\" = '{attribute}' AND time >= {since_ns} AND time <= {until_ns} "
                 f"ORDER BY time LIMIT {int(limit)}")
        try:
            reply = self._http.request("GET", f"{self.url}/query", headers=self._headers,
                                       fields={"db": self.database, "q": query, "epoch": "ns"})
        except urllib3.exceptions.HTTPError as exc:
            raise ArchiveUnavailable(f"InfluxDB {self.url} unreachable: {exc}") from exc
        if reply.status != 200:
            raise ArchiveUnavailable(f"InfluxQL query answered {reply.status}: {reply.data[:300]!r}")
        body = json.loads(reply.data)
        points = []
        for result in body.get("results", []):
            if "error" in result:
                raise ArchiveUnavailable(f"InfluxQL error: {result['error']}")
            for series in result.get("series", []):
                columns = series["columns"]
                for row in series["values"]:
                    item = dict(zip(columns, row))
                    value = item.get("value") if item.get("value") is not None else item.get("text")
                    points.append(HistoryPoint(int(item["time"]), value, item.get("quality") or ""))
        return points

    def close(self) -> None:
        self._http.clear()
