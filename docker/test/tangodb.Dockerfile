# Stack test stand-in: MariaDB with the Tango schema of Debian's tango-db (stands in for ska-tango-images-tango-db).
# Built by tests/docker_stack.py from the repository root; docker/test/compose.test.yaml says why it exists.
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN echo 'APT::Install-Recommends "false";' > /etc/apt/apt.conf.d/90norecommends
RUN apt-get update -q \
 && echo "tango-db tango-db/dbconfig-install boolean false" | debconf-set-selections \
 && apt-get install -y -q mariadb-server dbconfig-no-thanks tango-db \
 && rm -rf /var/lib/apt/lists/* /var/lib/mysql/* \
 && mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
COPY docker/test/tangodb-entrypoint.sh /usr/local/bin/
EXPOSE 3306
ENTRYPOINT ["/usr/local/bin/tangodb-entrypoint.sh"]
