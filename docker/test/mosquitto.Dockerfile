# Stack test stand-in: Debian's mosquitto 2.0, uid 1883 like the image (stands in for eclipse-mosquitto).
# Built by tests/docker_stack.py from the repository root; docker/test/compose.test.yaml says why it exists.
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN echo 'APT::Install-Recommends "false";' > /etc/apt/apt.conf.d/90norecommends
RUN groupadd --gid 1883 mosquitto && useradd --uid 1883 --gid 1883 --no-create-home mosquitto \
 && apt-get update -q && apt-get install -y -q mosquitto netcat-openbsd && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /mosquitto/data && chown mosquitto:mosquitto /mosquitto/data
USER mosquitto
ENTRYPOINT ["mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]
