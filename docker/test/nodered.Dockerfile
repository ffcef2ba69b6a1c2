# Stack test stand-in: Debian's Node.js with the repo's locked node_modules (stands in for nodered/node-red).
# Built by tests/docker_stack.py from the repository root; docker/test/compose.test.yaml says why it exists.
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN echo 'APT::Install-Recommends "false";' > /etc/apt/apt.conf.d/90norecommends
RUN apt-get update -q && apt-get install -y -q nodejs wget && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 1000 --create-home --home-dir /data node-red
COPY docker/nodered/package.json docker/nodered/package-lock.json /usr/src/node-red/
COPY docker/nodered/node_modules/ /usr/src/node-red/node_modules/
USER node-red
WORKDIR /usr/src/node-red
ENTRYPOINT ["node", "node_modules/node-red/red.js", "--userDir", "/data"]
