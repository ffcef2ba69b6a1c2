#!/bin/sh
# First start of the stack's InfluxDB 2 (run once by the image's entrypoint, after setup):
# - the DBRP mapping, so that the archive (bucket dcs) is read and written with the v1 API as
#   database "dcs" (the bridge's /write, Grafana, `trackerdcs history`);
# - the scoped v1 credentials whose values the stack made (InfluxDB 2 makes its tokens' values
#   itself, so the stack's secrets cannot be tokens): "bridge" writes and reads the bucket,
#   "grafana" only reads it. Their passwords are read from the secret files here, never logged.
set -eu
bucket_id=$(influx bucket list --name "${DOCKER_INFLUXDB_INIT_BUCKET}" --hide-headers | cut -f1)
influx v1 dbrp create --bucket-id "${bucket_id}" --db dcs --rp autogen --default
bridge=$(cat /run/secrets/influx_bridge_auth)
influx v1 auth create --username "${bridge%%:*}" --password "${bridge#*:}" \
  --write-bucket "${bucket_id}" --read-bucket "${bucket_id}" --description "tracker-dcs bridge" >/dev/null
influx v1 auth create --username grafana --password "$(cat /run/secrets/influx_grafana_pw)" \
  --read-bucket "${bucket_id}" --description "Grafana (read only)" >/dev/null
