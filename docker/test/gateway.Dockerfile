# Stack test stand-in: Debian's Caddy 2.6 with the stack's own Caddyfile (stands in for caddy).
# Built by tests/docker_stack.py from the repository root; docker/test/compose.test.yaml says why it exists.
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN echo 'APT::Install-Recommends "false";' > /etc/apt/apt.conf.d/90norecommends
RUN apt-get update -q && apt-get install -y -q caddy netcat-openbsd && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
