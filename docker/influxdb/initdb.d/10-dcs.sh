#!/bin/sh
# First start of the stack's InfluxDB 2 (run once by the image's entrypoint, after setup):
# the DBRP mapping, so that the archive (bucket dcs) is read with InfluxQL as database "dcs"
# (Grafana, `trackerdcs history`), and the retention the lab keeps.
set -eu
bucket_id=$(influx bucket list --name "${DOCKER_INFLUXDB_INIT_BUCKET}" --hide-headers | cut -f1)
influx v1 dbrp create --bucket-id "${bucket_id}" --db dcs --rp autogen --default
