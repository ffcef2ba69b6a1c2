# Stack test stand-in: Debian's InfluxDB 1.6: InfluxQL reads and /write (stands in for influxdb:2.9).
# Built by tests/docker_stack.py from the repository root; docker/test/compose.test.yaml says why it exists.
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN echo 'APT::Install-Recommends "false";' > /etc/apt/apt.conf.d/90norecommends
RUN apt-get update -q && apt-get install -y -q influxdb influxdb-client && rm -rf /var/lib/apt/lists/*
ENV INFLUXDB_HTTP_BIND_ADDRESS=:8086 INFLUXDB_DATA_DIR=/var/lib/influxdb/data \
    INFLUXDB_DATA_WAL_DIR=/var/lib/influxdb/wal INFLUXDB_META_DIR=/var/lib/influxdb/meta \
    INFLUXDB_REPORTING_DISABLED=true
ENTRYPOINT ["influxd"]
