# Stack test stand-in: Debian's C++ DataBaseds and tango_admin (stands in for ska-tango-images-tango-databaseds).
# Built by tests/docker_stack.py from the repository root; docker/test/compose.test.yaml says why it exists.
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN echo 'APT::Install-Recommends "false";' > /etc/apt/apt.conf.d/90norecommends
RUN useradd --uid 1000 --create-home tango \
 && apt-get update -q \
 && echo "tango-db tango-db/dbconfig-install boolean false" | debconf-set-selections \
 && apt-get install -y -q dbconfig-no-thanks tango-db libtango-tools \
 && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/tango:$PATH
USER tango
ENTRYPOINT ["DataBaseds"]
CMD ["2", "-ORBendPoint", "giop:tcp::10000"]
